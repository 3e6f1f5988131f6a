"""Coupons (粤工惠券): merchants, coupon templates, the coupons members hold, redemptions.

Ledger-grade rules, as for points (ARCHITECTURE §4.3–4.4):

- a template's stock is ``quantity``; ``issued`` counts the coupons made from it and is
  only ever raised by one conditional UPDATE (``issued = issued + 1 WHERE issued <
  quantity``), so two issuers racing for the last coupon cannot both get it; a check
  constraint keeps ``issued ≤ quantity`` as the last line;
- every coupon carries a unique idempotency key: the same event (a lottery prize, a mall
  order, one member of a bulk issue) can never make two coupons;
- a coupon is redeemed (核销) by one conditional UPDATE on its own row
  (``status='issued' AND valid window contains now``) and exactly one ``Redemption`` row,
  unique per coupon and append-only (a PostgreSQL trigger refuses UPDATE and DELETE);
- ``manage.py check_ledgers`` proves it (``coupons.checks``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.members.models import Member
from gonghui.orgs.models import Org


class MerchantKind(models.TextChoices):
    SANATORIUM = "sanatorium", _("疗休养基地")
    HOT_SPRING = "hot_spring", _("温泉")
    SCENIC = "scenic", _("景区")
    CINEMA = "cinema", _("影院")
    DINING = "dining", _("餐饮")
    OTHER = "other", _("其他")


class MerchantStatus(models.TextChoices):
    ACTIVE = "active", _("合作中")
    SUSPENDED = "suspended", _("已暂停")


class Merchant(models.Model):
    """A partner business that accepts coupons, signed up by a union (scoped by its path)."""

    org = models.ForeignKey(Org, verbose_name=_("签约工会"), on_delete=models.PROTECT, related_name="merchants")
    org_path = models.CharField(max_length=255)
    name = models.CharField(_("商户名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=16, choices=MerchantKind.choices, default=MerchantKind.OTHER)
    address = models.CharField(_("地址"), max_length=200, blank=True)
    contact = models.CharField(_("联系人及电话"), max_length=100, blank=True)
    status = models.CharField(_("状态"), max_length=16, choices=MerchantStatus.choices, default=MerchantStatus.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("合作商户")
        verbose_name_plural = _("合作商户")
        ordering = ("name", "id")
        indexes = [models.Index(fields=["org_path"], name="merchant_path_idx", opclasses=["varchar_pattern_ops"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == MerchantStatus.ACTIVE


class MerchantUser(models.Model):
    """An ordinary user account that works for a merchant (核销员). One merchant per account."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="users")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="merchant_link")
    is_active = models.BooleanField(_("有效"), default=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("商户核销账号")
        verbose_name_plural = _("商户核销账号")

    def __str__(self) -> str:
        return f"{self.merchant_id}:{self.user_id}"


class CouponCategory(models.TextChoices):
    SANATORIUM = "sanatorium", _("疗休养客房")
    HOT_SPRING = "hot_spring", _("温泉")
    SCENIC = "scenic", _("景区门票")
    CINEMA = "cinema", _("电影票")
    MEAL = "meal", _("餐饮")
    OTHER = "other", _("其他")


class ValidityKind(models.TextChoices):
    FIXED = "fixed", _("固定有效期")
    RELATIVE = "relative", _("领取后若干天内有效")


class TemplateStatus(models.TextChoices):
    ACTIVE = "active", _("发放中")
    PAUSED = "paused", _("暂停发放")
    CLOSED = "closed", _("已停用")


class CouponTemplate(models.Model):
    """A kind of coupon a union offers to its subtree: what it is worth, where, how long, how many."""

    org = models.ForeignKey(Org, verbose_name=_("发券工会"), on_delete=models.PROTECT, related_name="coupon_templates")
    org_path = models.CharField(max_length=255)
    name = models.CharField(_("券名称"), max_length=100)
    category = models.CharField(_("类别"), max_length=16, choices=CouponCategory.choices, default=CouponCategory.OTHER)
    face_value_fen = models.PositiveIntegerField(_("面值（分）"), null=True, blank=True)
    benefit = models.CharField(_("权益说明"), max_length=200, blank=True)
    terms = models.TextField(_("使用须知"), blank=True)
    validity_kind = models.CharField(
        _("有效期方式"), max_length=8, choices=ValidityKind.choices, default=ValidityKind.FIXED
    )
    valid_from = models.DateTimeField(_("生效时间"), null=True, blank=True)
    valid_until = models.DateTimeField(_("失效时间"), null=True, blank=True)
    valid_days = models.PositiveSmallIntegerField(_("领取后有效天数"), null=True, blank=True)
    quantity = models.PositiveIntegerField(_("发行总量"))
    issued = models.PositiveIntegerField(_("已发放"), default=0)
    per_member_limit = models.PositiveSmallIntegerField(_("每人限领"), default=1)
    verified_only = models.BooleanField(_("仅限实名认证会员"), default=True)
    merchants = models.ManyToManyField(Merchant, verbose_name=_("适用商户"), related_name="templates", blank=True)
    status = models.CharField(_("状态"), max_length=8, choices=TemplateStatus.choices, default=TemplateStatus.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("券模板")
        verbose_name_plural = _("券模板")
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(issued__lte=models.F("quantity")), name="coupon_stock_not_oversold"
            ),
            models.CheckConstraint(condition=models.Q(per_member_limit__gte=1), name="coupon_limit_at_least_one"),
        ]
        indexes = [
            models.Index(fields=["org_path"], name="coupon_template_path_idx", opclasses=["varchar_pattern_ops"])
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def remaining(self) -> int:
        return max(self.quantity - self.issued, 0)

    @property
    def value_label(self) -> str:
        """面值 ¥50.00, or the benefit in words."""
        if self.face_value_fen:
            return f"¥{self.face_value_fen // 100}.{self.face_value_fen % 100:02d}"
        return self.benefit


class CouponStatus(models.TextChoices):
    ISSUED = "issued", _("未使用")
    REDEEMED = "redeemed", _("已使用")
    EXPIRED = "expired", _("已过期")
    REVOKED = "revoked", _("已作废")


class CouponSource(models.TextChoices):
    WELFARE = "welfare", _("普惠发放")
    LOTTERY = "lottery", _("抽奖")
    POINTS = "points", _("积分兑换")
    RUSH = "rush", _("抢券")
    GRANT = "grant", _("工会发放")


class Coupon(models.Model):
    """One coupon in one member's wallet. ``code`` is what a merchant types (12 characters
    of Crockford base32, shown as XXXX-XXXX-XXXX); the QR holds it signed (``coupons.tokens``)."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="coupons")
    # The issuing union's path (the template's): cadres read the coupons of their templates.
    org_path = models.CharField(max_length=255)
    code = models.CharField(_("券码"), max_length=16, unique=True)
    status = models.CharField(_("状态"), max_length=10, choices=CouponStatus.choices, default=CouponStatus.ISSUED)
    issued_at = models.DateTimeField(_("发放时间"))
    valid_from = models.DateTimeField(_("生效时间"))
    valid_until = models.DateTimeField(_("失效时间"))
    source = models.CharField(_("来源"), max_length=10, choices=CouponSource.choices)
    source_id = models.CharField(_("来源编号"), max_length=64, blank=True)
    idempotency_key = models.CharField(max_length=128, unique=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    redeemed_at = models.DateTimeField(_("核销时间"), null=True, blank=True)
    redeemed_by_merchant = models.ForeignKey(
        Merchant, null=True, blank=True, on_delete=models.PROTECT, related_name="redeemed_coupons"
    )
    redeemed_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("券")
        verbose_name_plural = _("券")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="redeemed")
                | models.Q(redeemed_at__isnull=False, redeemed_by_merchant__isnull=False),
                name="coupon_redeemed_has_who_and_when",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "status", "-issued_at"], name="coupon_wallet_idx"),
            models.Index(fields=["template", "member"], name="coupon_template_member_idx"),
            models.Index(fields=["valid_until"], name="coupon_due_idx", condition=models.Q(status="issued")),
            models.Index(fields=["org_path"], name="coupon_path_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.display_code

    @property
    def display_code(self) -> str:
        return "-".join(self.code[i : i + 4] for i in range(0, len(self.code), 4))


class Redemption(models.Model):
    """The record of one coupon's redemption: append-only, at most one per coupon."""

    coupon = models.OneToOneField(Coupon, on_delete=models.PROTECT, related_name="redemption")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="redemptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The template's union path (reports per template are scoped by it).
    org_path = models.CharField(max_length=255)
    at = models.DateTimeField(_("核销时间"))
    # The redeeming client's Idempotency-Key (derived per user): a retried request returns this row.
    idempotency_key = models.CharField(max_length=160, unique=True, null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("核销记录")
        verbose_name_plural = _("核销记录")
        indexes = [models.Index(fields=["merchant", "-at"], name="redemption_merchant_idx")]

    def __str__(self) -> str:
        return f"{self.coupon_id}@{self.merchant_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("redemptions are append-only")
        super().save(*args, **kwargs)


class BulkIssueStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("发放中")
    DONE = "done", _("已完成")
    STOPPED = "stopped", _("已停止（库存不足）")


class BulkIssue(models.Model):
    """A welfare action (普惠发放): one coupon of a template to each member of a filtered subtree.

    Walked in member-id order; each batch issues its coupons and stores ``cursor`` in one
    transaction, and each coupon's key is ``bulk:<job>:<member>``, so a worker killed at any
    point resumes after the last committed batch and never issues a coupon twice.
    """

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="bulk_issues")
    org = models.ForeignKey(Org, verbose_name=_("发放范围"), on_delete=models.PROTECT, related_name="+")
    org_path = models.CharField(max_length=255)  # the audience root's path
    filters = models.JSONField(_("筛选条件"), default=dict, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=BulkIssueStatus.choices, default=BulkIssueStatus.QUEUED)
    total = models.PositiveIntegerField(_("符合条件人数"), default=0)
    processed = models.PositiveIntegerField(_("已处理"), default=0)
    issued = models.PositiveIntegerField(_("已发放"), default=0)
    skipped = models.PositiveIntegerField(_("未发放"), default=0)
    # Why members were skipped: {"COUPON_LIMIT_REACHED": 3, "COUPON_VERIFIED_ONLY": 12}.
    skip_reasons = models.JSONField(default=dict, blank=True)
    cursor = models.BigIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("批量发券")
        verbose_name_plural = _("批量发券")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.template_id} → {self.org_id}"

    @property
    def percent(self) -> int:
        if not self.total:
            return 0 if self.is_open else 100
        return min(100, self.processed * 100 // self.total)

    @property
    def is_open(self) -> bool:
        return self.status in (BulkIssueStatus.QUEUED, BulkIssueStatus.RUNNING)
