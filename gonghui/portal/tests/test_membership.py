"""Portal: request a transfer, follow its progress, leave, and the membership history."""

from __future__ import annotations

import pytest
from django.test import Client

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members import lifecycle, transfers
from gonghui.members.models import Member, MemberStatus, Transfer, TransferStatus


@pytest.fixture
def frank_client(frank: Member) -> Client:
    client = Client()
    assert frank.user is not None
    client.force_login(frank.user)
    return client


def test_member_requests_a_transfer_and_cancels_it(tree: Tree, frank: Member, frank_client: Client) -> None:
    search = frank_client.get("/me/transfer/targets/", {"q": "sznskj"})
    assert tree.nanshan_union.name in search.content.decode()
    assert tree.tianhe_union.name not in frank_client.get("/me/transfer/targets/", {"q": "软件园"}).content.decode()
    missing = frank_client.post("/me/transfer/", {"mode": "union"})
    assert missing.status_code == 400 and "请先搜索并选择接收工会" in missing.content.decode()
    frank_client.post("/me/transfer/", {"mode": "union", "to_org": tree.nanshan_union.pk, "reason": "换工作"})
    transfer = Transfer.objects.get(member=frank)
    assert transfer.status == TransferStatus.REQUESTED and transfer.initiated_by == "member"
    page = frank_client.get("/me/transfer/").content.decode()
    assert "转会进度" in page and tree.nanshan_union.name in page and "取消转会申请" in page
    frank_client.post(f"/me/transfer/{transfer.pk}/cancel/")
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.CANCELLED


def test_no_receiving_union_picks_the_residence_union(tree: Tree, frank: Member, frank_client: Client) -> None:
    options = frank_client.get("/me/transfer/targets/", {"district": "440305"}).content.decode()
    assert tree.nanshan_street.name in options
    frank_client.post("/me/transfer/", {"mode": "residence", "residence_org": tree.nanshan_street.pk})
    transfer = Transfer.objects.get(member=frank)
    assert transfer.to_residence and transfer.to_org == tree.nanshan_street


def test_decline_reason_is_shown_to_the_member(
    tree: Tree, frank: Member, frank_client: Client, dave: User, charlie: User
) -> None:
    assert frank.user is not None
    transfer = transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.nanshan_union)
    transfers.release(actor=dave, transfer=transfer)
    transfers.decline(actor=charlie, transfer=transfer, reason="该单位查无此人")
    page = frank_client.get("/me/transfer/").content.decode()
    assert "上次转会未被接收" in page and "该单位查无此人" in page


def test_someone_elses_transfer_cannot_be_cancelled(tree: Tree, frank: Member, charlie: User) -> None:
    other = User.objects.create_user("13900000055", password="x-correct-horse", name="别人")
    assert frank.user is not None
    transfer = transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.nanshan_union)
    client = Client()
    client.force_login(other)
    assert client.post(f"/me/transfer/{transfer.pk}/cancel/").status_code == 404
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.REQUESTED


def test_member_leaves_after_confirming(frank: Member, frank_client: Client) -> None:
    page = frank_client.get("/me/leave/").content.decode()
    assert "退会前请了解" in page and "重新申请入会" in page
    unconfirmed = frank_client.post("/me/leave/", {})
    assert unconfirmed.status_code == 400
    assert Member.objects.get(pk=frank.pk).status == MemberStatus.ACTIVE
    frank_client.post("/me/leave/", {"confirm": "yes", "note": "个人原因"})
    assert Member.objects.get(pk=frank.pk).status == MemberStatus.LEFT
    assert "已退会" in frank_client.get("/me/membership/").content.decode()


def test_history_shows_retained_status_with_reason_and_no_vote(frank: Member, frank_client: Client, dave: User) -> None:
    lifecycle.retain(actor=dave, member=frank, reason="retired")
    page = frank_client.get("/me/membership/").content.decode()
    assert "保留会籍" in page and "退休" in page and "无表决权" in page
    assert "保留会籍期间不能转会" in frank_client.get("/me/transfer/").content.decode()


def test_me_links_to_the_membership_pages(frank_client: Client) -> None:
    page = frank_client.get("/me/").content.decode()
    for url in ("/me/membership/", "/me/transfer/", "/me/leave/"):
        assert url in page


def test_pages_need_a_login() -> None:
    for url in ("/me/transfer/", "/me/leave/", "/me/membership/"):
        assert Client().get(url).status_code == 302
