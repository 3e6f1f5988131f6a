"""The points ledger: one account per member, append-only entries, and lots that expire.

Money-grade rules (ARCHITECTURE §4.3):

- amounts are integers (points); every entry carries an idempotency key, unique across the
  ledger, so the same event can never pay twice;
- ``Account.balance`` is kept in step with the entries inside the same transaction (the
  account row is locked for every write) and a check constraint keeps it ≥ 0;
- every earned point lives in a ``Lot`` that expires ``POINTS_EXPIRY_MONTHS`` after it was
  earned; spending consumes lots first-in-first-out (soonest expiry first); ``LotUse`` rows
  record which entry took or gave back how much of which lot;
- entries and lot uses are never updated or deleted (a PostgreSQL trigger refuses it);
  ``manage.py check_ledgers`` proves: balance = Σ entries = Σ lot remainders, every lot's
  remainder = its amount − Σ its uses, every entry's ``balance_after`` follows the chain.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.members.models import Member


class EntryKind(models.TextChoices):
    EARN = "earn", _("获得")
    SPEND = "spend", _("消费")
    REFUND = "refund", _("退回")
    EXPIRE = "expire", _("过期")
    ADJUST = "adjust", _("调整")


class SourceType(models.TextChoices):
    RULE = "rule", _("积分规则")
    ACTIVITY = "activity", _("参与活动")
    ORDER = "order", _("积分商城订单")
    GRANT = "grant", _("工会发放")
    EXPIRY = "expiry", _("到期清零")


class Account(models.Model):
    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="points_account")
    # The member's union path: cadres read accounts of their subtree.
    org_path = models.CharField(max_length=255)
    balance = models.BigIntegerField(_("积分余额"), default=0)
    earned_total = models.BigIntegerField(_("累计获得"), default=0)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("积分账户")
        verbose_name_plural = _("积分账户")
        constraints = [models.CheckConstraint(condition=models.Q(balance__gte=0), name="points_balance_not_negative")]
        indexes = [models.Index(fields=["org_path"], name="points_account_path_idx", opclasses=["varchar_pattern_ops"])]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class Entry(models.Model):
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("类型"), max_length=8, choices=EntryKind.choices)
    amount = models.BigIntegerField(_("积分变动"))  # signed: + earn/refund/adjust up, − spend/expire/adjust down
    balance_after = models.BigIntegerField(_("变动后余额"))
    source_type = models.CharField(_("来源"), max_length=16, choices=SourceType.choices)
    source_id = models.CharField(_("来源编号"), max_length=64, blank=True)
    reason = models.CharField(_("说明"), max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=128, unique=True)
    # The entry this one reverses (a refund names the spend it gives back).
    reverses = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("积分明细")
        verbose_name_plural = _("积分明细")
        constraints = [
            models.CheckConstraint(condition=~models.Q(amount=0), name="points_entry_not_zero"),
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="points_entry_balance_not_negative"),
        ]
        indexes = [models.Index(fields=["account", "id"], name="points_entry_account_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("points entries are append-only")
        super().save(*args, **kwargs)


class Lot(models.Model):
    """Points earned together, expiring together."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(Entry, on_delete=models.PROTECT, related_name="lot")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="points_lot_positive"),
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0, remaining__lte=models.F("amount")),
                name="points_lot_remaining_range",
            ),
        ]
        indexes = [
            models.Index(fields=["account", "expires_at", "id"], name="points_lot_fifo_idx"),
            models.Index(fields=["expires_at"], name="points_lot_due_idx", condition=models.Q(remaining__gt=0)),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class LotUse(models.Model):
    """How much of a lot an entry took (positive) or gave back (negative)."""

    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="lot_uses")
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="uses")
    amount = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=~models.Q(amount=0), name="points_lotuse_not_zero")]

    def __str__(self) -> str:
        return f"{self.entry_id}→{self.lot_id}: {self.amount}"


# --- earning rules ----------------------------------------------------------------------


class RuleKind(models.TextChoices):
    SIGNIN = "signin", _("每日签到")
    READ_NEWS = "read_news", _("阅读资讯")
    ACTIVITY = "activity", _("参与活动")
    JOIN = "join", _("入会")
    VERIFY = "verify", _("实名认证")
    OVERALL = "overall", _("每日/每月总上限")


class EarningRule(models.Model):
    """One version of a union's rule for one way of earning.

    Versions are never edited: a change is a new row with a later ``effective_from``, so
    past awards keep the rule they were paid under. A member is paid by the nearest union
    on their path (their own union first, then its parents) that has a version of that
    kind in effect; ``points = 0`` switches earning off for a subtree.
    """

    org = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="earning_rules")
    org_path = models.CharField(max_length=255)
    kind = models.CharField(_("规则"), max_length=16, choices=RuleKind.choices)
    points = models.PositiveIntegerField(_("每次积分"), default=0)
    daily_cap = models.PositiveIntegerField(_("每日上限"), null=True, blank=True)
    monthly_cap = models.PositiveIntegerField(_("每月上限"), null=True, blank=True)
    streak_days = models.PositiveSmallIntegerField(_("连续签到天数"), default=0)
    streak_bonus = models.PositiveIntegerField(_("连续签到奖励"), default=0)
    min_read_seconds = models.PositiveSmallIntegerField(_("最短阅读秒数"), default=10)
    effective_from = models.DateTimeField(_("生效时间"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("积分规则")
        verbose_name_plural = _("积分规则")
        constraints = [
            models.UniqueConstraint(fields=["org", "kind", "effective_from"], name="earning_rule_version_once")
        ]
        indexes = [models.Index(fields=["kind", "org_path", "effective_from"], name="earning_rule_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise RuntimeError("earning rule versions are never edited: add a new version")
        super().save(*args, **kwargs)


class SignIn(models.Model):
    """A member's daily sign-in (每日签到) and the streak it continued."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="sign_ins")
    on_date = models.DateField()
    streak = models.PositiveIntegerField(default=1)
    points = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "on_date"], name="sign_in_once_a_day")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.on_date}"
