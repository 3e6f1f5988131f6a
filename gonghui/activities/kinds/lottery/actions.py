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

A prize may be a coupon (``Prize.coupon_template``). Its winners need not claim: the draw
(and each redraw) issues the coupon into the winner's wallet in its own transaction, with
the key ``lottery:<activity>:<prize>:<member>``, and the win is handed over at once — so it
is never redrawn, and a draw or redraw that runs again finds nothing left to issue. A
winner the coupons app refuses (not verified for a verified-only coupon, limit reached,
stock gone) keeps an ordinary ``won`` win: pressing 确认领奖 before the deadline tries the
issue again, and an unclaimed slot is redrawn as usual.

An entry may cost points (``settings.points_cost``): the spend is part of the entry's
transaction, so a refused entry costs nothing and a second entry is refused before it
could spend.
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
from gonghui.activities.kinds.lottery.kind import DEFAULT_CLAIM_DAYS, points_cost
from gonghui.activities.kinds.lottery.models import Draw, Entry, Prize, Win, WinStatus
from gonghui.activities.models import Activity, ActivityState, ActivityStatus
from gonghui.core import audit, pii
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.coupons import actions as coupon_actions
from gonghui.coupons.models import CouponSource
from gonghui.inbox import actions as inbox_actions
from gonghui.inbox.models import MessageKind
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.points.models import SourceType

MAX_PRIZE_UNITS = 10_000
_EDITABLE_STATES = (ActivityState.DRAFT, ActivityState.PUBLISHED)


class NotFound(DomainError):
    code = "NOT_FOUND"
    status = 404


def activity_link(activity: Activity) -> str:
    """The member's page of the activity (the portal's ``a/<id>/``)."""
    return f"/a/{activity.pk}/"


# --- prizes (before the activity opens) ---------------------------------------------------


def _clean_prize(values: dict[str, Any], activity: Activity) -> dict[str, Any]:
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
    template = None
    if values.get("coupon_template_id"):
        try:
            template_id = int(values["coupon_template_id"])
        except (TypeError, ValueError):
            raise InvalidValue("COUPON_TEMPLATE_OUTSIDE", "请选择有效的券。", field="coupon_template") from None
        template = coupon_actions.check_usable_template(activity.org_path, template_id)
        if template.remaining < quantity:
            raise InvalidValue(
                "LOTTERY_COUPON_STOCK",
                f"“{template.name}”只剩 {template.remaining} 张，少于奖品数量 {quantity}。",
                field="coupon_template",
            )
    return {
        "name": name,
        "quantity": quantity,
        "order": order,
        "claim_instructions": str(values.get("claim_instructions") or "").strip(),
        "coupon_template": template,
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
    clean = _clean_prize(values, locked)
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
    clean = _clean_prize(values, locked)
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
    return {
        "name": prize.name,
        "quantity": prize.quantity,
        "order": prize.order,
        "coupon_template": prize.coupon_template_id,
    }


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


def entry_spend_key(activity: Activity, member: Member) -> str:
    """The ledger key of a member's entry fee: one spend per member and lottery."""
    return f"lottery-entry:{activity.pk}:{member.pk}"


@transaction.atomic
def _enter_once(member: Member, activity: Activity) -> Entry:
    locked = _share_lock(activity)
    answer = eligibility.window(locked)
    if not answer or locked.finalised_at is not None:
        raise eligibility.NotEligible(answer.code or "ACTIVITY_ENDED", answer.reason or "活动已结束。")
    # A second entry by the same member (double tap, two phones) loses here: the
    # participation row's unique constraint makes the racing insert wait for the first
    # transaction and then fail — before it could spend anything.
    if not activity_actions.record_participation(locked, member):
        raise Conflict("LOTTERY_ALREADY_ENTERED", "您已参与本次抽奖，每人限参与一次。")
    # The points cost is charged here, inside this transaction: not enough points rolls the
    # participation back with it, and a refused entry never costs anything. The key is one
    # per member and lottery, so even a spend that somehow ran twice would replay.
    cost = points_cost(locked)
    if cost:
        try:
            ledger.spend(
                member=member,
                amount=cost,
                key=entry_spend_key(locked, member),
                source_type=SourceType.ACTIVITY,
                source_id=str(locked.pk),
                reason=f"参与抽奖：{locked.title}"[:200],
            )
        except ledger.InsufficientPoints as exc:
            raise ledger.InsufficientPoints(message=f"参与本次抽奖{exc.message}") from None
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
    coupons = _deliver_coupons(activity, wins, now)
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
        details={"entries": len(entries), "winners": len(wins), "seed": record.seed_hex, **coupons},
    )
    for win in wins:
        _notify_winner(activity, entries[win.entry.code].member, win)
    return wins


