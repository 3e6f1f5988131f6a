"""Every change to a sign-up: sign up, cancel, confirm or decline an offer, expire offers,
check in, and the organiser cancelling someone.

Locking. The ``Seats`` row of the activity is the one lock of a sign-up. Every transition
that moves a seat or a waitlist place holds it (sign-up takes it with its conditional
UPDATE, the others with ``SELECT … FOR UPDATE`` before touching a registration), so
while it is held the waitlist cannot change under us and "who is next" has one answer.
Transitions that move no seat (confirming an offer, checking in) touch only their own
registration row with a conditional UPDATE on its status.

The database is the last line: ``taken <= capacity`` and one live registration per
member and activity are constraints; a conditional UPDATE that matches no row means
someone else got there first, and the caller is told so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities import eligibility
from gonghui.activities.kinds.signup import tickets
from gonghui.activities.kinds.signup.config import SignUpRules, clean_answers
from gonghui.activities.kinds.signup.models import LIVE_STATUSES, Registration, RegistrationStatus, Seats
from gonghui.activities.models import Activity, ActivityStatus
from gonghui.core import audit, pii
from gonghui.core.errors import Conflict, DomainError
from gonghui.inbox.actions import notify
from gonghui.inbox.models import MessageKind
from gonghui.members.card_tokens import check as check_card
from gonghui.members.models import Member

S = RegistrationStatus


class SignUpFull(Conflict):
    code = "SIGNUP_FULL"


def _panel_link(activity_id: int) -> str:
    # The domain names the page by URL name only; without the portal mounted, no link.
    for name in ("portal:activity_detail", "portal:activity_signup_home"):
        try:
            return reverse(name, kwargs={"activity_id": activity_id})
        except NoReverseMatch:
            continue
    return ""


def ensure_seats(activity: Activity) -> Seats:
    """The activity's seat counter, created from its settings if missing."""
    rules = SignUpRules.of(activity)
    seats, created = Seats.objects.get_or_create(
        activity_id=activity.pk, defaults={"capacity": rules.capacity, "waitlist_limit": rules.waitlist_limit}
    )
    changed = (seats.capacity, seats.waitlist_limit) != (rules.capacity, rules.waitlist_limit)
    # Settings edited between publishing and opening (they are frozen once open).
    if not created and changed and seats.taken == 0 and seats.waiting == 0:
        Seats.objects.filter(pk=seats.pk).update(capacity=rules.capacity, waitlist_limit=rules.waitlist_limit)
        seats.refresh_from_db()
    return seats


def _lock_seats(activity_id: int) -> Seats:
    seats: Seats = Seats.objects.select_for_update().get(activity_id=activity_id)
    return seats


# --- signing up --------------------------------------------------------------------------


def _take_place(activity: Activity, rules: SignUpRules) -> tuple[str, int | None]:
    """A confirmed seat, else a waitlist place: (status, position). Holds the seat lock after.

    The common case (seats left) is the single statement of the first line: PostgreSQL
    evaluates ``taken < capacity`` again on the newest row version after waiting for a
    concurrent taker, so two members can never take the last seat.
    """
    seats = Seats.objects.filter(activity_id=activity.pk)
    if seats.filter(taken__lt=F("capacity")).update(taken=F("taken") + 1):
        return S.CONFIRMED, None
    if not seats.exists():  # published before the counter existed (or by hand)
        ensure_seats(activity)
        return _take_place(activity, rules)
    waitlist = seats.filter(Q(waitlist_limit__isnull=True) | Q(waiting__lt=F("waitlist_limit")))
    if not waitlist.update(waiting=F("waiting") + 1, last_position=F("last_position") + 1):
        if rules.waitlist_limit == 0:
            raise SignUpFull(message="名额已满，本活动不设候补。")
        raise SignUpFull(message="名额和候补名单都已满。")
    # We hold the row now. A seat may have been freed between the two statements while
    # nobody was waiting (a cancellation with an empty waitlist gives the seat back):
    # then we are the only one waiting and the seat is ours.
    row = seats.values("taken", "capacity", "last_position").get()
    if row["taken"] < row["capacity"]:
        seats.update(taken=F("taken") + 1, waiting=F("waiting") - 1, last_position=F("last_position") - 1)
        return S.CONFIRMED, None
    return S.WAITLISTED, int(row["last_position"])


