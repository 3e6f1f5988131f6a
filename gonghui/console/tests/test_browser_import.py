"""Importing a messy member sheet and exporting the list, in a real browser at desktop width.

Bob uploads a csv with the usual problems and sixty clean rows, reads the preview counts,
confirms, watches the progress bar move (the commit runs in a worker thread in small,
slowed-down chunks while the page polls) up to 100 %, downloads the error report (the
rejected rows with an added 错误原因 column), then exports his members from the member list.
"""

from __future__ import annotations

import csv
import io
import re
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connections
from openpyxl import load_workbook
from playwright.sync_api import Browser, expect

from gonghui.conftest import Tree
from gonghui.console.tests.test_imports import messy_csv
from gonghui.core import idnumbers
from gonghui.core.models import User
from gonghui.members import importing
from gonghui.members.models import ImportJob, JobStatus, Member
from gonghui.testing.browser import DESKTOP, console_login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLEAN_ROWS = 60
CHUNK = 6  # rows per committed chunk: about a dozen chunks
CHUNK_PAUSE = 0.3  # seconds after each chunk: the commit lasts several polls (every 1 s)
BAD_ROWS = {"错号码": "MOBILE_INVALID", "错校验": "ID_BAD_CHECK_CHAR"}


def big_messy_csv(tree: Tree) -> bytes:
    """The messy sheet (2 new, 1 update, 1 transfer, 2 bad) plus 60 clean new people and 2 more bad rows."""
    rows = list(csv.reader(io.StringIO(messy_csv(tree).decode("utf-8-sig"))))
    for i in range(CLEAN_ROWS):
        number = idnumbers.make("440106", date(1980, 1, 1) + timedelta(days=37 * i), 200 + i)
        rows.append([f"批量{i:02d}", number, f"139{i:08d}", "2022-06-01"])
    valid = idnumbers.make("440106", date(1979, 9, 9), 321)
    wrong_check = valid[:-1] + ("0" if valid[-1] != "0" else "1")
    rows.append(["错号码", idnumbers.make("440106", date(1979, 8, 8), 322), "12345", "2022-06-01"])
    rows.append(["错校验", wrong_check, "13911112222", "2022-06-01"])
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


@pytest.fixture
def slow_commit(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The confirmed commit runs in a thread, chunk by chunk with a pause, not inside the request.

    The dry run still runs at once (the immediate task backend). Yields the list of errors
    the worker thread raised (to be empty) after the thread finished.
    """
    threads: list[threading.Thread] = []
    errors: list[BaseException] = []
    original = importing._enqueue

    def work(job_id: int) -> None:
        try:
            importing.commit(ImportJob.objects.get(pk=job_id), chunk_size=CHUNK)
        except BaseException as exc:  # reported to the test by the fixture
            errors.append(exc)
        finally:
            connections.close_all()

    def enqueue(kind: str, job_id: int) -> None:
        if kind != "commit":
            original(kind, job_id)
            return
        thread = threading.Thread(target=work, args=(job_id,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(importing, "_enqueue", enqueue)
    monkeypatch.setattr(importing, "_chunk_committed", lambda job, chunk: time.sleep(CHUNK_PAUSE))
    yield errors
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)


def test_import_preview_commit_report_and_export(
    live_server: Any, browser: Browser, tree: Tree, bob: User, tmp_path: Path, slow_commit: list[BaseException]
) -> None:
    sheet = tmp_path / "天河软件园会员名单.csv"
    sheet.write_bytes(big_messy_csv(tree))
    page = browser.new_context(locale="zh-CN", accept_downloads=True, **DESKTOP).new_page()
    console_login(page, live_server.url, bob.username, "correct-horse-battery", bob)

    page.get_by_role("navigation", name="管理导航").get_by_role("link", name="会员导入导出").click()
    page.get_by_role("link", name="导入会员").click()
    page.get_by_label("导入到工会").select_option(str(tree.tianhe_union.pk))
    page.get_by_label("会员名单文件").set_input_files(str(sheet))
    page.get_by_role("button", name="上传并预检").click()

    expect(page.get_by_role("heading", name="预检结果")).to_be_visible()
    expect(page.locator('[data-outcome="created"]')).to_have_text(str(2 + CLEAN_ROWS))
    expect(page.locator('[data-outcome="updated"]')).to_have_text("1")
    expect(page.locator('[data-outcome="transfers"]')).to_have_text("1")
    expect(page.get_by_role("heading", name="拒绝原因")).to_be_visible()
    shot(page, "console-import-preview")

    page.get_by_role("button", name="确认导入").click()
    bar = page.get_by_role("progressbar", name="导入进度")
    expect(bar).to_be_visible()
    # Sample the bar while htmx swaps it every second: it must show a value strictly
    # between 0 and 100 (the commit is under way) before it reaches 100.
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        value = bar.get_attribute("aria-valuenow", timeout=5000)
        if value is not None and (not seen or seen[-1] != int(value)):
            seen.append(int(value))
            if 0 < seen[-1] < 100 and len([v for v in seen if 0 < v < 100]) == 1:
                expect(page.get_by_role("heading", name="正在导入")).to_be_visible()
                shot(page, "console-import-progress")
        if seen and seen[-1] == 100:
            break
        page.wait_for_timeout(100)
    assert seen and seen[-1] == 100, seen
    assert any(0 < v < 100 for v in seen), f"the bar jumped straight to 100 %: {seen}"
    assert seen == sorted(seen), f"the bar went backwards: {seen}"
    expect(page.get_by_role("heading", name="导入完成")).to_be_visible()
    expect(page.locator('[data-outcome="created"]')).to_have_text(str(2 + CLEAN_ROWS))
    shot(page, "console-import-done")
    assert slow_commit == []
    job = ImportJob.objects.get()
    assert job.status == JobStatus.DONE and job.created == 2 + CLEAN_ROWS
    assert job.rejected == 2 + len(BAD_ROWS)
    assert Member.objects.filter(org=tree.tianhe_union, name__startswith="批量").count() == CLEAN_ROWS
    assert Member.objects.filter(org=tree.tianhe_union, name__in=["陈新一", "林新二"]).count() == 2

    with page.expect_download() as info:
        page.get_by_role("link", name="下载错误报告").click()
    download = info.value
    assert download.suggested_filename.endswith("错误报告.csv")
    text = Path(download.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][-1] == "错误原因"
    assert {"坏数据", "无证号", *BAD_ROWS} == {row[0] for row in rows[1:]}
    reasons = {row[0]: row[-1] for row in rows[1:]}
    assert all(code in reasons[name] for name, code in BAD_ROWS.items()), reasons

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