def _notify_winner(activity: Activity, member: Member, win: Win) -> None:
    if win.coupon_id is not None:
        body = "奖品券已放入“我的券”，可随时查看和使用。"
    else:
        deadline = timezone.localtime(win.claim_deadline)
        body = f"请在 {deadline:%Y-%m-%d %H:%M} 前到活动页面确认领奖，逾期视为放弃。"
    inbox_actions.notify(
        member,
        MessageKind.SYSTEM,
        f"恭喜您在“{activity.title}”中抽中{win.prize.name}",
        body,
        link=activity_link(activity),
        sender=activity.org,
    )


# --- coupon prizes ------------------------------------------------------------------------


def prize_coupon_key(activity: Activity, prize: Prize, member: Member) -> str:
    """The coupon's idempotency key: one coupon per lottery, prize and winner, however
    many times a draw, a redraw or a claim runs."""
    return f"lottery:{activity.pk}:{prize.pk}:{member.pk}"


def _issue_prize_coupon(activity: Activity, win: Win, member: Member, now: datetime) -> Win:
    """Put ``win``'s coupon prize in the winner's wallet and mark the win handed over.

    Inside the transaction holding the win (the draw's or redraw's activity lock, or the
    claim's row lock). The coupon and the win's change share one savepoint: a refusal of
    the coupons app (``DomainError``) rolls back both and leaves the win ``won``.
    """
    prize = win.prize
    template = prize.coupon_template
    if template is None:
        raise Conflict("LOTTERY_NOT_A_COUPON", "该奖品不是券。")
    with transaction.atomic():
        issued = coupon_actions.issue(
            template,
            member,
            source=CouponSource.LOTTERY,
            source_id=str(activity.pk),
            key=prize_coupon_key(activity, prize, member),
        )
        if not Win.objects.filter(pk=win.pk, status=WinStatus.WON).update(
            status=WinStatus.HANDED_OVER, coupon=issued.coupon, claimed_at=now, handed_over_at=now
        ):
            raise Conflict("LOTTERY_CLAIM_EXPIRED", "已超过领奖期限，奖品已作废或重新抽取。")
    win.status, win.coupon, win.claimed_at, win.handed_over_at = WinStatus.HANDED_OVER, issued.coupon, now, now
    return win


def _deliver_coupons(activity: Activity, wins: list[Win], now: datetime) -> dict[str, Any]:
    """Issue the coupon of every coupon prize among fresh ``wins`` (a draw or a redraw round).

    The winners' member rows are locked first, in id order: ``issue`` locks member then
    template, and one transaction issuing to many members must not hold the template while
    it waits for a member another issuer (a rush grab, a mall order) holds. Returns counts
    for the round's audit row.
    """
    due = [w for w in wins if w.prize.coupon_template_id is not None]
    if not due:
        return {}
    members = {
        m.pk: m
        for m in Member.objects.select_for_update().filter(pk__in={w.entry.member_id for w in due}).order_by("pk")
    }
    issued = 0
    refused: dict[str, int] = {}
    for win in due:
        try:
            _issue_prize_coupon(activity, win, members[win.entry.member_id], now)
        except DomainError as exc:  # the win stays "won": the winner may claim (and retry) in time
            refused[exc.code] = refused.get(exc.code, 0) + 1
        else:
            issued += 1
    return {"coupons_issued": issued, "coupons_refused": refused}


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
    """The winner confirms before the deadline and gets a claim code to show.

    For a coupon prize the draw has normally issued the coupon already; if the coupons app
    refused it then (say, the coupon is for verified members and the winner has verified
    since), confirming issues it now, or says again why it cannot.
    """
    if member is None or win.entry.member_id != member.pk:
        raise NotFound("NOT_FOUND", "没有找到这条中奖记录。")
    if Prize.objects.filter(pk=win.prize_id, coupon_template__isnull=False).exists():
        return _claim_coupon(member, win)
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
def _claim_coupon(member: Member, win: Win) -> Win:
    # The row lock orders this claim against the deadline's redraw (which selects the
    # overdue wins FOR UPDATE): whichever comes second sees the other's status.
    locked = (
        Win.objects.select_for_update(of=("self",)).select_related("activity", "prize__coupon_template").get(pk=win.pk)
    )
    now = timezone.now()
    if locked.status in (WinStatus.CLAIMED, WinStatus.HANDED_OVER):
        raise Conflict("LOTTERY_ALREADY_CLAIMED", "奖品券已放入“我的券”。")
    if locked.status != WinStatus.WON or locked.claim_deadline <= now:
        raise Conflict("LOTTERY_CLAIM_EXPIRED", "已超过领奖期限，奖品已作废或重新抽取。")
    return _issue_prize_coupon(locked.activity, locked, member, now)


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
    coupons: dict[str, Any] = {}
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
            coupons = _deliver_coupons(locked, new_wins, now)
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
        details={
            "round": record.redraw_rounds if new_wins else None,
            "slots": slots,
            "redrawn": sorted(redrawn),
            **coupons,
        },
    )
    return new_wins