@transaction.atomic
def sign_up(*, member: Member | None, activity: Activity, answers: dict[str, Any] | None = None) -> Registration:
    """Register ``member``: a seat if one is left, else a waitlist place (if allowed)."""
    member = eligibility.require(activity, member)
    rules = SignUpRules.of(activity)
    clean = clean_answers(rules.fields, answers or {})
    status, position = _take_place(activity, rules)
    for _attempt in range(3):
        registration = Registration(
            activity=activity,
            member=member,
            org_path=member.org_path,
            status=status,
            position=position,
            answers=clean,
            ticket_code=tickets.new_code(),
        )
        try:
            with transaction.atomic():
                registration.save()
            break
        except IntegrityError:
            # The partial unique index is the last line against a double sign-up (two
            # taps, two devices); the seat taken above rolls back with this transaction.
            if Registration.objects.filter(activity=activity, member=member, status__in=LIVE_STATUSES).exists():
                raise Conflict("SIGNUP_ALREADY", "您已报名本活动。") from None
            # Otherwise the random ticket code collided within the activity: draw again.
    else:  # pragma: no cover - three collisions of a 40-bit code
        raise Conflict("SIGNUP_RETRY", "报名繁忙，请重试。")
    activity_actions.record_participation(activity, member)
    return registration


# --- giving a seat back, and the waitlist moving up ---------------------------------------


def _offer_next(seats: Seats, activity: Activity, rules: SignUpRules, now: datetime) -> Registration | None:
    """Call holding the seat lock, when a seat (counted in ``taken``) became free: offer it
    to the first waitlisted member, or give it back. Returns the offered registration."""
    may_promote = rules.event_starts_at is None or now < rules.event_starts_at
    nxt = (
        Registration.objects.filter(activity_id=seats.pk, status=S.WAITLISTED).order_by("position").first()
        if may_promote
        else None
    )
    if nxt is None:
        Seats.objects.filter(pk=seats.pk).update(taken=F("taken") - 1)
        return None
    expires = now + timedelta(hours=rules.confirm_hours)
    updated = Registration.objects.filter(pk=nxt.pk, status=S.WAITLISTED).update(
        status=S.OFFERED, offered_at=now, offer_expires_at=expires, updated_at=now
    )
    if not updated:  # cannot happen under the seat lock; refuse loudly rather than leak a seat
        raise Conflict("SIGNUP_BUSY", "报名状态已变化，请重试。")
    Seats.objects.filter(pk=seats.pk).update(waiting=F("waiting") - 1)
    nxt.status, nxt.offered_at, nxt.offer_expires_at = S.OFFERED, now, expires
    local = timezone.localtime(expires)
    notify(
        nxt.member,
        MessageKind.SYSTEM,
        f"候补递补：请在 {local:%m-%d %H:%M} 前确认报名“{activity.title}”",
        f"有会员取消了报名，您已从候补名单递补获得名额。请在 {local:%Y-%m-%d %H:%M} 前确认，"
        "逾期名额将顺延给下一位候补会员。",
        link=_panel_link(activity.pk),
        sender=activity.org,
        send_sms=True,
    )
    return nxt


def _leave(
    registration: Registration,
    new_status: str,
    now: datetime,
    *,
    allowed: tuple[str, ...] = tuple(LIVE_STATUSES),
    check: Callable[[Registration], None] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Registration, Registration | None]:
    """Move a live registration out (cancelled / declined / expired), freeing what it held.

    Locks the seat row first (the order every seat-moving transition keeps), re-reads the
    registration, lets ``check`` refuse on the fresh row, then moves it only if it is still
    in the state just read (``extra`` adds conditions, such as the offer being overdue).
    """
    activity = Activity.objects.select_related("org").get(pk=registration.activity_id)
    seats = _lock_seats(activity.pk)
    current = Registration.objects.select_related("member").get(pk=registration.pk)
    if current.status not in allowed:
        if current.status in LIVE_STATUSES:
            raise Conflict("SIGNUP_BUSY", f"该报名现在是“{current.status_label}”状态，请刷新后重试。")
        raise Conflict("SIGNUP_NOT_LIVE", f"该报名已是“{current.status_label}”状态。")
    if check is not None:
        check(current)
    old = current.status
    values: dict[str, Any] = {"status": new_status, "updated_at": now}
    if new_status == S.CANCELLED:
        values["cancelled_at"] = now
    if not Registration.objects.filter(pk=current.pk, status=old, **(extra or {})).update(**values):
        raise Conflict("SIGNUP_BUSY", "报名状态已变化，请刷新后重试。")
    current.status = new_status
    offered = None
    if old == S.WAITLISTED:
        Seats.objects.filter(pk=seats.pk).update(waiting=F("waiting") - 1)
    else:  # confirmed or offered: a seat comes free
        offered = _offer_next(seats, activity, SignUpRules.of(activity), now)
    return current, offered


