"""The points mall (积分商城): goods a union offers its subtree for points, and orders.

Ledger-grade rules (ARCHITECTURE §4.3–4.4):

- ``Goods.sold`` is only raised by one conditional UPDATE (``sold = sold + q WHERE sold +
  q ≤ stock``) inside the order's transaction, and only lowered by a cancellation that
  won the order's conditional status update; a check constraint keeps ``sold ≤ stock``;
- an order's points move through ``points.ledger`` in the same transaction as its stock,
  its virtual codes or coupons: all or nothing; ``Order.idempotency_key`` is unique, so
  one client request can make one order only;
- ``manage.py check_ledgers`` proves it (``mall.checks``): every goods' ``sold`` is the
  quantity of its live orders, every order's points are its spend entry, every cancelled
  order was refunded exactly its points.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.members.models import Member
from gonghui.orgs.models import Org


class GoodsKind(models.TextChoices):
    PICKUP = "physical_pickup", _("实物·到店自提")
    DELIVERY = "physical_delivery", _("实物·快递配送")
    VIRTUAL = "virtual_code", _("虚拟卡密")
    COUPON = "coupon", _("券")


class GoodsStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    ON_SALE = "on_sale", _("上架中")
    OFF_SALE = "off_sale", _("已下架")


class Goods(models.Model):
    """Something members of ``org``'s subtree may buy with points."""

    org = models.ForeignKey(Org, verbose_name=_("上架工会"), on_delete=models.PROTECT, related_name="mall_goods")
    org_path = models.CharField(max_length=255)
    name = models.CharField(_("商品名称"), max_length=100)
    description = models.TextField(_("商品介绍"), blank=True)
    kind = models.CharField(_("类型"), max_length=20, choices=GoodsKind.choices, default=GoodsKind.PICKUP)
    price_points = models.PositiveIntegerField(_("兑换积分"))
    stock = models.PositiveIntegerField(_("库存总量"), default=0)
    sold = models.PositiveIntegerField(_("已兑换"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("每人限兑"), default=1)
    verified_only = models.BooleanField(_("仅限实名认证会员"), default=True)
    status = models.CharField(_("状态"), max_length=10, choices=GoodsStatus.choices, default=GoodsStatus.DRAFT)
    sale_starts_at = models.DateTimeField(_("开始兑换时间"), null=True, blank=True)
    sale_ends_at = models.DateTimeField(_("结束兑换时间"), null=True, blank=True)
    pickup_place = models.CharField(_("领取地点"), max_length=200, blank=True)
    coupon_template = models.ForeignKey(
        "coupons.CouponTemplate",
        verbose_name=_("兑换的券"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="mall_goods",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("商品")
        verbose_name_plural = _("商品")
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(condition=models.Q(sold__lte=models.F("stock")), name="mall_goods_not_oversold"),
            models.CheckConstraint(condition=models.Q(price_points__gt=0), name="mall_goods_price_positive"),
            models.CheckConstraint(condition=models.Q(per_member_limit__gte=1), name="mall_goods_limit_positive"),
            models.CheckConstraint(
                condition=~models.Q(kind="coupon") | models.Q(coupon_template__isnull=False),
                name="mall_coupon_goods_has_template",
            ),
        ]
        indexes = [
            models.Index(fields=["org_path"], name="mall_goods_path_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["status", "org_path"], name="mall_goods_on_sale_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining(self) -> int:
        return max(self.stock - self.sold, 0)


class GoodsImage(models.Model):
    goods = models.ForeignKey(Goods, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(_("图片"), upload_to="mall/goods/")
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("商品图片")
        verbose_name_plural = _("商品图片")
        ordering = ("position", "id")

    def __str__(self) -> str:
        return f"{self.goods_id}#{self.position}"


class VirtualCode(models.Model):
    """One card code (卡密) of a virtual goods, given to exactly one order."""

    goods = models.ForeignKey(Goods, on_delete=models.PROTECT, related_name="codes")
    code = models.CharField(_("卡密"), max_length=64)
    order = models.ForeignKey(
        "mall.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="virtual_codes"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("卡密")
        verbose_name_plural = _("卡密")
        constraints = [models.UniqueConstraint(fields=["goods", "code"], name="mall_code_once_per_goods")]
        indexes = [
            models.Index(fields=["goods", "id"], name="mall_code_free_idx", condition=models.Q(order__isnull=True))
        ]

    def __str__(self) -> str:
        return f"{self.goods_id}:{self.code[:2]}…"

    @property
    def masked(self) -> str:
        if len(self.code) <= 6:
            return "*" * len(self.code)
        return self.code[:2] + "*" * (len(self.code) - 4) + self.code[-2:]


class OrderStatus(models.TextChoices):
    PLACED = "placed", _("待发货")
    PICKUP_READY = "pickup_ready", _("待领取")
    SHIPPED = "shipped", _("已发货")
    DELIVERED_CODE = "delivered_code", _("已发放卡密")
    COUPON_ISSUED = "coupon_issued", _("已发券")
    RECEIVED = "received", _("已签收")
    PICKED_UP = "picked_up", _("已领取")
    CANCELLED = "cancelled", _("已取消（积分已退回）")


# A member may cancel until the goods leave the union's hands; a cadre also after shipping
# (a parcel that came back). Codes and coupons, once shown, cannot be taken back.
MEMBER_CANCELLABLE = (OrderStatus.PLACED, OrderStatus.PICKUP_READY)
CADRE_CANCELLABLE = (OrderStatus.PLACED, OrderStatus.PICKUP_READY, OrderStatus.SHIPPED)
# Orders that hold stock: every status but cancelled.
LIVE = [s for s in OrderStatus.values if s != OrderStatus.CANCELLED]


class Order(models.Model):
    goods = models.ForeignKey(Goods, on_delete=models.PROTECT, related_name="orders")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="mall_orders")
    # The goods' union path: the cadres who fulfil read orders of their subtree's goods.
    org_path = models.CharField(max_length=255)
    quantity = models.PositiveSmallIntegerField(_("数量"), default=1)
    points = models.PositiveIntegerField(_("积分"))
    status = models.CharField(_("状态"), max_length=16, choices=OrderStatus.choices, default=OrderStatus.PLACED)
    idempotency_key = models.CharField(max_length=160, unique=True)
    spend_entry = models.OneToOneField(
        "points.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="mall_order"
    )
    refund_entry = models.OneToOneField(
        "points.Entry", null=True, blank=True, on_delete=models.PROTECT, related_name="mall_refunded_order"
    )
    pickup_code = models.CharField(_("取货码"), max_length=12, null=True, blank=True, unique=True)
    recipient_name = models.CharField(_("收货人"), max_length=50, blank=True)
    recipient_mobile = models.CharField(_("联系电话"), max_length=20, blank=True)
    address = models.CharField(_("收货地址"), max_length=200, blank=True)
    carrier = models.CharField(_("快递公司"), max_length=50, blank=True)
    tracking_number = models.CharField(_("快递单号"), max_length=64, blank=True)
    cancel_reason = models.CharField(_("取消原因"), max_length=200, blank=True)
    cancel_key = models.CharField(max_length=160, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("取消时间"), null=True, blank=True)
    fulfilled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fulfilled_at = models.DateTimeField(_("发货/发放时间"), null=True, blank=True)
    completed_at = models.DateTimeField(_("签收/领取时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("下单时间"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("兑换订单")
        verbose_name_plural = _("兑换订单")
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="mall_order_quantity_positive"),
            models.CheckConstraint(condition=models.Q(points__gt=0), name="mall_order_points_positive"),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="mall_order_member_idx"),
            models.Index(fields=["goods", "member"], name="mall_order_goods_member_idx"),
            models.Index(
                fields=["org_path", "status"],
                name="mall_order_path_idx",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number}"

    @property
    def number(self) -> str:
        """订单号 as members and cadres say it."""
        return f"M{self.pk:08d}" if self.pk else "M-"

    @property
    def is_delivery(self) -> bool:
        return bool(self.address)

    def masked_address(self) -> dict[str, Any]:
        from gonghui.core.pii import mask_mobile, mask_name

        return {
            "name": mask_name(self.recipient_name),
            "mobile": mask_mobile(self.recipient_mobile),
            "address": (self.address[:6] + "****") if self.address else "",
        }
