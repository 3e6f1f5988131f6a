"""Reads of the mall: what a member may see and buy, what a cadre may manage and fulfil."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, Prefetch, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.mall.models import LIVE, Goods, GoodsImage, GoodsStatus, Order, OrderStatus
from gonghui.members.models import Member
from gonghui.orgs.models import Org


def ancestor_paths(path: str) -> list[str]:
    """The path of every union from the root down to (and including) ``path``."""
    step = Org.steplen
    return [path[:i] for i in range(step, len(path) + 1, step)]


def shop(member: Member) -> QuerySet[Goods]:
    """Goods offered to ``member``: by their union or one above it, on sale, in the sale
    window, not sold out; newest first. Images come prefetched."""
    now = timezone.now()
    return (
        Goods.objects.filter(org_path__in=ancestor_paths(member.org_path), status=GoodsStatus.ON_SALE)
        .filter(Q(sale_starts_at__isnull=True) | Q(sale_starts_at__lte=now))
        .filter(Q(sale_ends_at__isnull=True) | Q(sale_ends_at__gt=now))
        .filter(sold__lt=F("stock"))
        .select_related("org")
        .prefetch_related(Prefetch("images", queryset=GoodsImage.objects.order_by("position", "id")))
        .order_by("-created_at", "-id")
    )


def visible_goods(member: Member) -> QuerySet[Goods]:
    """Goods a member may open (on sale or not, sold out or not) — anything else is a 404."""
    return Goods.objects.filter(
        org_path__in=ancestor_paths(member.org_path), status__in=[GoodsStatus.ON_SALE, GoodsStatus.OFF_SALE]
    ).select_related("org", "coupon_template")


def my_orders(member: Member) -> QuerySet[Order]:
    return Order.objects.filter(member=member).select_related("goods").order_by("-created_at", "-id")


def managed_goods(user: Any) -> QuerySet[Goods]:
    return access.scope(user, Goods.objects.select_related("org"), Perm.MALL_MANAGE)


def fulfil_orders(user: Any, *, status: str = "", goods_id: int | None = None) -> QuerySet[Order]:
    qs = access.scope(user, Order.objects.select_related("goods", "member"), Perm.MALL_FULFIL)
    if status in OrderStatus.values:
        qs = qs.filter(status=status)
    if goods_id:
        qs = qs.filter(goods_id=goods_id)
    return qs.order_by("-created_at", "-id")


def status_counts(user: Any) -> dict[str, int]:
    rows = access.scope(user, Order.objects.all(), Perm.MALL_FULFIL).values("status").annotate(n=Count("id")).order_by()
    return {row["status"]: row["n"] for row in rows}


def report(user: Any, *, org: Org | None = None, limit: int = 30) -> list[dict[str, Any]]:
    """Orders and points per goods in the cadre's subtree (cancelled orders excluded)."""
    goods = managed_goods(user)
    if org is not None:
        goods = goods.filter(org_path__startswith=org.path)
    live = Q(orders__status__in=LIVE)
    rows = (
        goods.annotate(
            orders_n=Count("orders", filter=live),
            points_n=Coalesce(Sum("orders__points", filter=live), Value(0)),
            cancelled_n=Count("orders", filter=Q(orders__status=OrderStatus.CANCELLED)),
        )
        .order_by("-points_n", "-orders_n", "id")
        .values("id", "name", "org__name", "kind", "stock", "sold", "orders_n", "points_n", "cancelled_n")[:limit]
    )
    return [{**row, "points_n": int(row["points_n"] or 0)} for row in rows]
