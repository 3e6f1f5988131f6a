"""实名核验 pages: batches with progress, the member page's buttons and history, tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import User
from gonghui.members import verification
from gonghui.members.models import JobStatus, Member, VerificationBatch


@pytest.fixture(autouse=True)
def _fast(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 10_000
    monkeypatch.setattr(verification, "sleep", lambda s: None)


def test_start_a_batch_and_see_its_progress(tree: Tree, bob: User, django_capture_on_commit_callbacks: Any) -> None:
    for i in range(3):
        make_member(tree.tianhe_union, f"员工{i}")
    client = console_client(bob)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("console:verification_start"), {"org": tree.tianhe.pk}, follow=True)
    body = response.content.decode()
    assert "已开始核验" in body
    batch = VerificationBatch.objects.get()
    assert batch.status == JobStatus.DONE and batch.done == 3
    page = client.get(reverse("console:verification")).content.decode()
    assert 'aria-valuenow="100"' in page and "3 / 3 人" in page


def test_member_page_verify_and_manual_review(tree: Tree, dave: User, frank: Member) -> None:
    client = console_client(dave)
    detail = reverse("console:member_detail", args=[frank.pk])
    body = client.get(detail).content.decode()
    assert 'id="verify-now"' in body and "未实名" in body
    Member.objects.filter(pk=frank.pk).update(name="范克测试不符")
    body = client.post(reverse("console:member_verify", args=[frank.pk]), follow=True).content.decode()
    assert "实名核验未通过" in body and "核验未通过" in body
    body = client.post(
        reverse("console:member_manual_review", args=[frank.pk]),
        {"decision": "approve", "note": "核对身份证原件"},
        follow=True,
    ).content.decode()
    assert "人工审核已记录" in body and "核对身份证原件" in body and "人工审核" in body
    frank.refresh_from_db()
    assert frank.verification_status == "verified"


def test_other_district_gets_404(
    tree: Tree, charlie: User, bob: User, frank: Member, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        batch = verification.start_batch(bob, tree.tianhe)
    client = console_client(charlie)
    assert client.post(reverse("console:member_verify", args=[frank.pk])).status_code == 404
    assert client.post(reverse("console:member_manual_review", args=[frank.pk]), {"note": "x"}).status_code == 404
    assert client.post(reverse("console:verification_start"), {"org": tree.tianhe.pk}).status_code == 404
    assert client.post(reverse("console:verification_resume", args=[batch.pk])).status_code == 404
    assert tree.tianhe.name not in client.get(reverse("console:verification")).content.decode().split("batch-list")[1]
    frank.refresh_from_db()
    assert frank.verification_status == "unverified"


def test_continue_is_offered_only_to_a_cadre_who_may_resume_the_batch(
    tree: Tree, bob: User, erin: User, frank: Member, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False):  # its worker never starts
        batch = verification.start_batch(bob, tree.tianhe)
    VerificationBatch.objects.filter(pk=batch.pk).update(
        created_at=timezone.now() - verification.stale_after() * 2, heartbeat_at=None
    )
    assert "继续核验" in console_client(bob).get(reverse("console:verification")).content.decode()

    # erin audits 广州市总工会: she sees Tianhe's batch but may not resume it.
    auditor = console_client(erin)
    listing = auditor.get(reverse("console:verification")).content.decode()
    assert f'data-batch="{batch.pk}"' in listing
    assert "继续核验" not in listing
    assert reverse("console:verification_resume", args=[batch.pk]) not in listing
    assert auditor.post(reverse("console:verification_resume", args=[batch.pk])).status_code == 404


def test_portal_card_shows_the_real_name_badge(tree: Tree, frank: Member, dave: User) -> None:
    from django.test import Client

    client = Client()
    client.force_login(frank.user)
    assert "未实名" in client.get(reverse("portal:card")).content.decode()
    verification.manual_review(dave, frank, True, "核对原件")
    assert "已实名" in client.get(reverse("portal:card")).content.decode()
