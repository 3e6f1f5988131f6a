"""Random sequences of earning, ordering, cancelling (by the member or a cadre, which
refunds), expiring and retrying across two members and two goods, checked after every step:
stock sold = live orders, balances ≥ 0 and as modelled, and every ledger proof holds."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from gonghui.conftest import make_cadre, make_member, make_org
from gonghui.core.access import RoleKind
from gonghui.core.errors import DomainError
from gonghui.mall import actions
from gonghui.mall.checks import check_mall
from gonghui.mall.models import LIVE, Goods, Order, OrderStatus
from gonghui.mall.tests.conftest import make_goods, verify
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgLevel
from gonghui.points import ledger
from gonghui.points.checks import check_points
from gonghui.points.models import Lot
from gonghui.testing.concurrency import race

pytestmark = pytest.mark.django_db(transaction=True)


class MallMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        # Examples share the test's database: each has its own union, cadre, members, goods and keys.
        self.prefix = uuid.uuid4().hex[:8]
        root = Org.objects.filter(depth=1).first() or make_org(None, OrgLevel.PROVINCE, "测试省总工会")
        union = make_org(root, OrgLevel.GRASSROOTS, f"测试工会{self.prefix}")
        self.cadre = make_cadre(f"cadre-{self.prefix}", "干部", union, RoleKind.ADMIN)
        self.members: list[Member] = [verify(make_member(union, name)) for name in ("孙一", "周二")]
        self.goods: list[Goods] = [
            make_goods(self.cadre, union, name="保温杯", price_points=70, stock=3, per_member_limit=2),
            make_goods(self.cadre, union, name="雨伞", price_points=150, stock=2, per_member_limit=1),
        ]
        self.expected = [0, 0]
        for i, member in enumerate(self.members):  # a start: most sequences can afford an order
            ledger.earn(member=member, amount=300, key=f"{self.prefix}:start:{i}")
            self.expected[i] = 300
        self.counter = 0
        self.keys: list[tuple[int, int, str, int]] = []  # (member, goods, key, quantity) of placed orders

    def key(self) -> str:
        self.counter += 1
        return f"{self.prefix}:{self.counter}"

    def due(self, i: int) -> int:
        lots = Lot.objects.filter(account__member=self.members[i], remaining__gt=0, expires_at__lte=timezone.now())
        return int(lots.aggregate(n=Sum("remaining"))["n"] or 0)

    @rule(who=st.integers(0, 1), amount=st.integers(1, 300), expired=st.integers(0, 3))
    def earn(self, who: int, amount: int, expired: int) -> None:
        # One earning in four is already past its expiry: the next spend or run expires it.
        expires = timezone.now() + (timedelta(seconds=-1) if expired == 0 else timedelta(days=365))
        ledger.earn(member=self.members[who], amount=amount, key=self.key(), expires_at=expires)
        self.expected[who] += amount

    @rule(target=orders, who=st.integers(0, 1), which=st.integers(0, 1), quantity=st.integers(1, 2))
    def order(self, who: int, which: int, quantity: int) -> Any:
        member, goods = self.members[who], self.goods[which]
        due = self.due(who)
        key = self.key()
        try:
            placed = actions.place_order(member=member, goods=goods, key=key, quantity=quantity)
        except DomainError as exc:
            assert exc.code in {
                "POINTS_INSUFFICIENT",
                "MALL_OUT_OF_STOCK",
                "MALL_LIMIT_REACHED",
                "MALL_BAD_QUANTITY",
            }, exc
            return None  # nothing written, not even the expiry the spend would have done
        self.expected[who] -= due + placed.order.points
        self.keys.append((who, which, key, quantity))
        return placed.order.pk

    @rule(which=st.integers(0, 1), same_key=st.booleans())
    def race_two_orders(self, which: int, same_key: bool) -> None:
        """On PostgreSQL: both members order the same goods at once (or one member twice with
        one key); the model then follows whichever succeeded."""
        if connection.vendor != "postgresql":
            return
        goods_id = self.goods[which].pk
        whos = [0, 0] if same_key else [0, 1]
        keys = [self.key()] * 2 if same_key else [self.key(), self.key()]
        dues = [self.due(0), self.due(1)]

        def call(i: int) -> Any:
            member = Member.objects.get(pk=self.members[whos[i]].pk)
            return actions.place_order(member=member, goods=Goods.objects.get(pk=goods_id), key=keys[i])

        results = race(lambda: call(0), lambda: call(1))
        made = {r.order.pk: (i, r) for i, r in enumerate(results) if isinstance(r, actions.Placed)}
        for r in results:
            if not isinstance(r, actions.Placed):
                assert isinstance(r, DomainError) and r.code in {
                    "POINTS_INSUFFICIENT",
                    "MALL_OUT_OF_STOCK",
                    "MALL_LIMIT_REACHED",
                }, r
        if same_key:
            assert len(made) <= 1  # one key, one order
        for i, r in made.values():
            self.expected[whos[i]] -= dues[whos[i]] + r.order.points
            dues[whos[i]] = 0
            self.keys.append((whos[i], which, keys[i], 1))

    @rule()
    def retry_an_order(self) -> None:
        if not self.keys:
            return
        who, which, key, quantity = self.keys[0]
        replay = actions.place_order(member=self.members[who], goods=self.goods[which], key=key, quantity=quantity)
        assert replay.replayed

    @rule(order_id=orders, by_cadre=st.booleans())
    def cancel(self, order_id: int | None, by_cadre: bool) -> None:
        if order_id is None:
            return
        order = Order.objects.get(pk=order_id)
        who = self.members.index(next(m for m in self.members if m.pk == order.member_id))
        try:
            if by_cadre:
                actions.cancel_by_cadre(actor=self.cadre, order=order, reason="库存盘点有误")
            else:
                actions.cancel_by_member(member=self.members[who], order=order)
        except actions.NotCancellable:
            assert order.status not in (OrderStatus.PLACED, OrderStatus.PICKUP_READY)
            return
        self.expected[who] += order.points

    @rule(order_id=orders)
    def pick_up(self, order_id: int | None) -> None:
        if order_id is None:
            return
        order = Order.objects.get(pk=order_id)
        if order.status == OrderStatus.PICKUP_READY and order.pickup_code:
            actions.confirm_pickup(actor=self.cadre, raw_code=order.pickup_code)

    @rule()
    def expire(self) -> None:
        dues = [self.due(0), self.due(1)]
        ledger.expire_due()
        self.expected = [e - d for e, d in zip(self.expected, dues, strict=True)]

    @invariant()
    def stock_and_points_agree(self) -> None:
        for goods in self.goods:
            goods.refresh_from_db()
            live = Order.objects.filter(goods=goods, status__in=LIVE).aggregate(n=Sum("quantity"))["n"] or 0
            assert goods.sold == live <= goods.stock
            for member in self.members:
                held = Order.objects.filter(goods=goods, member=member, status__in=LIVE).aggregate(n=Sum("quantity"))
                assert (held["n"] or 0) <= goods.per_member_limit
        for i, member in enumerate(self.members):
            balance = ledger.balance_of(member)
            assert balance >= 0
            assert balance == self.expected[i]
        points = check_points()
        assert points.ok, points.failures
        mall = check_mall()
        assert mall.ok, mall.failures


MallMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.usefixtures("transactional_db")
class TestMallStateful(MallMachine.TestCase):  # type: ignore[misc, valid-type]
    pass
