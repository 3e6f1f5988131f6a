"""Tables of the sign-up kind (报名): the seat counter and the registrations.

``Seats`` is one row per sign-up activity. It is the single place where capacity is
decided: taking a seat is one conditional UPDATE (``taken = taken + 1 WHERE taken <
capacity``), and a CHECK constraint (``taken <= capacity``) stands behind it. ``taken``
counts confirmed registrations *and* open offers (a seat offered to a waitlisted member
is held for them until they confirm, decline or the offer expires), so confirmed plus
offered never exceeds capacity. ``waiting`` counts waitlisted registrations, bounded by
``waitlist_limit`` the same way; ``last_position`` hands out waitlist positions in the
order members reached the row.

``Registration`` is one row per attempt; a partial unique constraint allows one *live*
registration (confirmed, waitlisted, offered) per member and activity, so a member can
sign up again after cancelling, but never hold two places.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import Activity
from gonghui.members.models import Member


class RegistrationStatus(models.TextChoices):
    CONFIRMED = "confirmed", _("报名成功")
    WAITLISTED = "waitlisted", _("候补中")
    OFFERED = "offered", _("递补待确认")
    CANCELLED = "cancelled", _("已取消")
    EXPIRED = "expired", _("递补已过期")
    DECLINED = "declined", _("已放弃递补")


LIVE_STATUSES = (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED, RegistrationStatus.OFFERED)


class Seats(models.Model):
    activity = models.OneToOneField(Activity, primary_key=True, on_delete=models.CASCADE, related_name="signup_seats")
    capacity = models.PositiveIntegerField()
    taken = models.PositiveIntegerField(default=0)  # confirmed + offered
    waiting = models.PositiveIntegerField(default=0)  # waitlisted
    # ``None``: no limit; 0: no waitlist at all.
    waitlist_limit = models.PositiveIntegerField(null=True, blank=True)
    last_position = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("报名名额")
        verbose_name_plural = _("报名名额")
        constraints = [
            models.CheckConstraint(condition=models.Q(taken__lte=models.F("capacity")), name="signup_seats_capacity"),
            models.CheckConstraint(
                condition=models.Q(waitlist_limit__isnull=True) | models.Q(waiting__lte=models.F("waitlist_limit")),
                name="signup_seats_waitlist",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}: {self.taken}/{self.capacity}"


class Registration(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="signup_registrations")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    # The member's union when they signed up: the console filters and scopes by it.
    org_path = models.CharField(max_length=255)
    status = models.CharField(_("状态"), max_length=16, choices=RegistrationStatus.choices)
    answers = models.JSONField(_("报名信息"), default=dict, blank=True)
    # Waitlist ticket number (1, 2, 3 … in arrival order); kept after promotion.
    position = models.PositiveIntegerField(_("候补序号"), null=True, blank=True)
    # What the member shows at the door: typed as is, or inside the signed QR.
    ticket_code = models.CharField(_("签到码"), max_length=12)
    offered_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("递补确认截止"), null=True, blank=True)
    checked_in_at = models.DateTimeField(_("签到时间"), null=True, blank=True)
    checked_in_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("报名时间"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("报名")
        verbose_name_plural = _("报名")
        constraints = [
            models.UniqueConstraint(
                fields=["activity", "member"],
                condition=models.Q(status__in=[s.value for s in LIVE_STATUSES]),
                name="signup_one_live_registration",
            ),
            models.UniqueConstraint(
                fields=["activity", "position"],
                condition=models.Q(position__isnull=False),
                name="signup_position_once",
            ),
            models.UniqueConstraint(fields=["activity", "ticket_code"], name="signup_ticket_code_once"),
        ]
        indexes = [
            models.Index(fields=["activity", "status", "position"], name="signup_status_pos_idx"),
            models.Index(fields=["member", "activity"], name="signup_member_idx"),
            models.Index(fields=["status", "offer_expires_at"], name="signup_offer_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.member_id}:{self.status}"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def status_label(self) -> str:
        return str(RegistrationStatus(self.status).label)

    @property
    def ticket_display(self) -> str:
        return f"{self.ticket_code[:4]}-{self.ticket_code[4:]}"
