"""Console import pages: upload → preview → commit → error report; scoped to the cadre's subtree."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core.models import AuditEvent
from gonghui.members.models import ImportJob, JobStatus, Member

pytestmark = pytest.mark.django_db

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def messy_csv(tree: Tree) -> bytes:
    """Two new people (one typed with full-width digits), one update, one transfer, two bad rows."""
    existing = make_member(tree.tianhe_union, "王天河", mobile="13612345678")
    elsewhere = make_member(tree.nanshan_union, "李南山", mobile="13712345678")
    rows = [
        ["姓名", "公民身份号码", "手机号", "入会日期"],
        ["陈新一", new_id_number("440106", date(1991, 3, 4)), "13800001111", "2021-03-01"],
        ["林新二", new_id_number("440106", date(1992, 5, 6)).translate(FULLWIDTH), "13800002222", "2021/3/1"],
        ["王天河", existing.reveal_id_number(), "13699998888", "2020-05-01"],
        ["李南山", elsewhere.reveal_id_number(), "13712345678", "2020-05-01"],
        ["坏数据", "4.40106E+17", "13800003333", "2021-03-01"],
        ["", "", "", ""],
        ["无证号", "", "13800004444", "2021-03-01"],
    ]
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def upload(client: Client, org_id: int, content: bytes, capture: Any, name: str = "会员名单.csv") -> Any:
    with capture(execute=True):
        return client.post(
            reverse("console:import_new"),
            {"org": str(org_id), "file": SimpleUploadedFile(name, content, content_type="text/csv")},
        )


def figure(html: str, key: str) -> str:
    marker = f'data-outcome="{key}">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("<", start)]


def test_upload_preview_commit_and_report(
    bob_client: Client, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    form = bob_client.get(reverse("console:import_new"))
    assert form.status_code == 200
    page = form.content.decode()
    assert reverse("console:import_template") in page
    assert tree.tianhe_union.name in page and tree.nanshan_union.name not in page

    response = upload(bob_client, tree.tianhe_union.pk, messy_csv(tree), django_capture_on_commit_callbacks)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("console:import_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == JobStatus.READY, job.error

    preview = bob_client.get(reverse("console:import_detail", args=[job.pk])).content.decode()
    assert "预检结果" in preview and "确认导入" in preview
    assert figure(preview, "created") == "2"
    assert figure(preview, "updated") == "1"
    assert figure(preview, "transfers") == "1"
    assert int(figure(preview, "rejected")) >= 2
    assert "拒绝原因" in preview and "被拒绝的行" in preview
    assert "手机号" in preview  # the update's changed field is listed
    assert Member.objects.filter(name="陈新一").count() == 0  # the dry run writes nothing

    with django_capture_on_commit_callbacks(execute=True):
        committed = bob_client.post(reverse("console:import_commit", args=[job.pk]))
    assert committed.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.committing
    assert (job.created, job.updated, job.transfers) == (2, 1, 1)
    assert Member.objects.filter(name__in=["陈新一", "林新二"], org=tree.tianhe_union).count() == 2

    done = bob_client.get(reverse("console:import_progress", args=[job.pk])).content.decode()
    assert 'role="progressbar"' in done and 'aria-valuenow="100"' in done
    assert "hx-trigger" not in done  # finished: no more polling
    assert reverse("console:import_report", args=[job.pk]) in done

    report = bob_client.get(reverse("console:import_report", args=[job.pk]))
    assert report.status_code == 200
    text = b"".join(report.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][-1] == "错误原因"
    assert {line[0] for line in lines[1:]} >= {"坏数据", "无证号"}
    assert AuditEvent.objects.filter(action="import.report_download", object_id=str(job.pk)).exists()

    listing = bob_client.get(reverse("console:imports")).content.decode()
    assert "会员名单.csv" in listing and "会员导入导出" in listing


def test_commit_again_is_refused(bob_client: Client, tree: Tree, django_capture_on_commit_callbacks: Any) -> None:
    upload(bob_client, tree.tianhe_union.pk, messy_csv(tree), django_capture_on_commit_callbacks)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(reverse("console:import_commit", args=[job.pk]))
    again = bob_client.post(reverse("console:import_commit", args=[job.pk]), follow=True)
    assert "不能再次提交" in again.content.decode()
    assert Member.objects.filter(name="陈新一").count() == 1


def test_unreadable_file_shows_a_form_error(
    bob_client: Client, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    response = upload(bob_client, tree.tianhe_union.pk, b"\x00\x01", django_capture_on_commit_callbacks, "a.pdf")
    assert response.status_code == 400
    assert not ImportJob.objects.exists()


def test_template_download(bob_client: Client) -> None:
    response = bob_client.get(reverse("console:import_template"))
    assert response.status_code == 200
    assert response.content[:2] == b"PK"


def test_other_district_gets_404_on_every_page(
    bob_client: Client, charlie_client: Client, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    upload(bob_client, tree.tianhe_union.pk, messy_csv(tree), django_capture_on_commit_callbacks)
    job = ImportJob.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(reverse("console:import_commit", args=[job.pk]))
    for name in ("console:import_detail", "console:import_progress", "console:import_report"):
        assert charlie_client.get(reverse(name, args=[job.pk])).status_code == 404, name
    assert charlie_client.post(reverse("console:import_commit", args=[job.pk])).status_code == 404
    assert job.original_name not in charlie_client.get(reverse("console:imports")).content.decode()
    # Uploading into another district's union is a 404 too, and stores nothing.
    response = upload(charlie_client, tree.tianhe_union.pk, b"a,b\n", django_capture_on_commit_callbacks)
    assert response.status_code in (400, 404)
    assert ImportJob.objects.count() == 1


def test_commit_in_progress_polls_with_a_moving_bar(
    bob_client: Client, tree: Tree, django_capture_on_commit_callbacks: Any
) -> None:
    upload(bob_client, tree.tianhe_union.pk, messy_csv(tree), django_capture_on_commit_callbacks)
    job = ImportJob.objects.get()
    # A worker half-way through the commit: 3 of 6 rows committed.
    ImportJob.objects.filter(pk=job.pk).update(committing=True, status=JobStatus.RUNNING, cursor=2)
    partial = bob_client.get(reverse("console:import_progress", args=[job.pk])).content.decode()
    assert 'aria-valuenow="50"' in partial and "width: 50%" in partial
    assert f'hx-get="{reverse("console:import_progress", args=[job.pk])}"' in partial
    assert 'hx-trigger="every 1s"' in partial
    assert "确认导入" not in partial