def _own(member: Member | None, registration: Registration) -> Member:
    if member is None or registration.member_id != member.pk:
        raise DomainError("SIGNUP_NOT_FOUND", "找不到这条报名。")
    return member


@transaction.atomic
def cancel(*, member: Member | None, registration: Registration) -> Registration:
    """The member cancels (before the deadline when they hold a confirmed seat)."""
    _own(member, registration)
    now = timezone.now()
    activity = registration.activity
    rules = SignUpRules.of(activity)
    if activity.status == ActivityStatus.ARCHIVED:
        raise Conflict("ACTIVITY_ENDED", "活动已归档。")

    def check(current: Registration) -> None:
        if current.checked_in_at is not None:
            raise Conflict("SIGNUP_CHECKED_IN", "已签到，不能取消报名。")
        if current.status == S.CONFIRMED and not rules.can_cancel_at(now):
            deadline = timezone.localtime(rules.cancel_deadline_at) if rules.cancel_deadline_at else now
            raise Conflict(
                "SIGNUP_CANCEL_CLOSED", f"已过取消截止时间（{deadline:%Y-%m-%d %H:%M}），如需取消请联系主办工会。"
            )

    current, _offered = _leave(registration, S.CANCELLED, now, check=check)
    return current


@transaction.atomic
def decline_offer(*, member: Member | None, registration: Registration) -> Registration:
    _own(member, registration)
    if registration.status != S.OFFERED:
        raise Conflict("SIGNUP_NO_OFFER", "没有待确认的递补名额。")
    current, _offered = _leave(registration, S.DECLINED, timezone.now(), allowed=(S.OFFERED,))
    return current


@transaction.atomic
def confirm_offer(*, member: Member | None, registration: Registration) -> Registration:
    """Take the offered seat (it is already counted in ``taken``)."""
    _own(member, registration)
    now = timezone.now()
    updated = Registration.objects.filter(pk=registration.pk, status=S.OFFERED, offer_expires_at__gt=now).update(
        status=S.CONFIRMED, updated_at=now
    )
    registration.refresh_from_db()
    if not updated:
        if registration.status == S.CONFIRMED:
            return registration  # a second tap
        if registration.status in (S.OFFERED, S.EXPIRED):
            raise Conflict("SIGNUP_OFFER_EXPIRED", "递补确认已超时，名额已顺延给下一位候补会员。")
        raise Conflict("SIGNUP_NO_OFFER", "没有待确认的递补名额。")
    return registration


@transaction.atomic
def cancel_by_organiser(*, actor: Any, registration: Registration, reason: str = "") -> Registration:
    """The organiser removes someone (duplicate, ineligible); their seat moves on."""
    reason = (reason or "").strip()[:200]
    if not reason:
        raise DomainError("SIGNUP_REASON_REQUIRED", "请填写取消原因。")
    current, offered = _leave(registration, S.CANCELLED, timezone.now())
    activity = Activity.objects.select_related("org").get(pk=current.activity_id)
    audit.record(
        "activity_signup.cancel",
        actor=actor,
        obj=activity,
        org=activity.org,
        details={
            "registration": current.pk,
            "member_id": current.member_id,
            "reason": reason,
            "offered_to": offered.pk if offered else None,
        },
    )
    notify(
        current.member,
        MessageKind.SYSTEM,
        f"您的报名“{activity.title}”已被主办方取消",
        f"原因：{reason}",
        link=_panel_link(activity.pk),
        sender=activity.org,
    )
    return current


