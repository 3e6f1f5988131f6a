"""核销: exactly once, by an accepting merchant, inside the validity window."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.coupons import actions, tokens
from gonghui.coupons.checks import check_coupons
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate, Merchant, Redemption
from gonghui.coupons.tests.conftest import make_template
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


@pytest.fixture
def coupon(spa_template: CouponTemplate, frank: Member) -> Coupon:
    return actions.issue(spa_template, frank, source=CouponSource.WELFARE, key="w1").coupon


def test_redeem_by_typed_code_then_refuse_the_second_time(coupon: Coupon, mia: User, spa: Merchant) -> None:
    typed = coupon.display_code.lower().replace("-", " ")  # case and separators do not matter
    result = actions.redeem(mia, typed)
    assert not result.replayed
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.REDEEMED
    assert coupon.redeemed_by_merchant == spa and coupon.redeemed_by_user == mia
    assert Redemption.objects.get().coupon_id == coupon.pk
    assert AuditEvent.objects.filter(action="coupon.redeem", object_id=str(coupon.pk)).exists()

    with pytest.raises(Conflict) as exc:
        actions.redeem(mia, coupon.code)
    assert exc.value.code == "COUPON_ALREADY_REDEEMED"
    when = timezone.localtime(coupon.redeemed_at).strftime("%Y-%m-%d %H:%M")
    assert exc.value.message == f"此券已于 {when} 在从化碧泉温泉核销，不能重复使用。"
    assert Redemption.objects.count() == 1
    assert AuditEvent.objects.filter(action="coupon.redeem_refused").count() == 1
    assert check_coupons().ok


def test_redeem_by_signed_qr(coupon: Coupon, mia: User) -> None:
    content = tokens.qr_content(coupon.code)
    preview = actions.lookup(mia, content)
    assert preview.can_redeem and preview.masked_name == "范*"
    assert actions.redeem(mia, content).coupon.pk == coupon.pk


def test_a_tampered_qr_is_invalid(coupon: Coupon, mia: User, spa_template: CouponTemplate, tree: Tree) -> None:
    other = actions.issue(spa_template, make_member(tree.tianhe_union, "王五"), source="grant", key="w2").coupon
    signature = tokens.qr_content(coupon.code).split(":", 1)[1]
    with pytest.raises(DomainError) as exc:
        actions.redeem(mia, f"{other.code}:{signature}")
    assert exc.value.code == "COUPON_INVALID"
    other.refresh_from_db()
    assert other.status == CouponStatus.ISSUED


def test_wrong_merchant_is_refused_without_details(coupon: Coupon, max_user: User) -> None:
    with pytest.raises(Conflict) as exc:
        actions.lookup(max_user, coupon.code)
    assert exc.value.code == "COUPON_WRONG_MERCHANT"
    assert "范" not in exc.value.message
    with pytest.raises(Conflict) as again:
        actions.redeem(max_user, coupon.code)
    assert again.value.code == "COUPON_WRONG_MERCHANT"
    coupon.refresh_from_db()
    assert coupon.status == CouponStatus.ISSUED


def test_expired_and_not_yet_valid(bob: User, tree: Tree, spa: Merchant, frank: Member, mia: User) -> None:
    now = timezone.now()
    soon, later_on = now + timedelta(days=2), now + timedelta(days=9)
    later = make_template(bob, tree.tianhe, [spa], valid_from=soon, valid_until=later_on)
    early = actions.issue(later, frank, source="grant", key="e1").coupon
    with pytest.raises(Conflict) as exc:
        actions.redeem(mia, early.code)
    assert exc.value.code == "COUPON_NOT_YET_VALID"
    # An unused coupon whose window has closed is refused even before expire_coupons runs.
    lapsed = {"valid_from": now - timedelta(days=9), "valid_until": now - timedelta(minutes=1)}
    Coupon.objects.filter(pk=early.pk).update(**lapsed)
    with pytest.raises(Conflict) as gone:
        actions.redeem(mia, early.code)
    assert gone.value.code == "COUPON_EXPIRED"


def test_unknown_codes_and_non_merchants(coupon: Coupon, mia: User, bob: User) -> None:
    with pytest.raises(DomainError) as exc:
        actions.redeem(mia, "0000-0000-0000")
    assert (exc.value.code, exc.value.status) == ("COUPON_NOT_FOUND", 404)
    with pytest.raises(DomainError) as bad:
        actions.redeem(mia, "12345")
    assert bad.value.code == "COUPON_INVALID"
    with pytest.raises(DomainError) as cadre:
        actions.redeem(bob, coupon.code)
    assert cadre.value.code == "COUPON_MERCHANT_REQUIRED"


def test_guessing_codes_is_throttled(coupon: Coupon, mia: User, settings: object) -> None:
    for _ in range(20):
        with pytest.raises(DomainError):
            actions.lookup(mia, "0000-0000-0000")
    with pytest.raises(actions.CheckThrottled):
        actions.lookup(mia, coupon.code)


def test_a_retried_redeem_with_the_same_key_returns_the_first_result(coupon: Coupon, mia: User) -> None:
    first = actions.redeem(mia, coupon.code, key=f"api:{mia.pk}:abc")
    again = actions.redeem(mia, coupon.code, key=f"api:{mia.pk}:abc")
    assert again.replayed and again.redemption.pk == first.redemption.pk
    with pytest.raises(Conflict) as exc:
        actions.redeem(mia, coupon.code, key=f"api:{mia.pk}:other")
    assert exc.value.code == "COUPON_ALREADY_REDEEMED"


def test_suspended_merchant_and_removed_cashier(coupon: Coupon, mia: User, bob: User, spa: Merchant) -> None:
    actions.update_merchant(actor=bob, merchant=spa, values={"status": "suspended"})
    with pytest.raises(DomainError) as exc:
        actions.redeem(mia, coupon.code)
    assert exc.value.code == "COUPON_MERCHANT_SUSPENDED"
    actions.update_merchant(actor=bob, merchant=spa, values={"status": "active"})
    actions.remove_merchant_user(actor=bob, link=mia.merchant_link)
    with pytest.raises(DomainError) as removed:
        actions.redeem(mia, coupon.code)
    assert removed.value.code == "COUPON_MERCHANT_REQUIRED"


def test_expiry_is_idempotent(bob: User, tree: Tree, spa: Merchant, frank: Member, mia: User) -> None:
    now = timezone.now()
    template = make_template(bob, tree.tianhe, [spa], per_member_limit=3)
    a = actions.issue(template, frank, source="grant", key="x1").coupon
    b = actions.issue(template, frank, source="grant", key="x2").coupon
    c = actions.issue(template, frank, source="grant", key="x3").coupon
    actions.redeem(mia, c.code)
    Coupon.objects.filter(pk__in=[a.pk, c.pk]).update(valid_until=now - timedelta(hours=1))
    assert actions.expire_due() == 1
    assert actions.expire_due() == 0
    call_command("expire_coupons")
    statuses = dict(Coupon.objects.values_list("pk", "status"))
    assert statuses == {a.pk: "expired", b.pk: "issued", c.pk: "redeemed"}
    assert AuditEvent.objects.filter(action="coupon.expire").count() == 1


def test_redemptions_are_append_only(coupon: Coupon, mia: User) -> None:
    redemption = actions.redeem(mia, coupon.code).redemption
    with pytest.raises(RuntimeError):
        redemption.save()
    if connection.vendor == "postgresql":
        from django.db import DatabaseError, transaction

        with pytest.raises(DatabaseError), transaction.atomic():
            Redemption.objects.filter(pk=redemption.pk).update(merchant=redemption.merchant)


def test_check_coupons_catches_tampered_rows(coupon: Coupon, mia: User, spa_template: CouponTemplate) -> None:
    assert check_coupons().ok
    CouponTemplate.objects.filter(pk=spa_template.pk).update(issued=5)
    Coupon.objects.filter(pk=coupon.pk).update(
        status=CouponStatus.REDEEMED, redeemed_at=timezone.now(), redeemed_by_merchant=mia.merchant_link.merchant
    )
    report = check_coupons()
    assert set(report.failures) == {"issued_is_count_of_coupons", "redeemed_status_has_its_redemption"}
    with pytest.raises(Exception, match=r"coupons\.issued_is_count_of_coupons"):
        call_command("check_ledgers")
