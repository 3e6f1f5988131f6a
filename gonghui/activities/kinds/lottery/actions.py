"""Every change a lottery goes through: prizes, the seed commitment, entries, the draw,
claims, hand-overs and redraws of unclaimed prizes.

The order of events that makes the draw verifiable:

1. ``commit_seed`` (on publish, before anyone can enter): a secret seed is generated,
   stored encrypted, and only its SHA-256 is published.
2. ``enter``: one entry per member, each with a random public code.
3. ``draw_locked`` (at close, or the cadre's 开奖 when ``manual_draw``): the seed is
   revealed and the winners are computed by ``draw.draw_winners`` from the sorted codes.
4. ``claim`` before the deadline; ``redraw_unclaimed`` (periodic) redraws the slots whose
   winner did not, with ``draw.redraw_winners``; ``hand_over`` when the prize is given.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities import eligibility
from gonghui.activities.kinds.lottery import draw
from gonghui.activities.kinds.lottery.kind import DEFAULT_CLAIM_DAYS
from gonghui.activities.kinds.lottery.models import Draw, Entry, Prize, Win, WinStatus
from gonghui.activities.models import Activity, ActivityState, ActivityStatus
from gonghui.core import audit, pii
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.inbox import actions as inbox_actions
from gonghui.inbox.models import MessageKind
from gonghui.members.models import Member

MAX_PRIZE_UNITS = 10_000
_EDITABLE_STATES = (ActivityState.DRAFT, ActivityState.PUBLISHED)


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


def activity_link(activity: Activity) -> str:
    """The member's page of the activity (the portal's ``a/<id>/``)."""
    return f"/a/{activity.pk}/"


# --- prizes (before the activity opens) ---------------------------------------------------


def _clean_prize(values: dict[str, Any]) -> dict[str, Any]:
    name = str(values.get("name") or "").strip()
    if not name:
        raise InvalidValue("LOTTERY_PRIZE_NAME", "请填写奖品名称。", field="name")
    if len(name) > 80:
        raise InvalidValue("LOTTERY_PRIZE_NAME", "奖品名称不能超过 80 个字。", field="name")
    try:
        quantity = int(values.get("quantity") or 0)
        order = int(values.get("order") or 0)
    except (TypeError, ValueError):
        raise InvalidValue("LOTTERY_PRIZE_NUMBER", "数量和排序须为整数。", field="quantity") from None
    if not 1 <= quantity <= MAX_PRIZE_UNITS:
        raise InvalidValue("LOTTERY_PRIZE_QUANTITY", f"奖品数量须在 1 到 {MAX_PRIZE_UNITS} 之间。", field="quantity")
    if order < 0:
        raise InvalidValue("LOTTERY_PRIZE_ORDER", "排序不能为负数。", field="order")
    return {
        "name": name,
        "quantity": quantity,
        "order": order,
        "claim_instructions": str(values.get("claim_instructions") or "").strip(),
    }


def _lock_editable(activity: Activity) -> Activity:
    locked = activity_actions.lock(activity)
    if locked.kind != "lottery":
        raise Conflict("LOTTERY_WRONG_KIND", "该活动不是抽奖活动。")
    if locked.state not in _EDITABLE_STATES:
        raise Conflict("LOTTERY_PRIZES_FROZEN", "活动已开始，奖品不能再修改。")
    return locked


@transaction.atomic
def add_prize(*, actor: Any, activity: Activity, values: dict[str, Any], image: Any = None) -> Prize:
    locked = _lock_editable(activity)
    clean = _clean_prize(values)
    prize = Prize(activity=locked, **clean)
    if image:
        prize.image = image
    prize.save()
    audit.record(
        "activity_lottery.prize_add",
        actor=actor,
        obj=locked,
        org=locked.org,
        details={"prize": prize.pk, **_brief(prize)},
    )
    return prize


@transaction.atomic
def update_prize(*, actor: Any, prize: Prize, values: dict[str, Any], image: Any = None) -> Prize:
    locked = _lock_editable(prize.activity)
    clean = _clean_prize(values)
    prize = Prize.objects.get(pk=prize.pk, activity=locked)
    for key, value in clean.items():
        setattr(prize, key, value)
    if image:
        prize.image = image
    prize.save()
    audit.record(
        "activity_lottery.prize_update",
        actor=actor,
        obj=locked,
        org=locked.org,
        details={"prize": prize.pk, **_brief(prize)},
    )
    return prize


@transaction.atomic
def delete_prize(*, actor: Any, prize: Prize) -> None:
    locked = _lock_editable(prize.activity)
    details = {"prize": prize.pk, **_brief(prize)}
    Prize.objects.filter(pk=prize.pk, activity=locked).delete()
    audit.record("activity_lottery.prize_delete", actor=actor, obj=locked, org=locked.org, details=details)


def _brief(prize: Prize) -> dict[str, Any]:
    return {"name": prize.name, "quantity": prize.quantity, "order": prize.order}


def slot_prizes(activity: Activity) -> list[Prize]:
    """Prize of each slot, in draw order: every prize's units, prizes by (order, id)."""
    slots: list[Prize] = []
    for prize in Prize.objects.filter(activity=activity).order_by("order", "pk"):
        slots.extend([prize] * prize.quantity)
    return slots


