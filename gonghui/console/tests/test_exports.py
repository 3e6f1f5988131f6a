"""Member export: masked by default, text-formatted IDs, unmasked only with role + reason, expiry."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.members import exporting
from gonghui.members.models import ExportJob, JobStatus, Member

pytestmark = pytest.mark.django_db


def _download(client: Client, job: ExportJob) -> bytes:
    response = client.get(reverse("console:export_download", args=[job.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def _post(client: Client, org_id: int, **extra: object) -> object:
    data = {"org": str(org_id), "columns": ["name", "id_number", "mobile", "status"], "file_format": "xlsx", **extra}
    return client.post(reverse("console:export_new"), data)


def test_member_list_export_button_carries_filters(bob_client: Client, tree: Tree, tianhe_member: Member) -> None:
    response = bob_client.get(reverse("console:member_list"), {"q": "王", "status": "active"})
    assert f"{reverse('console:export_new')}?q=%E7%8E%8B&amp;status=active" in response.content.decode()
    form = bob_client.get(reverse("console:export_new"), {"q": "王", "status": "active"})
    assert form.status_code == 200
    assert 'value="王"' in form.content.decode()


def test_xlsx_export_is_masked_with_text_id_cells(bob_client: Client, bob: User, tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "王天河", mobile="13612345678")
    make_member(tree.nanshan_union, "李南山", mobile="13712345678")
    response = _post(bob_client, tree.tianhe.pk)
    job = ExportJob.objects.get()
    assert response.status_code == 302  # type: ignore[attr-defined]
    assert response["Location"] == reverse("console:export_detail", args=[job.pk])  # type: ignore[index]
    assert job.status == JobStatus.DONE and job.total_rows == 1 and not job.unmasked
    assert job.expires_at is not None and job.expires_at > timezone.now() + timedelta(hours=23)
    detail = bob_client.get(reverse("console:export_detail", args=[job.pk])).content.decode()
    assert reverse("console:export_download", args=[job.pk]) in detail

    sheet = load_workbook(io.BytesIO(_download(bob_client, job))).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("姓名", "身份证号", "手机号", "会籍状态")
    assert rows[1] == ("王天河", member.id_number_masked, "136****5678", "正常")
    assert "*" in rows[1][1]
    assert len(rows) == 2  # the Nanshan member is outside the chosen union
    assert sheet["B2"].number_format == "@" and sheet["C2"].number_format == "@"
    assert sheet["B2"].data_type == "s"
    actions = list(AuditEvent.objects.filter(object_type="members.exportjob").values_list("action", flat=True))
    assert sorted(actions) == ["member.export", "member.export_download"]


def test_csv_export_is_utf8_with_bom_and_filtered(bob_client: Client, bob: User, tree: Tree) -> None:
    make_member(tree.tianhe_union, "王天河")
    make_member(tree.tianhe_union, "赵天河")
    _post(bob_client, tree.tianhe.pk, file_format="csv", q="王")
    job = ExportJob.objects.get()
    data = _download(bob_client, job)
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == ["姓名", "身份证号", "手机号", "会籍状态"]
    assert [r[0] for r in rows[1:]] == ["王天河"]
    assert rows[1][1].startswith("\t") and "*" in rows[1][1]


def test_unmasked_needs_the_role(client: Client, tree: Tree, sam: User) -> None:
    """A 干事 may export but not unmasked: the action refuses, the form says why, nothing is written."""
    make_member(tree.tianhe_union, "王天河")
    with pytest.raises(DomainError) as caught:
        exporting.start_export(sam, tree.tianhe, {}, ["name", "id_number"], "xlsx", unmasked=True, reason="统计")
    assert caught.value.code == "EXPORT_UNMASKED_FORBIDDEN"
    assert not ExportJob.objects.exists()


def test_unmasked_needs_a_reason(bob_client: Client, tree: Tree) -> None:
    make_member(tree.tianhe_union, "王天河")
    response = _post(bob_client, tree.tianhe.pk, unmasked="on", reason="  ")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "导出事由" in response.content.decode()  # type: ignore[attr-defined]
    assert not ExportJob.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="member.export").exists()


def test_unmasked_export_with_role_and_reason_is_audited(bob_client: Client, bob: User, tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "王天河", mobile="13612345678")
    _post(bob_client, tree.tianhe.pk, unmasked="on", reason="报送市总工会年度统计")
    job = ExportJob.objects.get()
    assert job.unmasked and job.reason == "报送市总工会年度统计"
    event = AuditEvent.objects.get(action="member.export_unmasked")
    assert event.actor == bob and event.details["reason"] == "报送市总工会年度统计"
    assert event.org_path == tree.tianhe.path
    sheet = load_workbook(io.BytesIO(_download(bob_client, job))).active
    assert sheet is not None
    assert sheet["B2"].value == member.reveal_id_number() and sheet["C2"].value == "13612345678"
    assert sheet["B2"].number_format == "@"


def test_expired_link_is_refused(bob_client: Client, tree: Tree) -> None:
    make_member(tree.tianhe_union, "王天河")
    _post(bob_client, tree.tianhe.pk)
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    response = bob_client.get(reverse("console:export_download", args=[job.pk]))
    assert response.status_code == 410
    assert "下载链接已失效" in response.content.decode()
    assert not AuditEvent.objects.filter(action="member.export_download").exists()


def test_large_export_runs_in_background(
    bob: User, tree: Tree, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    """Above the inline limit the task writes the file (immediate backend in tests)."""
    monkeypatch.setattr(exporting, "INLINE_LIMIT", 1)
    for name in ("甲", "乙", "丙"):
        make_member(tree.tianhe_union, f"王{name}")
    calls: list[int] = []
    real = exporting.run_export
    monkeypatch.setattr(exporting, "run_export", lambda job_id: (calls.append(job_id), real(job_id))[-1])
    with django_capture_on_commit_callbacks(execute=True):
        job = exporting.start_export(bob, tree.tianhe, {}, ["name"], "csv")
        assert calls == []  # not inline: queued after commit
    job.refresh_from_db()
    assert calls == [job.pk]
    assert job.status == JobStatus.DONE and job.written_rows == 3


def test_other_district_gets_404(charlie_client: Client, bob_client: Client, tree: Tree) -> None:
    make_member(tree.tianhe_union, "王天河")
    _post(bob_client, tree.tianhe.pk)
    job = ExportJob.objects.get()
    for name in ("console:export_detail", "console:export_progress", "console:export_download"):
        assert charlie_client.get(reverse(name, args=[job.pk])).status_code == 404, name
    assert charlie_client.get(reverse("console:export_new"), {"org": tree.tianhe.pk}).status_code == 404
    assert _post(charlie_client, tree.tianhe.pk).status_code == 404  # type: ignore[attr-defined]


def test_staff_form_refuses_unmasked(tree: Tree, sam: User) -> None:
    from gonghui.conftest import console_client

    make_member(tree.tianhe_union, "王天河")
    client = console_client(sam)
    form = client.get(reverse("console:export_new")).content.decode()
    assert 'name="unmasked"' not in form  # the choice is not even offered
    response = _post(client, tree.tianhe.pk, unmasked="on", reason="统计")
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert "没有导出明文" in response.content.decode()  # type: ignore[attr-defined]
    assert not ExportJob.objects.exists()
