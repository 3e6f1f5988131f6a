"""Races on PostgreSQL: no oversell, no points spent twice, the per-member limit exact, one
order per Idempotency-Key, one refund per cancelled order. Each test fails when its
protection is removed (docs/MALL.md says which and how it was checked)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.mall import actions
from gonghui.mall.checks import check_mall
from gonghui.mall.models import Goods, Order, OrderStatus
from gonghui.mall.tests.conftest import give, make_goods, verify
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.points.checks import check_points
from gonghui.points.models import Entry
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = [on_postgres_only, pytest.mark.django_db(transaction=True)]


def _order(member_id: int, goods_id: int, key: str, quantity: int = 1) -> object:
    return actions.place_order(
        member=Member.objects.get(pk=member_id), goods=Goods.objects.get(pk=goods_id), key=key, quantity=quantity
    )


def _cancel(member_id: int, order_id: int, key: str) -> object:
    return actions.cancel_by_member(
        member=Member.objects.get(pk=member_id), order=Order.objects.get(pk=order_id), key=key
    )


def ledgers_ok() -> None:
    assert check_points().ok, check_points().failures
    assert check_mall().ok, check_mall().failures
    call_command("check_ledgers", stdout=io.StringIO())  # raises CommandError on any mismatch


def test_parallel_orders_never_oversell(bob: User, tree: Tree) -> None:
    goods = make_goods(bob, tree.tianhe, stock=3)
    members = [verify(make_member(tree.tianhe_union, f"抢购{i}")) for i in range(8)]
    for m in members:
        give(m, 100)
    results = race(*[lambda m=m: _order(m.pk, goods.pk, f"r:{m.pk}") for m in members])
    won = [r for r in results if isinstance(r, actions.Placed)]
    lost = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 3, results
    assert len(lost) == 5 and {e.code for e in lost} == {"MALL_OUT_OF_STOCK"}, results
    goods.refresh_from_db()
    assert goods.sold == 3 == Order.objects.count()
    assert sum(ledger.balance_of(m) for m in members) == 5 * 100  # losers keep every point
    ledgers_ok()


def test_points_are_never_spent_twice(bob: User, tree: Tree, frank: Member) -> None:
    """Enough points for one of two goods: both ordered at once, exactly one succeeds."""
    buyer = verify(frank)
    cup = make_goods(bob, tree.tianhe, name="保温杯", price_points=100)
    towel = make_goods(bob, tree.tianhe, name="毛巾", price_points=100)
    give(buyer, 150)
    results = race(lambda: _order(buyer.pk, cup.pk, "p:cup"), lambda: _order(buyer.pk, towel.pk, "p:towel"))
    won = [r for r in results if isinstance(r, actions.Placed)]
    assert len(won) == 1, results
    assert [e.code for e in results if isinstance(e, DomainError)] == ["POINTS_INSUFFICIENT"], results
    assert ledger.balance_of(buyer) == 50
    cup.refresh_from_db()
    towel.refresh_from_db()
    assert cup.sold + towel.sold == 1  # the loser's stock went back with its transaction
    ledgers_ok()


def test_per_member_limit_is_exact_under_parallel_orders(bob: User, tree: Tree, frank: Member) -> None:
    buyer = verify(frank)
    goods = make_goods(bob, tree.tianhe, stock=50, per_member_limit=2, price_points=10)
    give(buyer, 1000)
    results = race(*[lambda i=i: _order(buyer.pk, goods.pk, f"lim:{i}") for i in range(6)])
    won = [r for r in results if isinstance(r, actions.Placed)]
    assert len(won) == 2, results
    assert {e.code for e in results if isinstance(e, DomainError)} == {"MALL_LIMIT_REACHED"}, results
    assert Order.objects.filter(member=buyer).count() == 2
    assert ledger.balance_of(buyer) == 1000 - 20
    ledgers_ok()


def test_one_idempotency_key_racing_makes_one_order(bob: User, tree: Tree, frank: Member) -> None:
    buyer = verify(frank)
    goods = make_goods(bob, tree.tianhe, stock=50, per_member_limit=5, price_points=10)
    give(buyer, 1000)
    results = race(*[lambda: _order(buyer.pk, goods.pk, "api:7:same-key") for _ in range(5)])
    assert all(isinstance(r, actions.Placed) for r in results), results
    assert len({r.order.pk for r in results}) == 1
    assert sum(1 for r in results if not r.replayed) == 1
    assert Order.objects.count() == 1
    assert Entry.objects.filter(kind="spend").count() == 1
    assert ledger.balance_of(buyer) == 990
    ledgers_ok()


def test_parallel_cancels_refund_once(bob: User, tree: Tree, frank: Member) -> None:
    buyer = verify(frank)
    goods = make_goods(bob, tree.tianhe, stock=5, per_member_limit=3)
    give(buyer, 300)
    orders = [actions.place_order(member=buyer, goods=goods, key=f"c:{i}").order for i in range(3)]
    assert ledger.balance_of(buyer) == 0
    for order in orders:
        results = race(*[lambda k=k, o=order: _cancel(buyer.pk, o.pk, f"cancel:{o.pk}:{k}") for k in range(4)])
        won = [r for r in results if isinstance(r, actions.Cancelled)]
        assert len(won) == 1, results
        assert {e.code for e in results if isinstance(e, DomainError)} == {"MALL_NOT_CANCELLABLE"}, results
    assert Entry.objects.filter(kind="refund").count() == 3
    assert ledger.balance_of(buyer) == 300
    goods.refresh_from_db()
    assert goods.sold == 0
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    ledgers_ok()
