"""Races on PostgreSQL: no oversell, no second coupon past the per-member limit, no coupon
redeemed twice. Each fails when its protection is removed (see docs/COUPONS.md)."""

from __future__ import annotations

import pytest

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.coupons import actions
from gonghui.coupons.checks import check_coupons
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, Merchant, Redemption
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = [on_postgres_only, pytest.mark.django_db(transaction=True)]


def _issue(template_id: int, member_id: int, key: str) -> object:
    from gonghui.coupons.models import CouponTemplate

    template = CouponTemplate.objects.get(pk=template_id)
    member = Member.objects.get(pk=member_id)
    return actions.issue(template, member, source=CouponSource.RUSH, key=key)


def test_parallel_issue_never_oversells(bob: User, tree: Tree, spa: Merchant) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=3)
    members = [make_member(tree.tianhe_union, f"会员{i}") for i in range(8)]
    results = race(*[lambda m=m: _issue(template.pk, m.pk, f"rush:{m.pk}") for m in members])
    won = [r for r in results if isinstance(r, actions.Issued)]
    lost = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 3, results
    assert len(lost) == 5 and {e.code for e in lost} == {"COUPON_OUT_OF_STOCK"}, results
    template.refresh_from_db()
    assert template.issued == 3 == Coupon.objects.count()
    assert check_coupons().ok


def test_parallel_issue_to_one_member_respects_the_limit(bob: User, tree: Tree, spa: Merchant, frank: Member) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=50, per_member_limit=2)
    results = race(*[lambda i=i: _issue(template.pk, frank.pk, f"points:order:{i}") for i in range(6)])
    won = [r for r in results if isinstance(r, actions.Issued)]
    assert len(won) == 2, results
    assert {e.code for e in results if isinstance(e, DomainError)} == {"COUPON_LIMIT_REACHED"}, results
    assert Coupon.objects.filter(member=frank).count() == 2
    template.refresh_from_db()
    assert template.issued == 2


def test_parallel_issue_with_one_key_makes_one_coupon(bob: User, tree: Tree, spa: Merchant, frank: Member) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=50, per_member_limit=5)
    results = race(*[lambda: _issue(template.pk, frank.pk, "lottery:9:prize") for _ in range(4)])
    assert all(isinstance(r, actions.Issued) for r in results), results
    assert len({r.coupon.pk for r in results}) == 1
    assert Coupon.objects.count() == 1


def test_two_merchant_users_redeem_one_coupon_once(
    bob: User, tree: Tree, spa: Merchant, frank: Member, mia: User
) -> None:
    second = actions.add_merchant_user(actor=bob, merchant=spa, mobile="13711110009", name="二号收银").user
    template = make_template(bob, tree.tianhe, [spa])
    coupon = actions.issue(template, frank, source=CouponSource.WELFARE, key="w").coupon

    def redeem(user: User) -> object:
        return actions.redeem(User.objects.get(pk=user.pk), coupon.code)

    for _round in range(3):
        results = race(lambda: redeem(mia), lambda: redeem(second))
        won = [r for r in results if isinstance(r, actions.Redeemed)]
        lost = [r for r in results if not isinstance(r, actions.Redeemed)]
        if _round == 0:
            assert len(won) == 1, results
        else:
            assert not won
        assert all(isinstance(e, DomainError) and e.code == "COUPON_ALREADY_REDEEMED" for e in lost), results
    assert Redemption.objects.filter(coupon=coupon).count() == 1
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.REDEEMED
    assert check_coupons().ok


def test_a_retried_redeem_racing_its_twin_returns_the_same_redemption(
    bob: User, tree: Tree, spa: Merchant, frank: Member, mia: User
) -> None:
    template = make_template(bob, tree.tianhe, [spa])
    coupon = actions.issue(template, frank, source=CouponSource.WELFARE, key="w").coupon

    def redeem() -> object:
        return actions.redeem(User.objects.get(pk=mia.pk), coupon.code, key=f"api:{mia.pk}:retry-1")

    results = race(redeem, redeem)
    assert all(isinstance(r, actions.Redeemed) for r in results), results
    assert len({r.redemption.pk for r in results}) == 1
    assert Redemption.objects.count() == 1
