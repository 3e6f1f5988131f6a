from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.points.checks import check_points
from gonghui.points.models import Account, Entry, EntryKind, Lot, LotUse
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(tree: Tree) -> Member:
    return make_member(tree.tianhe_union, "李四")


def test_earn_spend_refund_keep_balance_lots_and_entries_in_step(member: Member) -> None:
    ledger.earn(member=member, amount=100, key="k1")
    ledger.earn(member=member, amount=50, key="k2")
    spent = ledger.spend(member=member, amount=120, key="k3", source_id="order-1").entry
    assert ledger.balance_of(member) == 30
    # FIFO: the first lot (100) is used up, 20 from the second.
    lots = list(Lot.objects.filter(account__member=member).order_by("id").values_list("remaining", flat=True))
    assert lots == [0, 30]
    ledger.refund(spend_entry=spent, amount=20, key="k4")
    assert ledger.balance_of(member) == 50
    # The refund goes back to the lot used last (the second one).
    lots = list(Lot.objects.filter(account__member=member).order_by("id").values_list("remaining", flat=True))
    assert lots == [0, 50]
    ledger.refund(spend_entry=spent, key="k5")  # the rest: 100
    assert ledger.balance_of(member) == 150
    with pytest.raises(Conflict) as exc:
        ledger.refund(spend_entry=spent, amount=1, key="k6")
    assert exc.value.code == "POINTS_REFUND_TOO_MUCH"
    assert list(
        Entry.objects.filter(account__member=member).values_list("balance_after", flat=True).order_by("id")
    ) == [
        100,
        150,
        30,
        50,
        150,
    ]
    assert check_points().ok


def test_the_same_key_never_pays_twice_and_a_reused_key_is_refused(member: Member) -> None:
    first = ledger.earn(member=member, amount=10, key="activity:1:member:1")
    again = ledger.earn(member=member, amount=10, key="activity:1:member:1")
    assert again.replayed and again.entry.pk == first.entry.pk
    assert ledger.balance_of(member) == 10
    with pytest.raises(Conflict) as exc:
        ledger.earn(member=member, amount=11, key="activity:1:member:1")
    assert exc.value.code == "IDEMPOTENCY_KEY_REUSED"
    with pytest.raises(InvalidValue):
        ledger.earn(member=member, amount=10, key="")


def test_spending_more_than_the_balance_is_refused_and_writes_nothing(member: Member) -> None:
    ledger.earn(member=member, amount=10, key="e")
    with pytest.raises(ledger.InsufficientPoints) as exc:
        ledger.spend(member=member, amount=11, key="s")
    assert exc.value.code == "POINTS_INSUFFICIENT"
    assert "可用 10 分" in exc.value.message
    assert Entry.objects.count() == 1 and ledger.balance_of(member) == 10


def test_expired_points_cannot_be_spent_and_expire_oldest_first(member: Member) -> None:
    now = timezone.now()
    ledger.earn(member=member, amount=30, key="old", expires_at=now - timedelta(days=1))
    ledger.earn(member=member, amount=20, key="new", expires_at=now + timedelta(days=30))
    with pytest.raises(ledger.InsufficientPoints):
        ledger.spend(member=member, amount=25, key="s1")
    # The refused spend rolled back, so the expiry it ran rolled back too.
    assert ledger.balance_of(member) == 50
    assert ledger.expire_due() == 30
    assert ledger.expire_due() == 0  # resumable and idempotent
    assert ledger.balance_of(member) == 20
    expiry = Entry.objects.get(kind=EntryKind.EXPIRE)
    assert expiry.amount == -30 and expiry.balance_after == 20
    assert check_points().ok


def test_a_refund_to_an_expired_lot_expires_again(member: Member) -> None:
    now = timezone.now()
    ledger.earn(member=member, amount=40, key="e", expires_at=now + timedelta(seconds=60))
    spent = ledger.spend(member=member, amount=40, key="s").entry
    Lot.objects.update(expires_at=now - timedelta(seconds=1))  # time passes
    ledger.refund(spend_entry=spent, key="r")
    assert ledger.balance_of(member) == 40
    assert ledger.expire_due() == 40
    assert ledger.balance_of(member) == 0
    assert check_points().ok


def test_cadre_adjustments_need_a_reason_and_are_audited(member: Member, dave: User) -> None:
    with pytest.raises(InvalidValue):
        ledger.adjust(actor=dave, member=member, amount=5, reason=" ", key="a0")
    ledger.adjust(actor=dave, member=member, amount=50, reason="优秀志愿者", key="a1")
    ledger.adjust(actor=dave, member=member, amount=-20, reason="误发更正", key="a2")
    assert ledger.balance_of(member) == 30
    assert AuditEvent.objects.filter(action="points.adjust").count() == 2
    with pytest.raises(ledger.InsufficientPoints):
        ledger.adjust(actor=dave, member=member, amount=-31, reason="扣减", key="a3")
    assert check_points().ok


def test_entries_are_append_only(member: Member) -> None:
    entry = ledger.earn(member=member, amount=10, key="e").entry
    entry.amount = 1000
    with pytest.raises(RuntimeError):
        entry.save()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database trigger exists on PostgreSQL")
def test_the_database_refuses_to_rewrite_entries(member: Member) -> None:
    from django.db import DatabaseError

    ledger.earn(member=member, amount=10, key="e")
    with pytest.raises(DatabaseError), transaction.atomic():
        Entry.objects.update(amount=1000)
    with pytest.raises(DatabaseError), transaction.atomic():
        LotUse.objects.all().delete()
        Entry.objects.all().delete()


def test_check_ledgers_passes_on_a_sound_ledger_and_fails_on_any_mismatch(member: Member) -> None:
    ledger.earn(member=member, amount=10, key="e")
    out = StringIO()
    call_command("check_ledgers", stdout=out)
    assert "FAILED" not in out.getvalue()
    Account.objects.filter(member=member).update(balance=11)  # a drifted balance
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("check_ledgers", stdout=out)
    assert "FAILED" in out.getvalue() and "balance_is_sum_of_entries" in out.getvalue()


def test_check_ledgers_catches_a_lot_out_of_step(member: Member) -> None:
    ledger.earn(member=member, amount=10, key="e")
    Lot.objects.update(remaining=9)
    failures = check_points().failures
    assert set(failures) >= {"balance_is_sum_of_lots", "lot_remaining_is_amount_minus_uses"}


# --- concurrency (PostgreSQL) ---------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_parallel_spends_never_overdraw(transactional_db: Any, tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "王五")
    ledger.earn(member=member, amount=100, key="seed")
    results = race(*[(lambda i=i: ledger.spend(member=member, amount=30, key=f"s{i}")) for i in range(8)])
    wins = [r for r in results if isinstance(r, ledger.Movement)]
    losses = [r for r in results if isinstance(r, ledger.InsufficientPoints)]
    assert len(wins) == 3 and len(losses) == 5, results
    assert ledger.balance_of(member) == 10
    assert check_points().ok


@pytest.mark.postgres_only
@on_postgres_only
def test_the_same_earning_event_racing_pays_once(transactional_db: Any, tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "赵六")
    ledger.earn(member=member, amount=1, key="joined")  # the account exists: only the key decides
    results = race(*[(lambda: ledger.earn(member=member, amount=5, key="activity:9:member:1")) for _ in range(8)])
    assert all(isinstance(r, ledger.Movement) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert ledger.balance_of(member) == 6 and Entry.objects.count() == 2
    assert check_points().ok
