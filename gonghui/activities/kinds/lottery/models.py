"""Tables of the lottery kind: prizes, the seed commitment, entries and wins.

The draw is verifiable (docs/ACTIVITIES.md, "抽奖 lottery"): on publish the server draws a
secret 32-byte seed and publishes only its SHA-256 (``Draw.commitment``); every entry gets
a random public code; at the draw the seed is revealed (``Draw.seed_hex``) and anyone can
recompute the winners from the sorted entry codes with ``scripts/verify_lottery.py``.
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import Activity
from gonghui.coupons.models import Coupon, CouponTemplate
from gonghui.members.models import Member


class Prize(models.Model):
    """One prize line ("一等奖 ×1"); its ``quantity`` slots are drawn in ``order``."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="lottery_prizes")
    name = models.CharField(_("奖品名称"), max_length=80)
    quantity = models.PositiveIntegerField(_("数量"))
    order = models.PositiveIntegerField(_("排序"), default=0, help_text=_("数字小的先抽，一般一等奖在前。"))
    image = models.ImageField(_("奖品图片"), upload_to="activities/prizes/", blank=True)
    claim_instructions = models.TextField(_("领奖说明"), blank=True, help_text=_("领奖地点、时间、需携带的证件等。"))
    # A prize that is a coupon: each winner gets one in their wallet at the draw
    # (``actions.draw_locked``); the template is the organiser union's or a union's above.
    coupon_template = models.ForeignKey(
        CouponTemplate,
        verbose_name=_("奖品券"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lottery_prizes",
    )

    class Meta:
        verbose_name = _("奖品")
        verbose_name_plural = _("奖品")
        ordering = ["order", "pk"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gte=1), name="lottery_prize_quantity")]

    def __str__(self) -> str:
        return f"{self.name} ×{self.quantity}"


class Draw(models.Model):
    """The seed of one lottery: committed on publish, revealed at the draw.

    ``seed_enc`` is the seed encrypted with the PII keys (``core.pii``): a database reader
    cannot learn it before the draw and so cannot predict the winners. ``seed_hex`` stays
    empty until the draw, when it becomes public.
    """

    activity = models.OneToOneField(Activity, on_delete=models.CASCADE, related_name="lottery_draw")
    commitment = models.CharField(max_length=64)
    seed_enc = models.BinaryField()
    seed_hex = models.CharField(max_length=64, blank=True)
    committed_at = models.DateTimeField()
    drawn_at = models.DateTimeField(null=True, blank=True)
    drawn_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entry_count = models.PositiveIntegerField(default=0)
    # SHA-256 of the published entry list (sorted codes joined by "\n"), fixed at the draw.
    entries_sha256 = models.CharField(max_length=64, blank=True)
    redraw_rounds = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("开奖")
        verbose_name_plural = _("开奖")

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.commitment[:12]}"

    @property
    def is_drawn(self) -> bool:
        return self.drawn_at is not None


class Entry(models.Model):
    """A member's one entry; ``code`` is its pseudonym on the public list."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="lottery_entries")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="lottery_entries")
    code = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("抽奖参与")
        verbose_name_plural = _("抽奖参与")
        constraints = [
            # The last line against a double entry (two taps, two phones): see actions.enter.
            models.UniqueConstraint(fields=["activity", "member"], name="lottery_entry_once"),
            models.UniqueConstraint(fields=["activity", "code"], name="lottery_entry_code_unique"),
        ]

    def __str__(self) -> str:
        return self.code


class WinStatus(models.TextChoices):
    WON = "won", _("待领奖")
    CLAIMED = "claimed", _("已确认领奖")
    HANDED_OVER = "handed_over", _("已兑奖")
    EXPIRED = "expired", _("逾期未领")
    REDRAWN = "redrawn", _("逾期已重抽")


class Win(models.Model):
    """One drawn slot: which entry won which prize, in which round, and the claim's state.

    ``slot`` numbers the prize units in draw order (0, 1, …); ``round`` 0 is the draw,
    1, 2, … are redraws of slots whose winner did not claim in time. A slot can have
    several rows (one per round); the newest is the live one.
    """

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="lottery_wins")
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="wins")
    prize = models.ForeignKey(Prize, on_delete=models.PROTECT, related_name="wins")
    slot = models.PositiveIntegerField()
    round = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=WinStatus.choices, default=WinStatus.WON)
    claim_deadline = models.DateTimeField()
    claim_code = models.CharField(max_length=16, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    handed_over_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The coupon a coupon prize put in the winner's wallet; set with ``handed_over``.
    coupon = models.OneToOneField(Coupon, null=True, blank=True, on_delete=models.PROTECT, related_name="lottery_win")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("中奖记录")
        verbose_name_plural = _("中奖记录")
        ordering = ["slot", "round"]
        constraints = [
            # An entry wins at most once; a slot is drawn once per round.
            models.UniqueConstraint(fields=["activity", "entry"], name="lottery_win_entry_once"),
            models.UniqueConstraint(fields=["activity", "round", "slot"], name="lottery_win_slot_round"),
            # A coupon in the wallet is the prize handed over: such a win is never redrawn.
            models.CheckConstraint(
                condition=models.Q(coupon__isnull=True) | models.Q(status="handed_over"),
                name="lottery_win_coupon_handed_over",
            ),
        ]
        indexes = [models.Index(fields=["status", "claim_deadline"], name="lottery_win_due_idx")]

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.slot}:{self.round}"
