"""Console: 转会办理 inbox/outbox, starting a transfer, and the membership steps on the record."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from gonghui.conftest import Tree, console_client, make_cadre, make_member
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members import lifecycle, transfers
from gonghui.members.models import Member, MemberStatus, Transfer, TransferStatus


@pytest.fixture
def nina(tree: Tree) -> User:
    return make_cadre("nina", "妮娜", tree.nanshan_union, RoleKind.CHAIR, "13800000011")


@pytest.fixture
def requested(tree: Tree, frank: Member) -> Transfer:
    assert frank.user is not None
    return transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.nanshan_union, reason="换工作")


def test_outbox_release_then_inbox_accept(
    requested: Transfer, bob_client: Client, nina: User, frank: Member, tree: Tree
) -> None:
    page = bob_client.get("/console/transfers/?box=out")
    assert page.status_code == 200
    assert "范克" in page.content.decode() and "同意转出" in page.content.decode()
    done = bob_client.post(f"/console/transfers/{requested.pk}/release/", follow=True)
    assert "等待转入工会接收" in done.content.decode()
    nina_client = console_client(nina)
    inbox = nina_client.get("/console/transfers/?box=in").content.decode()
    assert "范克" in inbox and "不予接收" in inbox
    nina_client.post(f"/console/transfers/{requested.pk}/accept/")
    assert Member.objects.get(pk=frank.pk).org_id == tree.nanshan_union.pk
    history = nina_client.get(f"/console/members/{frank.pk}/").content.decode()
    assert "会籍记录" in history and f"{tree.tianhe_union.name} → {tree.nanshan_union.name}" in history


def test_decline_needs_a_reason(requested: Transfer, bob_client: Client, nina: User) -> None:
    transfers.release(actor=User.objects.get(username="bob"), transfer=requested)
    client = console_client(nina)
    response = client.post(f"/console/transfers/{requested.pk}/decline/", {"reason": ""}, follow=True)
    assert "请填写不予接收的原因" in response.content.decode()
    client.post(f"/console/transfers/{requested.pk}/decline/", {"reason": "未入职"})
    requested.refresh_from_db()
    assert requested.status == TransferStatus.DECLINED and requested.decline_reason == "未入职"


def test_overdue_badge_in_the_outbox(requested: Transfer, bob_client: Client) -> None:
    Transfer.objects.filter(pk=requested.pk).update(release_due_at=timezone.now() - timedelta(days=1))
    page = bob_client.get("/console/transfers/?box=out").content.decode()
    assert "1 超期" in page


def test_another_districts_cadre_gets_404(tree: Tree, charlie_client: Client, frank: Member) -> None:
    assert frank.user is not None
    # Within Tianhe on both sides: Nanshan's admin is on neither.
    requested = transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.tianhe_street)
    for box in ("in", "out", "done"):
        assert "范克" not in charlie_client.get(f"/console/transfers/?box={box}").content.decode()
    for step in ("release", "accept", "cancel"):
        assert charlie_client.post(f"/console/transfers/{requested.pk}/{step}/").status_code == 404, step
    assert charlie_client.post(f"/console/transfers/{requested.pk}/decline/", {"reason": "x"}).status_code == 404
    for step in ("retain", "restore", "leave", "clear-inactive"):
        assert charlie_client.post(f"/console/members/{frank.pk}/{step}/").status_code == 404, step
    assert charlie_client.get(f"/console/members/{frank.pk}/erase/").status_code == 404
    assert charlie_client.get(f"/console/members/{frank.pk}/transfer/").status_code == 404
    assert Transfer.objects.get(pk=requested.pk).status == TransferStatus.REQUESTED


def test_start_a_transfer_from_the_member_page(tree: Tree, frank: Member, bob_client: Client) -> None:
    detail = bob_client.get(f"/console/members/{frank.pk}/").content.decode()
    assert "发起转会" in detail
    search = bob_client.get(f"/console/members/{frank.pk}/transfer/", {"q": "南山科技"}).content.decode()
    assert tree.nanshan_union.name in search
    bob_client.post(f"/console/members/{frank.pk}/transfer/", {"to_org": tree.nanshan_union.pk, "q": "南山科技"})
    transfer = Transfer.objects.get(member=frank)
    assert transfer.initiated_by == "cadre" and transfer.to_org == tree.nanshan_union
    missing = bob_client.post(f"/console/members/{frank.pk}/transfer/", {"to_org": ""})
    assert missing.status_code == 400


def test_retain_restore_and_leave_buttons(frank: Member, bob_client: Client) -> None:
    bob_client.post(f"/console/members/{frank.pk}/retain/", {"reason": "retired", "note": "退休"})
    assert Member.objects.get(pk=frank.pk).status == MemberStatus.RETAINED
    page = bob_client.get(f"/console/members/{frank.pk}/").content.decode()
    assert "无表决权" in page and "恢复正常会籍" in page
    bob_client.post(f"/console/members/{frank.pk}/restore/")
    assert Member.objects.get(pk=frank.pk).status == MemberStatus.ACTIVE
    bob_client.post(f"/console/members/{frank.pk}/leave/", {"reason": "voluntary"})
    assert Member.objects.get(pk=frank.pk).status == MemberStatus.LEFT


def test_erase_needs_chair_or_admin_and_a_typed_basis(tree: Tree, frank: Member, bob_client: Client) -> None:
    staff = console_client(make_cadre("sam", "萨姆", tree.tianhe, RoleKind.STAFF, "13800000007"))
    assert "删除个人信息" not in staff.get(f"/console/members/{frank.pk}/").content.decode()
    assert staff.get(f"/console/members/{frank.pk}/erase/").status_code == 404
    assert (
        staff.post(f"/console/members/{frank.pk}/erase/", {"legal_basis": "x", "confirm_name": "范克"}).status_code
        == 404
    )
    page = bob_client.get(f"/console/members/{frank.pk}/erase/")
    assert page.status_code == 200 and "法律依据" in page.content.decode()
    wrong = bob_client.post(f"/console/members/{frank.pk}/erase/", {"legal_basis": "本人申请", "confirm_name": "别人"})
    assert wrong.status_code == 400 and Member.objects.get(pk=frank.pk).erased_at is None
    bob_client.post(f"/console/members/{frank.pk}/erase/", {"legal_basis": "本人书面申请", "confirm_name": "范克"})
    shell = Member.objects.get(pk=frank.pk)
    assert shell.erased_at is not None and shell.name != "范克"


def test_inactive_review_list(tree: Tree, bob_client: Client, charlie_client: Client) -> None:
    old = make_member(tree.tianhe_union, "老张", join_date=date(2019, 1, 1))
    lifecycle.flag_inactive()
    page = bob_client.get("/console/members/inactive/").content.decode()
    assert "老张" in page and "核查完毕" in page
    assert "老张" not in charlie_client.get("/console/members/inactive/").content.decode()
    bob_client.post(f"/console/members/{old.pk}/clear-inactive/", {"next": "/console/members/inactive/"})
    assert Member.objects.get(pk=old.pk).inactive_flagged_at is None
    assert (
        f"/console/members/{old.pk}/clear-inactive/"
        not in bob_client.get("/console/members/inactive/").content.decode()
    )
