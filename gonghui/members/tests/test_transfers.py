"""转会: request, release, accept / decline, cancel, escalation to the common parent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gonghui.conftest import Tree, make_cadre, make_member
from gonghui.core.access import RoleKind
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.inbox.models import Message
from gonghui.members import lifecycle, transfers
from gonghui.members.history import history, unions_belonged_to
from gonghui.members.models import EventKind, Member, MemberStatus, Transfer, TransferInitiator, TransferStatus
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Org
from gonghui.testing.concurrency import on_postgres_only, race


@pytest.fixture
def nina(tree: Tree) -> User:
    """Chair of the receiving grassroots union in Nanshan."""
    return make_cadre("nina", "妮娜", tree.nanshan_union, RoleKind.CHAIR, "13800000011")


def request(frank: Member, tree: Tree, **kwargs: Any) -> Transfer:
    assert frank.user is not None
    return transfers.request_transfer(
        actor=frank.user,
        member=frank,
        to_org=tree.nanshan_union,
        reason="换工作",
        new_workplace="深圳南山科技有限公司",
        **kwargs,
    )


def test_member_transfers_between_districts_keeping_one_membership(
    tree: Tree, frank: Member, dave: User, nina: User, django_capture_on_commit_callbacks: Any
) -> None:
    transfer = request(frank, tree)
    assert transfer.status == TransferStatus.REQUESTED
    assert transfer.from_path == tree.tianhe_union.path and transfer.to_path == tree.nanshan_union.path
    with django_capture_on_commit_callbacks(execute=True):
        transfers.release(actor=dave, transfer=transfer)
        transfers.accept(actor=nina, transfer=transfer)

    frank.refresh_from_db()
    assert frank.org == tree.nanshan_union and frank.org_path == tree.nanshan_union.path
    assert frank.join_date.isoformat() == "2020-05-01"  # one continuous membership
    assert frank.workplace == "深圳南山科技有限公司"
    assert Member.objects.count() == 1
    assert [o.pk for o in unions_belonged_to(frank)] == [tree.tianhe_union.pk, tree.nanshan_union.pk]
    moved = history(frank).get(kind=EventKind.TRANSFERRED)
    assert moved.from_org == tree.tianhe_union and moved.org == tree.nanshan_union
    actions = set(AuditEvent.objects.filter(object_type="members.transfer").values_list("action", flat=True))
    assert actions == {"transfer.request", "transfer.release", "transfer.accept"}
    # Release and accept are texted; the request is not.
    texts = list(SmsMessage.objects.filter(mobile="13900000006").values_list("text", flat=True))
    assert any("同意转出" in t for t in texts) and any("转会已完成" in t for t in texts)


def test_one_open_transfer_per_member(tree: Tree, frank: Member) -> None:
    request(frank, tree)
    with pytest.raises(DomainError) as caught:
        assert frank.user is not None
        transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.nanshan_street)
    assert caught.value.code == "TRANSFER_ALREADY_OPEN"


def test_retained_and_left_members_cannot_transfer(tree: Tree, frank: Member, dave: User) -> None:
    lifecycle.retain(actor=dave, member=frank, reason="retired")
    with pytest.raises(DomainError) as caught:
        request(frank, tree)
    assert caught.value.code == "TRANSFER_MEMBER_RETAINED"
    lifecycle.leave(actor=dave, member=frank, reason="voluntary")
    with pytest.raises(DomainError) as caught:
        request(frank, tree)
    assert caught.value.code == "TRANSFER_MEMBER_LEFT"


def test_target_must_be_an_active_other_union(tree: Tree, frank: Member) -> None:
    assert frank.user is not None
    with pytest.raises(DomainError) as caught:
        transfers.request_transfer(actor=frank.user, member=frank, to_org=tree.tianhe_union)
    assert caught.value.code == "TRANSFER_SAME_UNION"
    org_actions.close_org(actor=None, org=tree.nanshan_union, reason="注销")
    with pytest.raises(DomainError) as caught:
        transfers.request_transfer(actor=frank.user, member=frank, to_org=Org.objects.get(pk=tree.nanshan_union.pk))
    assert caught.value.code == "TRANSFER_TARGET_CLOSED"


def test_only_the_member_or_a_cadre_of_either_side_may_request(tree: Tree, frank: Member, charlie: User) -> None:
    stranger = User.objects.create_user("13900000099", password="x-correct-horse", name="路人")
    with pytest.raises(DomainError) as caught:
        transfers.request_transfer(actor=stranger, member=frank, to_org=tree.nanshan_union)
    assert caught.value.code == "TRANSFER_NOT_YOURS"
    # Charlie (Nanshan, the receiving side) may start it on the member's behalf.
    transfer = transfers.request_transfer(
        actor=charlie, member=frank, to_org=tree.nanshan_union, initiated_by=TransferInitiator.CADRE
    )
    assert transfer.initiated_by == TransferInitiator.CADRE


def test_each_side_acts_only_on_its_own_step(tree: Tree, frank: Member, dave: User, nina: User) -> None:
    transfer = request(frank, tree)
    with pytest.raises(DomainError) as caught:
        transfers.release(actor=nina, transfer=transfer)  # the receiving side cannot release
    assert caught.value.code == "TRANSFER_NOT_ALLOWED"
    with pytest.raises(DomainError) as caught:
        transfers.accept(actor=nina, transfer=transfer)  # not released yet
    assert caught.value.code == "TRANSFER_WRONG_STATUS"
    transfers.release(actor=dave, transfer=transfer)
    with pytest.raises(DomainError) as caught:
        transfers.accept(actor=dave, transfer=transfer)  # the outgoing side cannot accept
    assert caught.value.code == "TRANSFER_NOT_ALLOWED"
    with pytest.raises(DomainError) as caught:
        transfers.release(actor=dave, transfer=transfer)  # twice
    assert caught.value.code == "TRANSFER_WRONG_STATUS"


def test_decline_needs_a_reason_the_member_sees(
    tree: Tree, frank: Member, dave: User, nina: User, django_capture_on_commit_callbacks: Any
) -> None:
    transfer = request(frank, tree)
    transfers.release(actor=dave, transfer=transfer)
    with pytest.raises(DomainError) as caught:
        transfers.decline(actor=nina, transfer=transfer, reason="  ")
    assert caught.value.code == "TRANSFER_DECLINE_REASON_REQUIRED"
    with django_capture_on_commit_callbacks(execute=True):
        transfers.decline(actor=nina, transfer=transfer, reason="未在本单位入职")
    frank.refresh_from_db()
    assert frank.org == tree.tianhe_union
    message = Message.objects.filter(member=frank, title="转入工会不予接收").get()
    assert "未在本单位入职" in message.body
    assert SmsMessage.objects.filter(mobile="13900000006", text__contains="不予接收").exists()
    # Declined: a new request is possible.
    request(frank, tree)


def test_member_cancels_own_transfer(tree: Tree, frank: Member) -> None:
    transfer = request(frank, tree)
    assert frank.user is not None
    transfers.cancel(actor=frank.user, transfer=transfer)
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.CANCELLED
    assert transfers.open_transfer(frank) is None


def test_overdue_request_escalates_to_the_common_parent_who_may_release(
    tree: Tree, frank: Member, alice: User, bob: User, nina: User, settings: Any
) -> None:
    settings.TRANSFER_RELEASE_DAYS = 15
    transfer = request(frank, tree)
    assert transfers.escalate_overdue(timezone.now() + timedelta(days=14)) == 0
    later = timezone.now() + timedelta(days=16)
    assert transfers.escalate_overdue(later) == 1
    assert transfers.escalate_overdue(later) == 0  # idempotent
    transfer.refresh_from_db()
    assert transfer.escalated_to == tree.province  # Tianhe (Guangzhou) and Nanshan (Shenzhen) meet at the province
    assert Message.objects.filter(user=alice, title="转会超时待督办").count() == 1
    assert not Message.objects.filter(user=bob, title="转会超时待督办").exists()
    assert AuditEvent.objects.filter(action="transfer.escalate").count() == 1
    transfers.release(actor=alice, transfer=transfer)
    transfers.accept(actor=nina, transfer=transfer)
    assert Member.objects.get(pk=frank.pk).org == tree.nanshan_union


def test_common_parent_within_one_city(tree: Tree) -> None:
    other = org_actions.create_org(
        actor=None, parent=tree.tianhe_street, level="grassroots", values={"name": "石牌另一家公司工会"}
    )
    assert transfers.common_parent(tree.tianhe_union, other) == tree.tianhe_street
    assert transfers.common_parent(tree.tianhe_union, tree.tianhe_street) == tree.tianhe
    assert transfers.common_parent(tree.tianhe_union, tree.nanshan_union) == tree.province


def test_no_receiving_union_waits_at_the_residence_union(tree: Tree, frank: Member, dave: User, charlie: User) -> None:
    assert frank.user is not None
    with pytest.raises(DomainError) as caught:
        transfers.request_to_residence(actor=frank.user, member=frank, residence_org=tree.nanshan_union)
    assert caught.value.code == "TRANSFER_RESIDENCE_LEVEL"
    transfer = transfers.request_to_residence(actor=frank.user, member=frank, residence_org=tree.nanshan_street)
    assert transfer.to_residence
    transfers.release(actor=dave, transfer=transfer)
    transfers.accept(actor=charlie, transfer=transfer)
    frank.refresh_from_db()
    assert frank.org == tree.nanshan_street and frank.status == MemberStatus.ACTIVE
    assert history(frank).get(kind=EventKind.TRANSFERRED).note == "转入居住地工会暂存"


def test_closing_a_union_retains_its_members_with_history(tree: Tree, frank: Member) -> None:
    other = make_member(tree.tianhe_union, "李四")
    transfer = request(frank, tree)
    org_actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    for member in (frank, other):
        member.refresh_from_db()
        assert member.status == MemberStatus.RETAINED
        event = history(member).last()
        assert event is not None and event.kind == EventKind.RETAINED
        assert event.from_org == tree.tianhe_union and event.org == tree.tianhe_street
        assert "单位工会撤销" in event.note
    assert Transfer.objects.get(pk=transfer.pk).status == TransferStatus.CANCELLED


# --- concurrency (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_two_cadres_accepting_at_once_move_the_member_once(
    transactional_db: Any, tree: Tree, frank: Member, dave: User, nina: User, charlie: User
) -> None:
    transfer = request(frank, tree)
    transfers.release(actor=dave, transfer=transfer)
    results = race(
        lambda: transfers.accept(actor=nina, transfer=transfer),
        lambda: transfers.accept(actor=charlie, transfer=transfer),
    )
    wins = [r for r in results if isinstance(r, Transfer)]
    losses = [r for r in results if isinstance(r, DomainError)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert losses[0].code == "TRANSFER_WRONG_STATUS"
    assert Member.objects.get(pk=frank.pk).org_id == tree.nanshan_union.pk
    assert history(frank).filter(kind=EventKind.TRANSFERRED).count() == 1


@pytest.mark.postgres_only
@on_postgres_only
def test_accept_racing_a_cancel_leaves_one_consistent_outcome(
    transactional_db: Any, tree: Tree, frank: Member, dave: User, nina: User
) -> None:
    transfer = request(frank, tree)
    transfers.release(actor=dave, transfer=transfer)
    assert frank.user is not None
    user = frank.user
    results = race(
        lambda: transfers.accept(actor=nina, transfer=transfer),
        lambda: transfers.cancel(actor=user, transfer=transfer),
    )
    assert sum(isinstance(r, Transfer) for r in results) == 1, results
    final = Transfer.objects.get(pk=transfer.pk)
    moved = Member.objects.get(pk=frank.pk).org_id == tree.nanshan_union.pk
    assert (final.status == TransferStatus.ACCEPTED) == moved
    assert history(frank).filter(kind=EventKind.TRANSFERRED).count() == (1 if moved else 0)


@pytest.mark.postgres_only
@on_postgres_only
def test_two_requests_at_once_open_one_transfer(transactional_db: Any, tree: Tree, frank: Member) -> None:
    assert frank.user is not None
    user = frank.user
    results = race(
        lambda: transfers.request_transfer(actor=user, member=frank, to_org=tree.nanshan_union),
        lambda: transfers.request_transfer(actor=user, member=frank, to_org=tree.nanshan_street),
    )
    assert sum(isinstance(r, Transfer) for r in results) == 1, results
    assert Transfer.objects.filter(member=frank, status=TransferStatus.REQUESTED).count() == 1
