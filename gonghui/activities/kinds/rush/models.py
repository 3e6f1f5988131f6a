"""Tables of the rush kind (抢票/抢券): ticket types with their stock, and grants.

``RushItem.remaining`` is the stock left. It only ever moves through one conditional
statement each way (``actions.grab``: ``remaining - 1 WHERE remaining > 0``;
``actions.cancel``: ``remaining + 1``), and the check constraints keep it between 0 and
``stock`` whatever code runs: the database is the last line against oversell.

``Grant`` is one member's ticket. One per member and activity, ever (a cancelled grant
keeps its row and the member does not grab again): the unique constraint is the guard
against a second grant, with the activity's ``Participation`` row as a second one.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import Activity
from gonghui.coupons.models import Coupon, CouponTemplate
from gonghui.members.models import Member


class RushItem(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="rush_items")
    name = models.CharField(_("票种名称"), max_length=80, help_text=_("如：平安返乡专列 G1234"))
    detail = models.CharField(_("说明"), max_length=200, blank=True, help_text=_("如：2027-01-28 广州南→长沙南"))
    stock = models.PositiveIntegerField(_("投放数量"))
    remaining = models.IntegerField(_("剩余数量"))
    position = models.PositiveSmallIntegerField(default=0)
    # A rush of coupons (抢券): each grant of this item puts one coupon of the template in
    # the member's wallet, in the grab's transaction (``actions.grab``).
    coupon_template = models.ForeignKey(
        CouponTemplate,
        verbose_name=_("发放的券"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rush_items",
    )

    class Meta:
        verbose_name = _("票种")
        verbose_name_plural = _("票种")
        ordering = ["position", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(remaining__gte=0), name="rush_item_remaining_not_negative"),
            models.CheckConstraint(
                condition=models.Q(remaining__lte=models.F("stock")), name="rush_item_remaining_within_stock"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def granted(self) -> int:
        return self.stock - self.remaining


class GrantStatus(models.TextChoices):
    GRANTED = "granted", _("已抢到")
    CANCELLED = "cancelled", _("已取消")
    REDEEMED = "redeemed", _("已核销")


class Grant(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="rush_grants")
    item = models.ForeignKey(RushItem, on_delete=models.PROTECT, related_name="grants")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="rush_grants")
    # The redemption code the member shows (as text and as a signed QR, see ``codes``).
    code = models.CharField(_("兑换码"), max_length=16, unique=True)
    status = models.CharField(_("状态"), max_length=16, choices=GrantStatus.choices, default=GrantStatus.GRANTED)
    # The member's union at the time (charts by sub-union, scoped lists).
    org_path = models.CharField(max_length=255)
    created_at = models.DateTimeField(_("抢到时间"), default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeemed_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The coupon a coupon item issued with this grant (revoked when the grant is cancelled).
    coupon = models.OneToOneField(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="rush_grant")

    class Meta:
        verbose_name = _("抢票记录")
        verbose_name_plural = _("抢票记录")
        constraints = [models.UniqueConstraint(fields=["activity", "member"], name="rush_grant_once")]
        indexes = [models.Index(fields=["activity", "item", "status"], name="rush_grant_item_idx")]

    def __str__(self) -> str:
        return self.code
