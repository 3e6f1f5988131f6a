"""Mall fixtures: bob (天河区 admin) puts goods on sale for his district; frank (a member of
dave's union inside 天河) buys them with points earned through the ledger."""

from __future__ import annotations

from typing import Any

import pytest

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.mall import actions
from gonghui.mall.models import Goods, GoodsKind, GoodsStatus
from gonghui.members.models import Member, VerificationStatus
from gonghui.points import ledger


def verify(member: Member) -> Member:
    Member.objects.filter(pk=member.pk).update(verification_status=VerificationStatus.VERIFIED)
    member.refresh_from_db()
    return member


def give(member: Member, amount: int, key: str = "") -> None:
    ledger.earn(member=member, amount=amount, key=key or f"test:give:{member.pk}:{amount}:{ledger.balance_of(member)}")


def make_goods(actor: User, org: Any, *, stock: int = 10, on_sale: bool = True, **values: Any) -> Goods:
    data = {
        "name": "工会定制保温杯",
        "description": "304 不锈钢，500 毫升。",
        "kind": GoodsKind.PICKUP,
        "price_points": 100,
        "per_member_limit": 1,
        "verified_only": True,
        "pickup_place": "天河区总工会一楼服务台",
        **values,
    }
    goods = actions.create_goods(actor=actor, org=org, values=data, stock=stock)
    if on_sale and data["kind"] != GoodsKind.VIRTUAL:
        goods = actions.set_status(actor=actor, goods=goods, status=GoodsStatus.ON_SALE)
    return goods


@pytest.fixture
def buyer(frank: Member) -> Member:
    return verify(frank)


@pytest.fixture
def cup(bob: User, tree: Tree) -> Goods:
    return make_goods(bob, tree.tianhe)