# --- publishing: the commitment -----------------------------------------------------------


def check_publish(activity: Activity) -> None:
    if not Prize.objects.filter(activity=activity).exists():
        raise Conflict("LOTTERY_NO_PRIZES", "请先添加至少一个奖品再发布。")


def commit_seed(activity: Activity) -> Draw:
    """Draw the secret seed and publish its hash. Inside the publishing transaction."""
    seed = draw.new_seed()
    record, created = Draw.objects.get_or_create(
        activity=activity,
        defaults={
            "commitment": draw.commitment(seed),
            "seed_enc": pii.encrypt(seed.hex()),
            "committed_at": timezone.now(),
        },
    )
    if created:
        audit.record(
            "activity_lottery.commit",
            obj=activity,
            org=activity.org,
            actor_label="系统",
            details={"commitment": record.commitment},
        )
    return record


# --- entering -----------------------------------------------------------------------------


def _share_lock(activity: Activity) -> Activity:
    """The activity row under a shared lock (PostgreSQL ``FOR SHARE``).

    Entries do not block each other, but the draw's ``FOR UPDATE`` (activity_actions.lock)
    waits for every entry in flight, and an entry that starts after the draw sees the
    activity closed: no entry can slip in after the list was read for the draw. SQLite
    serialises writers anyway.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT 1 FROM {Activity._meta.db_table} WHERE id = %s FOR SHARE", [activity.pk])  # noqa: S608
    return Activity.objects.select_related("org").get(pk=activity.pk)


def enter(*, member: Member | None, activity: Activity) -> Entry:
    """The member's one entry into an open lottery (``NotEligible`` / ``Conflict`` otherwise)."""
    member = eligibility.require(activity, member)
    if activity.kind != "lottery":
        raise Conflict("LOTTERY_WRONG_KIND", "该活动不是抽奖活动。")
    for _attempt in range(3):
        try:
            return _enter_once(member, activity)
        except _CodeTaken:
            continue  # a random code collided with another entry's (≈ never): new code
    raise Conflict("LOTTERY_CODE_COLLISION", "系统繁忙，请稍后重试。")


class _CodeTaken(Exception):
    pass


@transaction.atomic
def _enter_once(member: Member, activity: Activity) -> Entry:
    locked = _share_lock(activity)
    answer = eligibility.window(locked)
    if not answer or locked.finalised_at is not None:
        raise eligibility.NotEligible(answer.code or "ACTIVITY_ENDED", answer.reason or "活动已结束。")
    # A second entry by the same member (double tap, two phones) loses here: the
    # participation row's unique constraint makes the racing insert wait for the first
    # transaction and then fail. The points cost (points issue) is charged at this point,
    # inside this transaction, so a refused entry never costs anything.
    if not activity_actions.record_participation(locked, member):
        raise Conflict("LOTTERY_ALREADY_ENTERED", "您已参与本次抽奖，每人限参与一次。")
    code = draw.new_entry_code()
    try:
        with transaction.atomic():
            return Entry.objects.create(activity=locked, member=member, code=code)
    except IntegrityError:
        if Entry.objects.filter(activity=locked, member=member).exists():
            raise Conflict("LOTTERY_ALREADY_ENTERED", "您已参与本次抽奖，每人限参与一次。") from None
        raise _CodeTaken from None


# --- the draw -----------------------------------------------------------------------------


def _claim_deadline(activity: Activity, now: datetime) -> datetime:
    days = int(activity.setting("claim_days") or DEFAULT_CLAIM_DAYS)
    return now + timedelta(days=days)


