"""Coupon fixtures: bob's district signs up two merchants; a hot-spring template accepted by
one of them; ``mia`` and ``max`` are the two merchants' cashiers (ordinary portal accounts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.coupons import actions
from gonghui.coupons.models import CouponTemplate, Merchant, MerchantKind, ValidityKind
from gonghui.members.models import Member, VerificationStatus


def verify(member: Member) -> Member:
    Member.objects.filter(pk=member.pk).update(verification_status=VerificationStatus.VERIFIED)
    member.refresh_from_db()
    return member


def make_template(actor: User, org: Any, merchants: list[Merchant], **values: Any) -> CouponTemplate:
    now = timezone.now()
    quantity = values.pop("quantity", 100)
    data = {
        "name": "从化温泉双人票",
        "category": "hot_spring",
        "face_value_fen": 19800,
        "benefit": "双人温泉门票一张",
        "terms": "周一至周五使用；请提前一天预约。",
        "validity_kind": ValidityKind.FIXED,
        "valid_from": now - timedelta(days=1),
        "valid_until": now + timedelta(days=30),
        "per_member_limit": 1,
        "verified_only": False,
        **values,
    }
    return actions.create_template(
        actor=actor, org=org, values=data, merchant_ids=[m.pk for m in merchants], quantity=quantity
    )


@pytest.fixture
def spa(bob: User, tree: Tree) -> Merchant:
    return actions.create_merchant(
        actor=bob,
        org=tree.tianhe,
        values={
            "name": "从化碧泉温泉",
            "kind": MerchantKind.HOT_SPRING,
            "address": "从化区温泉镇",
            "contact": "陈经理",
        },
    )


@pytest.fixture
def cinema(bob: User, tree: Tree) -> Merchant:
    return actions.create_merchant(actor=bob, org=tree.tianhe, values={"name": "天河影城", "kind": MerchantKind.CINEMA})


@pytest.fixture
def mia(bob: User, spa: Merchant) -> User:
    link = actions.add_merchant_user(actor=bob, merchant=spa, mobile="13711110001", name="米娅")
    return link.user


@pytest.fixture
def max_user(bob: User, cinema: Merchant) -> User:
    link = actions.add_merchant_user(actor=bob, merchant=cinema, mobile="13711110002", name="马克斯")
    return link.user


@pytest.fixture
def spa_template(bob: User, tree: Tree, spa: Merchant) -> CouponTemplate:
    return make_template(bob, tree.tianhe, [spa])