def expire_offers(now: datetime | None = None, *, batch: int = 200) -> int:
    """Expire offers past their deadline and offer each seat to the next in line.

    Resumable and idempotent: each offer is its own transaction and moves only if it is
    still an open, overdue offer, so a worker killed half-way (or two running at once)
    leaves nothing done twice; the next run carries on.
    """
    now = now or timezone.now()
    done = 0
    while True:
        due = list(
            Registration.objects.filter(status=S.OFFERED, offer_expires_at__lte=now)
            .order_by("offer_expires_at", "pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not due:
            return done
        for pk in due:
            if _expire_one(pk, now):
                done += 1


@transaction.atomic
def _expire_one(pk: int, now: datetime) -> bool:
    registration = Registration.objects.select_related("activity", "member").filter(pk=pk).first()
    if registration is None:
        return False
    try:
        _leave(registration, S.EXPIRED, now, allowed=(S.OFFERED,), extra={"offer_expires_at__lte": now})
    except Conflict:
        return False  # confirmed or declined meanwhile
    activity = registration.activity
    notify(
        registration.member,
        MessageKind.SYSTEM,
        f"递补名额已过期：{activity.title}",
        "您没有在时限内确认递补名额，名额已顺延给下一位候补会员。",
        link=_panel_link(activity.pk),
        sender=activity.org,
    )
    return True


# --- check-in ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckIn:
    """What the cadre's phone shows after a scan."""

    outcome: str  # checked_in | already | not_registered | cancelled | waitlisted | offered | invalid
    message: str
    masked_name: str = ""
    union: str = ""
    checked_in_at: datetime | None = None
    registration_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == "checked_in"


def _person(member: Member) -> tuple[str, str]:
    return ("" if member.erased_at else pii.mask_name(member.name)), member.org.name


def _registration_for_scan(activity: Activity, raw: str) -> tuple[Registration | None, Member | None, str]:
    """The registration a scanned/typed text names in this activity, the person if known,
    and an outcome when there is nothing to look up."""
    scanned = tickets.read(raw)
    qs = Registration.objects.select_related("member", "member__org").filter(activity=activity)
    if scanned.registration_id is not None:
        reg = qs.filter(pk=scanned.registration_id, ticket_code=scanned.code).first()
        if reg is not None:
            return reg, reg.member, ""
        other = (
            Registration.objects.select_related("member", "member__org")
            .filter(pk=scanned.registration_id, ticket_code=scanned.code)
            .first()
        )
        return None, other.member if other else None, "not_registered"
    if scanned.code:
        reg = qs.filter(ticket_code=scanned.code).first()
        return reg, reg.member if reg else None, "" if reg else "not_registered"
    if scanned.looks_signed:
        return None, None, "invalid"
    # The member showed their e-member card instead of the ticket: find them by it.
    card = check_card(raw)
    if card.member_id is None:
        return None, None, "invalid"
    member = Member.objects.select_related("org").get(pk=card.member_id)
    reg = qs.filter(member=member).order_by("-created_at").first()
    live = qs.filter(member=member, status__in=LIVE_STATUSES).first()
    return live or reg, member, "" if (live or reg) else "not_registered"


OUTCOME_MESSAGES = {
    "checked_in": "报名有效，已记录签到时间，请入场。",
    "not_registered": "未报名：此人没有报名本活动。",
    "cancelled": "已取消：此人的报名已取消，不能签到。",
    "waitlisted": "候补中：此人仍在候补名单上，尚未获得名额。",
    "offered": "候补递补待确认：此人尚未确认递补名额，请其先在手机上确认报名。",
    "invalid": "无法识别：不是有效的签到码，请让会员打开报名页中的签到二维码。",
}


def check_in(*, actor: Any, activity: Activity, raw: str) -> CheckIn:
    """Record ``checked_in_at`` once for a confirmed registration; explain everything else."""
    if activity.status not in (ActivityStatus.PUBLISHED, ActivityStatus.CLOSED):
        raise Conflict("ACTIVITY_NOT_PUBLISHED", "活动未发布或已归档，不能签到。")
    reg, member, outcome = _registration_for_scan(activity, raw)
    name, union = _person(member) if member is not None else ("", "")
    if reg is None:
        outcome = outcome or "not_registered"
        return CheckIn(outcome, OUTCOME_MESSAGES[outcome], name, union)
    if reg.status in (S.CANCELLED, S.EXPIRED, S.DECLINED):
        return CheckIn("cancelled", OUTCOME_MESSAGES["cancelled"], name, union, registration_id=reg.pk)
    if reg.status in (S.WAITLISTED, S.OFFERED):
        return CheckIn(str(reg.status), OUTCOME_MESSAGES[str(reg.status)], name, union, registration_id=reg.pk)
    now = timezone.now()
    with transaction.atomic():
        first = Registration.objects.filter(pk=reg.pk, status=S.CONFIRMED, checked_in_at__isnull=True).update(
            checked_in_at=now, checked_in_by=actor if getattr(actor, "pk", None) else None, updated_at=now
        )
        if first:
            audit.record(
                "activity_signup.check_in",
                actor=actor,
                obj=activity,
                org=activity.org,
                details={"registration": reg.pk, "member_id": reg.member_id},
            )
    if first:
        return CheckIn("checked_in", OUTCOME_MESSAGES["checked_in"], name, union, now, reg.pk)
    reg.refresh_from_db(fields=["checked_in_at", "status"])
    if reg.checked_in_at is None:  # cancelled between our read and the update
        return CheckIn("cancelled", OUTCOME_MESSAGES["cancelled"], name, union, registration_id=reg.pk)
    at = timezone.localtime(reg.checked_in_at)
    return CheckIn("already", f"已签到：{at:%H:%M} 已签到过，请勿重复签到。", name, union, reg.checked_in_at, reg.pk)