def _seed_of(record: Draw) -> bytes:
    return bytes.fromhex(pii.decrypt(record.seed_enc))


def draw_locked(activity: Activity, *, actor: Any) -> list[Win]:
    """Reveal the seed and draw. Call inside a transaction holding ``lock(activity)``.

    Idempotent: a lottery already drawn returns ``[]``.
    """
    record = Draw.objects.select_for_update().filter(activity=activity).first()
    if record is None:  # published before the commitment existed: cannot be verified
        raise Conflict("LOTTERY_NO_COMMITMENT", "该抽奖没有种子承诺，无法开奖。")
    if record.is_drawn:
        return []
    now = timezone.now()
    seed = _seed_of(record)
    entries = {e.code: e for e in Entry.objects.filter(activity=activity).select_related("member")}
    slots = slot_prizes(activity)
    picked = draw.draw_winners(seed, entries, len(slots))
    deadline = _claim_deadline(activity, now)
    wins = Win.objects.bulk_create(
        [
            Win(activity=activity, entry=entries[code], prize=slots[slot], slot=slot, round=0, claim_deadline=deadline)
            for slot, code in sorted(picked.items())
        ]
    )
    record.seed_hex = seed.hex()
    record.drawn_at = now
    record.drawn_by = actor if getattr(actor, "pk", None) else None
    record.entry_count = len(entries)
    record.entries_sha256 = draw.entries_digest(entries)
    record.save(update_fields=["seed_hex", "drawn_at", "drawn_by", "entry_count", "entries_sha256"])
    audit.record(
        "activity_lottery.draw",
        actor=actor,
        obj=activity,
        org=activity.org,
        actor_label="" if getattr(actor, "pk", None) else "系统",
        details={"entries": len(entries), "winners": len(wins), "seed": record.seed_hex},
    )
    for win in wins:
        _notify_winner(activity, entries[win.entry.code].member, win)
    return wins


def _notify_winner(activity: Activity, member: Member, win: Win) -> None:
    deadline = timezone.localtime(win.claim_deadline)
    inbox_actions.notify(
        member,
        MessageKind.SYSTEM,
        f"恭喜您在“{activity.title}”中抽中{win.prize.name}",
        f"请在 {deadline:%Y-%m-%d %H:%M} 前到活动页面确认领奖，逾期视为放弃。",
        link=activity_link(activity),
        sender=activity.org,
    )


@transaction.atomic
def run_draw(*, actor: Any, activity: Activity) -> list[Win]:
    """The cadre's 开奖 button: only after entries have closed, only once."""
    locked = activity_actions.lock(activity)
    if locked.kind != "lottery":
        raise Conflict("LOTTERY_WRONG_KIND", "该活动不是抽奖活动。")
    if locked.state != ActivityState.CLOSED:
        raise Conflict("LOTTERY_NOT_CLOSED", "活动结束（参与截止）后才能开奖。")
    record = Draw.objects.filter(activity=locked).first()
    if record is not None and record.is_drawn:
        raise Conflict("LOTTERY_ALREADY_DRAWN", "已经开过奖了。")
    wins = draw_locked(locked, actor=actor)
    if locked.finalised_at is None:
        activity_actions.finalise_activity(locked)
    return wins


# --- claiming -----------------------------------------------------------------------------


def new_claim_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(8))


def claim(*, member: Member | None, win: Win) -> Win:
    """The winner confirms before the deadline and gets a claim code to show."""
    if member is None or win.entry.member_id != member.pk:
        raise NotFound("NOT_FOUND", "没有找到这条中奖记录。")
    now = timezone.now()
    code = new_claim_code()
    # The conditional UPDATE is the guard: a claim racing the deadline's redraw (which
    # moves the row out of ``won`` under its lock) changes nothing and is refused.
    updated = Win.objects.filter(pk=win.pk, status=WinStatus.WON, claim_deadline__gt=now).update(
        status=WinStatus.CLAIMED, claim_code=code, claimed_at=now
    )
    win.refresh_from_db()
    if not updated:
        if win.status in (WinStatus.CLAIMED, WinStatus.HANDED_OVER):
            raise Conflict("LOTTERY_ALREADY_CLAIMED", "您已确认领奖。")
        raise Conflict("LOTTERY_CLAIM_EXPIRED", "已超过领奖期限，奖品已作废或重新抽取。")
    return win


