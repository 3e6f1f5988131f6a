"""Issuing: idempotent by key, stock and per-member limits, who may receive."""

from __future__ import annotations

import pytest
from django.http import Http404

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.coupons import actions
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate, Merchant
from gonghui.coupons.tests.conftest import make_template, verify
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def test_same_key_returns_the_same_coupon(spa_template: CouponTemplate, frank: Member) -> None:
    first = actions.issue(spa_template, frank, source=CouponSource.LOTTERY, source_id="7", key="lottery:7:1")
    again = actions.issue(spa_template, frank, source=CouponSource.LOTTERY, source_id="7", key="lottery:7:1")
    assert not first.replayed and again.replayed
    assert again.coupon.pk == first.coupon.pk
    assert Coupon.objects.count() == 1
    spa_template.refresh_from_db()
    assert spa_template.issued == 1
    assert len(first.coupon.code) == 12
    assert first.coupon.status == CouponStatus.ISSUED
    assert AuditEvent.objects.filter(action="coupon.issue", object_id=str(first.coupon.pk)).count() == 1


def test_a_key_used_for_another_member_is_refused(spa_template: CouponTemplate, frank: Member, tree: Tree) -> None:
    other = make_member(tree.tianhe_union, "王五")
    actions.issue(spa_template, frank, source=CouponSource.GRANT, key="k1")
    with pytest.raises(Conflict) as exc:
        actions.issue(spa_template, other, source=CouponSource.GRANT, key="k1")
    assert exc.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_per_member_limit(bob: User, tree: Tree, spa: Merchant, frank: Member) -> None:
    template = make_template(bob, tree.tianhe, [spa], per_member_limit=2)
    actions.issue(template, frank, source=CouponSource.GRANT, key="a")
    actions.issue(template, frank, source=CouponSource.GRANT, key="b")
    with pytest.raises(actions.LimitReached) as exc:
        actions.issue(template, frank, source=CouponSource.GRANT, key="c")
    assert exc.value.code == "COUPON_LIMIT_REACHED"
    template.refresh_from_db()
    assert template.issued == 2  # the refused issue took no stock


def test_stock_runs_out(bob: User, tree: Tree, spa: Merchant) -> None:
    template = make_template(bob, tree.tianhe, [spa], quantity=2)
    members = [make_member(tree.tianhe_union, f"会员{i}") for i in range(3)]
    actions.issue(template, members[0], source=CouponSource.WELFARE, key="s0")
    actions.issue(template, members[1], source=CouponSource.WELFARE, key="s1")
    with pytest.raises(actions.OutOfStock) as exc:
        actions.issue(template, members[2], source=CouponSource.WELFARE, key="s2")
    assert exc.value.code == "COUPON_OUT_OF_STOCK"
    template.refresh_from_db()
    assert (template.issued, template.quantity) == (2, 2)
    # More stock, never below what is issued.
    with pytest.raises(Conflict) as low:
        actions.set_quantity(actor=bob, template=template, quantity=1)
    assert low.value.code == "COUPON_STOCK_BELOW_ISSUED"
    actions.set_quantity(actor=bob, template=template, quantity=3)
    assert actions.issue(template, members[2], source=CouponSource.WELFARE, key="s2").coupon


def test_verified_only_refuses_unverified_members(bob: User, tree: Tree, spa: Merchant, frank: Member) -> None:
    template = make_template(bob, tree.tianhe, [spa], verified_only=True)
    with pytest.raises(DomainError) as exc:
        actions.issue(template, frank, source=CouponSource.POINTS, key="v1")
    assert exc.value.code == "COUPON_VERIFIED_ONLY"
    verify(frank)
    assert actions.issue(template, frank, source=CouponSource.POINTS, key="v1").coupon.source == "points"


def test_members_outside_the_union_and_left_members_get_nothing(
    spa_template: CouponTemplate, tree: Tree, frank: Member
) -> None:
    outsider = make_member(tree.nanshan_union, "深圳人")
    with pytest.raises(InvalidValue) as exc:
        actions.issue(spa_template, outsider, source=CouponSource.GRANT, key="o1")
    assert exc.value.code == "COUPON_MEMBER_OUTSIDE"
    Member.objects.filter(pk=frank.pk).update(status="left")
    frank.refresh_from_db()
    with pytest.raises(Conflict) as left:
        actions.issue(spa_template, frank, source=CouponSource.GRANT, key="o2")
    assert left.value.code == "COUPON_MEMBER_INELIGIBLE"


def test_relative_validity_counts_from_issue(bob: User, tree: Tree, spa: Merchant, frank: Member) -> None:
    template = make_template(
        bob, tree.tianhe, [spa], validity_kind="relative", valid_days=10, valid_from=None, valid_until=None
    )
    coupon = actions.issue(template, frank, source=CouponSource.GRANT, key="r1").coupon
    assert (coupon.valid_until - coupon.valid_from).days == 10


def test_grant_needs_manage_rights_over_the_template(
    spa_template: CouponTemplate, frank: Member, charlie: User, bob: User
) -> None:
    with pytest.raises(Http404):
        actions.grant(actor=charlie, template=spa_template, member=frank, key="g1")
    issued = actions.grant(actor=bob, template=spa_template, member=frank, key="g1")
    assert issued.coupon.source == CouponSource.GRANT and issued.coupon.issued_by == bob


def test_template_merchants_must_belong_to_the_union_line(bob: User, alice: User, tree: Tree, spa: Merchant) -> None:
    shenzhen_spa = actions.create_merchant(actor=alice, org=tree.nanshan, values={"name": "深圳温泉"})
    with pytest.raises(InvalidValue) as exc:
        make_template(bob, tree.tianhe, [spa, shenzhen_spa])
    assert exc.value.code == "COUPON_MERCHANT_OUTSIDE"
    province_spa = actions.create_merchant(actor=alice, org=tree.province, values={"name": "省疗休养基地"})
    assert make_template(bob, tree.tianhe, [spa, province_spa]).merchants.count() == 2
