"""Random sequences of ledger movements, checked against a model after every step."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from gonghui.conftest import make_member, make_org
from gonghui.core.errors import Conflict
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgLevel
from gonghui.points import ledger
from gonghui.points.checks import check_points
from gonghui.points.models import Entry, Lot

pytestmark = pytest.mark.django_db(transaction=True)


class LedgerMachine(RuleBasedStateMachine):
    spends = Bundle("spends")

    def __init__(self) -> None:
        super().__init__()
        # Examples share the test's database: each one has its own member and key space.
        self.prefix = uuid.uuid4().hex[:8]
        root = Org.objects.filter(depth=1).first() or make_org(None, OrgLevel.PROVINCE, "测试省总工会")
        self.member: Member = make_member(root, "钱七")
        self.expected = 0
        self.counter = 0
        self.keys: dict[str, int] = {}

    def key(self) -> str:
        self.counter += 1
        return f"{self.prefix}:{self.counter}"

    @rule(amount=st.integers(1, 500), expired=st.booleans())
    def earn(self, amount: int, expired: bool) -> None:
        expires = timezone.now() + (timedelta(seconds=-1) if expired else timedelta(days=365))
        key = self.key()
        ledger.earn(member=self.member, amount=amount, key=key, expires_at=expires)
        self.keys[key] = amount
        self.expected += amount

    @rule(target=spends, amount=st.integers(1, 800))
    def spend(self, amount: int) -> Any:
        before, due = ledger.balance_of(self.member), self.due()
        try:
            entry = ledger.spend(member=self.member, amount=amount, key=self.key()).entry
        except ledger.InsufficientPoints:
            assert amount > before - due
            assert ledger.balance_of(self.member) == before  # nothing written, not even the expiry
            return None
        self.expected -= due + amount
        return entry.pk

    @rule(spend_id=spends, part=st.integers(1, 800) | st.none())
    def refund(self, spend_id: int | None, part: int | None) -> None:
        if spend_id is None:
            return
        spent = Entry.objects.get(pk=spend_id)
        try:
            moved = ledger.refund(spend_entry=spent, amount=part, key=self.key()).entry
        except Conflict as exc:
            assert exc.code == "POINTS_REFUND_TOO_MUCH"
            return
        self.expected += moved.amount

    @rule()
    def expire(self) -> None:
        due = self.due()
        ledger.expire_due()  # every account's due lots (other examples' members too)
        self.expected -= due

    def due(self) -> int:
        """Points of this member past expiry but not yet expired (spends expire them first)."""
        lots = Lot.objects.filter(account__member=self.member, remaining__gt=0, expires_at__lte=timezone.now())
        return int(lots.aggregate(n=Sum("remaining"))["n"] or 0)

    @rule(amount=st.integers(-300, 300).filter(bool))
    def adjust(self, amount: int) -> None:
        before, due = ledger.balance_of(self.member), self.due()
        try:
            ledger.adjust(actor=None, member=self.member, amount=amount, reason="测试调整", key=self.key())
        except ledger.InsufficientPoints:
            assert amount < 0 and -amount > before - due
            return
        self.expected += amount - (due if amount < 0 else 0)

    @rule()
    def replay_an_earlier_earning(self) -> None:
        if not self.keys:
            return
        key, amount = next(iter(self.keys.items()))
        assert ledger.earn(member=self.member, amount=amount, key=key).replayed

    @invariant()
    def ledger_sums(self) -> None:
        balance = ledger.balance_of(self.member)
        assert balance >= 0
        assert balance == self.expected
        assert not Lot.objects.filter(remaining__lt=0).exists()
        report = check_points()
        assert report.ok, report.failures


LedgerMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.usefixtures("transactional_db")
class TestLedgerStateful(LedgerMachine.TestCase):  # type: ignore[misc, valid-type]
    pass
