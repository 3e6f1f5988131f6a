"""Reads of coupons: a member's wallet, a merchant's redemptions, and the cadre reports.

Wallet tabs read the clock as well as the status column: a coupon past ``valid_until``
is 已过期 the moment it lapses, whether or not ``expire_coupons`` has run yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.coupons.models import Coupon, CouponStatus, CouponTemplate, Merchant, Redemption
from gonghui.members.models import Member

TABS = ("available", "used", "expired")


def wallet(member: Member, tab: str, now: datetime | None = None) -> QuerySet[Coupon]:
    """The member's coupons on one tab: 可用 (unused and not lapsed), 已使用, 已过期 (and 已作废)."""
    now = now or timezone.now()
    qs = Coupon.objects.filter(member=member).select_related("template", "redeemed_by_merchant")
    if tab == "used":
        return qs.filter(status=CouponStatus.REDEEMED).order_by("-redeemed_at", "-pk")
    if tab == "expired":
        lapsed = Q(status=CouponStatus.ISSUED, valid_until__lte=now)
        return qs.filter(Q(status__in=[CouponStatus.EXPIRED, CouponStatus.REVOKED]) | lapsed).order_by(
            "-valid_until", "-pk"
        )
    return qs.filter(status=CouponStatus.ISSUED, valid_until__gt=now).order_by("valid_until", "pk")


def wallet_counts(member: Member, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    row = Coupon.objects.filter(member=member).aggregate(
        available=Count("pk", filter=Q(status=CouponStatus.ISSUED, valid_until__gt=now)),
        used=Count("pk", filter=Q(status=CouponStatus.REDEEMED)),
        expired=Count(
            "pk",
            filter=Q(status__in=[CouponStatus.EXPIRED, CouponStatus.REVOKED])
            | Q(status=CouponStatus.ISSUED, valid_until__lte=now),
        ),
    )
    return {k: int(v or 0) for k, v in row.items()}


def shown_status(coupon: Coupon, now: datetime | None = None) -> str:
    """The status a member should see (an unused coupon past its end is expired already)."""
    now = now or timezone.now()
    if coupon.status == CouponStatus.ISSUED and coupon.valid_until <= now:
        return CouponStatus.EXPIRED
    return str(coupon.status)


def today_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now())
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def merchant_redemptions(merchant: Merchant) -> QuerySet[Redemption]:
    return (
        Redemption.objects.filter(merchant=merchant)
        .select_related("coupon__template", "coupon__member", "user")
        .order_by("-at", "-pk")
    )


def merchant_today_count(merchant: Merchant, now: datetime | None = None) -> int:
    start = today_start(now)
    return Redemption.objects.filter(merchant=merchant, at__gte=start, at__lt=start + timedelta(days=1)).count()


# --- cadre reads -----------------------------------------------------------------------------


def templates_for(user: Any) -> QuerySet[CouponTemplate]:
    return access.scope(user, CouponTemplate.objects.select_related("org"), Perm.COUPON_VIEW)


def merchants_visible(user: Any) -> QuerySet[Merchant]:
    return access.scope(user, Merchant.objects.select_related("org"), Perm.COUPON_VIEW)


@dataclass(frozen=True)
class TemplateRow:
    template: CouponTemplate
    issued: int
    unused: int
    redeemed: int
    expired: int
    revoked: int

    @property
    def redeem_rate(self) -> int:
        return round(self.redeemed * 100 / self.issued) if self.issued else 0


def template_report(templates: QuerySet[CouponTemplate], now: datetime | None = None) -> list[TemplateRow]:
    """已发放 / 未使用 / 已核销 / 已过期 / 已作废 per template, in one grouped query."""
    now = now or timezone.now()
    rows = {t.pk: t for t in templates}
    counts = (
        Coupon.objects.filter(template_id__in=list(rows))
        .values("template_id")
        .annotate(
            issued=Count("pk"),
            unused=Count("pk", filter=Q(status=CouponStatus.ISSUED, valid_until__gt=now)),
            redeemed=Count("pk", filter=Q(status=CouponStatus.REDEEMED)),
            expired=Count(
                "pk",
                filter=Q(status=CouponStatus.EXPIRED) | Q(status=CouponStatus.ISSUED, valid_until__lte=now),
            ),
            revoked=Count("pk", filter=Q(status=CouponStatus.REVOKED)),
        )
    )
    by_id = {c["template_id"]: c for c in counts}
    result = []
    for pk, template in rows.items():
        c: Any = by_id.get(pk, {})
        result.append(
            TemplateRow(
                template,
                int(c.get("issued", 0)),
                int(c.get("unused", 0)),
                int(c.get("redeemed", 0)),
                int(c.get("expired", 0)),
                int(c.get("revoked", 0)),
            )
        )
    return result


@dataclass(frozen=True)
class MerchantRow:
    merchant: Merchant
    redeemed: int
    today: int
    accounts: int


def merchant_report(merchants: QuerySet[Merchant], now: datetime | None = None) -> list[MerchantRow]:
    start = today_start(now)
    annotated = merchants.annotate(
        n_redeemed=Count("redemptions", distinct=True),
        n_today=Count("redemptions", filter=Q(redemptions__at__gte=start), distinct=True),
        n_accounts=Count("users", filter=Q(users__is_active=True), distinct=True),
    )
    return [MerchantRow(m, m.n_redeemed, m.n_today, m.n_accounts) for m in annotated]  # type: ignore[attr-defined]
