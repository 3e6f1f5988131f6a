"""Importing a messy member sheet and exporting the list, in a real browser at desktop width.

Bob uploads a small csv with the usual problems, reads the preview counts, confirms,
watches the progress bar reach 100 %, downloads the error report (the rejected rows with
an added 错误原因 column), then exports his members from the member list.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree
from gonghui.console.tests.test_imports import messy_csv
from gonghui.core.models import User
from gonghui.members.models import ImportJob, JobStatus, Member
from gonghui.testing.browser import DESKTOP, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_import_preview_commit_report_and_export(
    live_server: Any, browser: Browser, tree: Tree, bob: User, tmp_path: Path
) -> None:
    sheet = tmp_path / "天河软件园会员名单.csv"
    sheet.write_bytes(messy_csv(tree))
    page = browser.new_context(locale="zh-CN", accept_downloads=True, **DESKTOP).new_page()
    console_login(page, live_server.url, bob.username, "correct-horse-battery", bob)

    page.get_by_role("navigation", name="管理导航").get_by_role("link", name="会员导入导出").click()
    page.get_by_role("link", name="导入会员").click()
    page.get_by_label("导入到工会").select_option(str(tree.tianhe_union.pk))
    page.get_by_label("会员名单文件").set_input_files(str(sheet))
    page.get_by_role("button", name="上传并预检").click()

    expect(page.get_by_role("heading", name="预检结果")).to_be_visible()
    expect(page.locator('[data-outcome="created"]')).to_have_text("2")
    expect(page.locator('[data-outcome="updated"]')).to_have_text("1")
    expect(page.locator('[data-outcome="transfers"]')).to_have_text("1")
    expect(page.get_by_role("heading", name="拒绝原因")).to_be_visible()
    shot(page, "console-import-preview")

    page.get_by_role("button", name="确认导入").click()
    bar = page.get_by_role("progressbar", name="导入进度")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_role("heading", name="导入完成")).to_be_visible()
    expect(page.locator('[data-outcome="created"]')).to_have_text("2")
    shot(page, "console-import-done")
    job = ImportJob.objects.get()
    assert job.status == JobStatus.DONE and job.created == 2
    assert Member.objects.filter(org=tree.tianhe_union, name__in=["陈新一", "林新二"]).count() == 2

    with page.expect_download() as info:
        page.get_by_role("link", name="下载错误报告").click()
    download = info.value
    assert download.suggested_filename.endswith("错误报告.csv")
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][-1] == "错误原因"
    assert "坏数据" in {row[0] for row in rows[1:]}

    # --- export the union's members from the member list ---------------------------
    page.goto(f"{live_server.url}/console/members/?org={tree.tianhe_union.pk}")
    page.get_by_role("link", name="导出", exact=True).click()
    expect(page.get_by_role("heading", name="导出会员名单")).to_be_visible()
    expect(page.get_by_label("导出范围（工会及其下级）")).to_have_value(str(tree.tianhe_union.pk))
    shot(page, "console-export")
    page.get_by_role("button", name="开始导出").click()
    expect(page.get_by_role("progressbar", name="导出进度")).to_have_attribute("aria-valuenow", "100")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("下载 XLSX 文件")).click()
    workbook = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes()))
    ws = workbook.active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    assert values[0][:2] == ("姓名", "身份证号")
    assert len(values) == 1 + Member.objects.filter(org=tree.tianhe_union).count()
    assert all("*" in str(row[1]) for row in values[1:])