@transaction.atomic
def hand_over(*, actor: Any, win: Win, claim_code: str = "") -> Win:
    """A cadre gives the prize to a winner who confirmed (checking the claim code if given)."""
    locked = Win.objects.select_for_update().select_related("activity__org", "prize", "entry").get(pk=win.pk)
    if locked.status == WinStatus.HANDED_OVER:
        raise Conflict("LOTTERY_ALREADY_HANDED_OVER", "该奖品已兑付。")
    if locked.status != WinStatus.CLAIMED:
        raise Conflict("LOTTERY_NOT_CLAIMED", "中奖会员尚未确认领奖，不能兑奖。")
    if claim_code and claim_code.strip() != locked.claim_code:
        raise InvalidValue("LOTTERY_CLAIM_CODE", "领奖码不正确。", field="claim_code")
    locked.status = WinStatus.HANDED_OVER
    locked.handed_over_at = timezone.now()
    locked.handed_over_by = actor if getattr(actor, "pk", None) else None
    locked.save(update_fields=["status", "handed_over_at", "handed_over_by"])
    audit.record(
        "activity_lottery.hand_over",
        actor=actor,
        obj=locked.activity,
        org=locked.activity.org,
        details={"win": locked.pk, "prize": locked.prize.name, "code": locked.entry.code},
    )
    return locked


def find_claim(activity: Activity, claim_code: str) -> Win:
    win = (
        Win.objects.filter(activity=activity, claim_code=claim_code.strip())
        .exclude(claim_code="")
        .select_related("entry__member", "prize")
        .first()
    )
    if win is None:
        raise InvalidValue("LOTTERY_CLAIM_CODE", "没有找到这个领奖码。", field="claim_code")
    return win


# --- redraws of unclaimed prizes ----------------------------------------------------------


def redraw_unclaimed(now: datetime | None = None) -> list[int]:
    """Every lottery with wins past their claim deadline gets one redraw round (cron)."""
    now = now or timezone.now()
    due = (
        Win.objects.filter(status=WinStatus.WON, claim_deadline__lte=now, activity__status=ActivityStatus.CLOSED)
        .values_list("activity_id", flat=True)
        .distinct()
    )
    done = []
    for activity_id in sorted(set(due))[:500]:
        if redraw_activity(Activity.objects.get(pk=activity_id), now=now):
            done.append(activity_id)
    return done


@transaction.atomic
def redraw_activity(activity: Activity, *, now: datetime | None = None) -> list[Win]:
    """One redraw round for ``activity``'s overdue wins; ``[]`` when nothing was due."""
    now = now or timezone.now()
    locked = activity_actions.lock(activity)
    record = Draw.objects.select_for_update().get(activity=locked)
    overdue = list(
        Win.objects.select_for_update()
        .filter(activity=locked, status=WinStatus.WON, claim_deadline__lte=now)
        .order_by("slot")
    )
    if not overdue or not record.is_drawn:
        return []
    slots = [w.slot for w in overdue]
    new_wins: list[Win] = []
    if not locked.setting("keep_unclaimed"):
        entries = {e.code: e for e in Entry.objects.filter(activity=locked).select_related("member")}
        won_codes = Win.objects.filter(activity=locked).values_list("entry__code", flat=True)
        round_no = record.redraw_rounds + 1
        picked = draw.redraw_winners(_seed_of(record), entries, won_codes, round_no, slots)
        if picked:
            prize_of = {w.slot: w.prize for w in overdue}
            deadline = _claim_deadline(locked, now)
            new_wins = Win.objects.bulk_create(
                [
                    Win(
                        activity=locked,
                        entry=entries[code],
                        prize=prize_of[slot],
                        slot=slot,
                        round=round_no,
                        claim_deadline=deadline,
                    )
                    for slot, code in sorted(picked.items())
                ]
            )
            record.redraw_rounds = round_no
            record.save(update_fields=["redraw_rounds"])
            for win in new_wins:
                _notify_winner(locked, entries[win.entry.code].member, win)
    redrawn = {w.slot for w in new_wins}
    Win.objects.filter(pk__in=[w.pk for w in overdue if w.slot in redrawn]).update(status=WinStatus.REDRAWN)
    Win.objects.filter(pk__in=[w.pk for w in overdue if w.slot not in redrawn]).update(status=WinStatus.EXPIRED)
    audit.record(
        "activity_lottery.redraw",
        obj=locked,
        org=locked.org,
        actor_label="系统",
        details={"round": record.redraw_rounds if new_wins else None, "slots": slots, "redrawn": sorted(redrawn)},
    )
    return new_wins
