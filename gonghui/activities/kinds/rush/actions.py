"""Everything that changes a rush: a member grabs or cancels; an organiser sets the ticket
types and their stock, and redeems codes at the gate.

The grab is the hot path of the whole platform (100,000 members for 1,000 tickets in the
first seconds), so it is a few statements in one short transaction:

1. ``INSERT`` the grant — the unique constraint (activity, member) refuses a second one;
2. ``INSERT`` the participation row (``record_participation``; the same guard once more);
3. ``UPDATE rushitem SET remaining = remaining - 1 WHERE id = %s AND remaining > 0`` —
   one conditional statement: it either takes a unit or touches no row, so no interleaving
   of requests can oversell; zero rows means sold out and the transaction rolls back.

The stock row is the one every grab contends for, so it is locked last: a transaction
holds it only from its UPDATE to its COMMIT. Each transaction locks at most one item row,
so grabs cannot deadlock.

A ticket type may be a coupon (``RushItem.coupon_template``, 抢券). The stock UPDATE returns
the item's template, and a coupon item then issues the coupon (``coupons.actions.issue``,
key ``rush:<activity>:<member>``) in the same transaction: a refused coupon rolls the grant
back, so there is never a grant without its coupon or a coupon without its grant. The
template's stock row is then the last lock taken. Cancelling revokes the coupon in the
cancellation's transaction; a coupon already used makes the ticket not cancellable
(``RUSH_COUPON_USED``).

Rule: one grant per member and activity, ever. A member who cancels gives the unit back
(``remaining + 1``) but does not grab again: otherwise cancelling would be a way to swap
for a better train after the rush. The cancelled grant keeps its row, which is what keeps
them out.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from gonghui.activities import eligibility
from gonghui.activities.actions import lock, record_participation
from gonghui.activities.kinds.rush import waiting_room
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.kinds.rush.waiting_room import Admission
from gonghui.activities.models import Activity, ActivityState
from gonghui.activities.passes import Pass
from gonghui.core import audit
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.coupons import actions as coupon_actions
from gonghui.coupons.models import Coupon, CouponSource, CouponStatus, CouponTemplate
from gonghui.members import selectors as member_selectors
from gonghui.members.models import Member

# Redemption codes: no 0/O, 1/I/L to misread at a gate; 31^10 ≈ 8·10^14 possibilities.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
GRANT_SALT = "gonghui.activities.rush.grant"


class SoldOut(Conflict):
    code = "RUSH_SOLD_OUT"


class AlreadyGranted(Conflict):
    code = "RUSH_ALREADY"


class ItemUnknown(DomainError):
    code = "RUSH_ITEM_UNKNOWN"
    status = 404


class CodeUnknown(DomainError):
    code = "RUSH_CODE_UNKNOWN"
    status = 404


class _NoStock(Exception):
    """The conditional UPDATE touched no row (inside the grab transaction)."""


@dataclass(frozen=True)
class Outcome:
    """What a grab attempt came to: a grant, or a place in the waiting room."""

    grant: Grant | None = None
    admission: Admission | None = None

    @property
    def queued(self) -> bool:
        return self.grant is None


def sold_out_error() -> SoldOut:
    return SoldOut(message="已抢完：本次投放的票已全部被抢完。")


def _item_sold_out_error() -> SoldOut:
    return SoldOut(message="该票种已抢完，可以看看其他票种。")


def attempt(*, activity: Activity, member: Member | None, item_id: int, token: str = "") -> Outcome:
    """A member presses 抢 (or their waiting page polls): grab now, or wait in the room.

    Cheap answers first, so the crowd that cannot get a ticket costs the database little:
    eligibility (window and audience need no query), the sold-out flag, then the room.
    """
    if token:
        # A poll from the waiting page: the member was fully checked when they arrived.
        if member is None:
            raise eligibility.NotEligible("NOT_A_MEMBER", "请先登录并完成入会，会员才能参加活动。")
        for answer in (eligibility.window(activity), eligibility.in_audience(activity, member)):
            if not answer:
                raise eligibility.NotEligible(answer.code, answer.reason)
    else:
        member = eligibility.require(activity, member)
    refuse_if_sold_out(activity.pk, item_id)
    admission = waiting_room.arrive(activity, member.pk, token)
    if not admission.admitted:
        return Outcome(admission=admission)
    return Outcome(grant=grab(activity=activity, member=member, item_id=item_id), admission=admission)


def refuse_if_sold_out(activity_id: int, item_id: int) -> None:
    """``SoldOut`` when the cache flags the activity or the item sold out (a hint: the grab
    itself cannot oversell; a missing flag only costs the database a refusal)."""
    if waiting_room.sold_out(activity_id, item_id):
        raise sold_out_error() if waiting_room.sold_out(activity_id) else _item_sold_out_error()


def attempt_with_pass(*, activity: Activity, granted: Pass, item_id: int, token: str = "") -> Outcome:
    """``attempt`` on the hot lane (``activities.passes``): the member loaded by the pass's
    id, then every check of the session path. The lane answers 已抢完 before this, from the
    pass and ``refuse_if_sold_out`` alone — what nearly the whole crowd gets once the stock
    is gone costs no query."""
    return attempt(activity=activity, member=member_selectors.by_id(granted.member_id), item_id=item_id, token=token)


def grab(*, activity: Activity, member: Member, item_id: int) -> Grant:
    """Take one unit of ``item_id`` for ``member`` — or ``SoldOut`` / ``AlreadyGranted``.

    Precondition: the member is eligible (``attempt`` checks it); the constraints and the
    conditional UPDATE below hold whatever happens concurrently.
    """
    for _retry in range(3):
        try:
            with transaction.atomic():
                grant = Grant.objects.create(
                    activity=activity, item_id=item_id, member=member, code=new_code(), org_path=member.org_path
                )
                if not record_participation(activity, member):
                    raise AlreadyGranted(message="您已参与过本次抢票（每人限抢一张）。")
                taken = _take_one(activity, item_id)
                if taken is None:
                    raise _NoStock
                if taken.coupon_template_id is not None:
                    grant.coupon = _issue_coupon(activity, member, taken.coupon_template_id)
                    grant.save(update_fields=["coupon"])
            return grant
        except _NoStock:
            _explain_no_stock(activity, item_id)
        except IntegrityError:
            # Rolled back. Either this member already holds a grant (a double click, a
            # second device), the item is not this activity's, or — once in 10^14 — the
            # random code collided, which the next round retries.
            if Grant.objects.filter(activity=activity, member=member).exists():
                raise AlreadyGranted(message="您已参与过本次抢票（每人限抢一张）。") from None
            if not RushItem.objects.filter(pk=item_id, activity=activity).exists():
                raise ItemUnknown(message="没有这个票种。") from None
    raise Conflict("RUSH_RETRY", "系统繁忙，请再试一次。")


@dataclass(frozen=True)
class _Taken:
    coupon_template_id: int | None


def _take_one(activity: Activity, item_id: int) -> _Taken | None:
    """One unit of the item, or ``None`` when none is left (or the item is not this rush's).

    ``UPDATE … SET remaining = remaining - 1 WHERE … AND remaining > 0`` — the one
    conditional statement that makes oversell impossible — returning the item's coupon
    template, so a ticket rush pays no extra round trip while it holds the item's row.
    """
    table = connection.ops.quote_name(RushItem._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {table} SET "remaining" = "remaining" - 1 '  # noqa: S608 - the table name is ours
            'WHERE "id" = %s AND "activity_id" = %s AND "remaining" > 0 RETURNING "coupon_template_id"',
            [item_id, activity.pk],
        )
        row = cursor.fetchone()
    return _Taken(row[0]) if row is not None else None


def coupon_key(activity: Activity, member: Member) -> str:
    """The idempotency key of a grant's coupon: one per member and rush, like the grant."""
    return f"rush:{activity.pk}:{member.pk}"


def _issue_coupon(activity: Activity, member: Member, template_id: int) -> Coupon:
    """The coupon of a coupon item, inside the grab's transaction (a refusal rolls it back)."""
    template = CouponTemplate.objects.get(pk=template_id)
    issued = coupon_actions.issue(
        template, member, source=CouponSource.RUSH, source_id=str(activity.pk), key=coupon_key(activity, member)
    )
    return issued.coupon


def _explain_no_stock(activity: Activity, item_id: int) -> None:
    """After an empty UPDATE: unknown item, or sold out (and flag it for the waiting crowd)."""
    if not RushItem.objects.filter(pk=item_id, activity=activity).exists():
        raise ItemUnknown(message="没有这个票种。")
    everything = not RushItem.objects.filter(activity=activity, remaining__gt=0).exists()
    waiting_room.mark_sold_out(activity.pk, item_id, everything=everything)
    raise sold_out_error() if everything else _item_sold_out_error()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def qr_payload(grant: Grant) -> str:
    """What the grant's QR carries: its code, signed (a made-up code does not verify)."""
    return signing.dumps({"g": grant.pk, "c": grant.code}, salt=GRANT_SALT, compress=False)


def code_from_scan(text: str) -> str:
    """The redemption code in a scanned QR payload or a typed code."""
    text = text.strip()
    if ":" in text:
        try:
            data: Any = signing.loads(text, salt=GRANT_SALT)
        except signing.BadSignature:
            raise InvalidValue("RUSH_CODE_INVALID", "二维码无效或已被篡改。") from None
        return str(data.get("c", "")) if isinstance(data, dict) else ""
    return text.upper().replace(" ", "")


def cancel_deadline(activity: Activity) -> datetime | None:
    value = activity.setting("cancel_deadline")
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def can_cancel(activity: Activity, now: datetime | None = None) -> bool:
    deadline = cancel_deadline(activity)
    return deadline is not None and (now or timezone.now()) < deadline


def cancel(*, activity: Activity, member: Member, now: datetime | None = None) -> Grant:
    """Give the member's ticket back before the deadline: exactly one unit returns."""
    now = now or timezone.now()
    if not can_cancel(activity, now):
        raise Conflict("RUSH_CANCEL_CLOSED", "本次抢票不可取消或已过取消截止时间。")
    with transaction.atomic():
        grant = Grant.objects.filter(activity=activity, member=member).select_related("item", "coupon").first()
        if grant is None:
            raise DomainError("RUSH_NO_GRANT", "您没有抢到的票。")
        # The status moves once (a second, concurrent cancel touches no row), and only the
        # request that moved it returns the unit.
        moved = Grant.objects.filter(pk=grant.pk, status=GrantStatus.GRANTED).update(
            status=GrantStatus.CANCELLED, cancelled_at=now
        )
        if not moved:
            raise Conflict("RUSH_NOT_CANCELLABLE", "这张票已取消或已核销，不能再取消。")
        if grant.coupon is not None:
            _void_coupon(grant.coupon, member)  # a used coupon rolls the cancellation back
        RushItem.objects.filter(pk=grant.item_id).update(remaining=F("remaining") + 1)
        activity_id, item_id = activity.pk, grant.item_id
        transaction.on_commit(lambda: waiting_room.clear_sold_out(activity_id, item_id))
    grant.refresh_from_db()
    return grant


def _void_coupon(coupon: Coupon, member: Member) -> None:
    """Revoke the grant's coupon with the cancellation; ``RUSH_COUPON_USED`` if it was used.

    The revocation is one conditional UPDATE on the coupon's row (``status='issued'``): a
    cashier redeeming it at the same instant waits for this transaction, or this one for
    theirs, and exactly one of the two wins.
    """
    try:
        coupon_actions.revoke_unused(
            coupon, reason="抢券退票", actor=member.user, actor_label="" if member.user_id else "会员退票"
        )
    except Conflict as exc:
        if exc.code != "COUPON_NOT_REVOCABLE":
            raise
        if coupon.status == CouponStatus.REDEEMED:
            raise Conflict("RUSH_COUPON_USED", "这张券已经使用，不能退票。") from None
        # Expired or already revoked by the issuing union: nothing left to take back.


# --- organiser --------------------------------------------------------------------------


def _require_editable(activity: Activity) -> None:
    if activity.state not in (ActivityState.DRAFT, ActivityState.PUBLISHED):
        raise Conflict("RUSH_ITEMS_FROZEN", "抢票已开始：票种和库存不能再修改。")


def _clean_item(values: dict[str, Any], activity: Activity) -> dict[str, Any]:
    name = str(values.get("name") or "").strip()
    if not name:
        raise InvalidValue("RUSH_ITEM_NAME", "请填写票种名称。", field="name")
    try:
        stock = int(values.get("stock"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidValue("RUSH_ITEM_STOCK", "投放数量必须是整数。", field="stock") from None
    if not 1 <= stock <= 10_000_000:
        raise InvalidValue("RUSH_ITEM_STOCK", "投放数量必须在 1 到 10,000,000 之间。", field="stock")
    template = None
    if values.get("coupon_template_id"):
        try:
            template_id = int(values["coupon_template_id"])
        except (TypeError, ValueError):
            raise InvalidValue("COUPON_TEMPLATE_OUTSIDE", "请选择有效的券。", field="coupon_template") from None
        template = coupon_actions.check_usable_template(activity.org_path, template_id)
        if template.remaining < stock:
            raise InvalidValue(
                "RUSH_COUPON_STOCK",
                f"“{template.name}”只剩 {template.remaining} 张，少于投放数量 {stock}。",
                field="coupon_template",
            )
    return {
        "name": name[:80],
        "detail": str(values.get("detail") or "").strip()[:200],
        "stock": stock,
        "coupon_template": template,
    }


def _brief(clean: dict[str, Any]) -> dict[str, Any]:
    template = clean["coupon_template"]
    return {**clean, "coupon_template": template.pk if template is not None else None}


@transaction.atomic
def add_item(
    *,
    actor: Any,
    activity: Activity,
    name: str,
    detail: str = "",
    stock: int,
    coupon_template_id: int | None = None,
) -> RushItem:
    """A ticket type with its stock, before the rush opens; with a coupon template, a rush of
    coupons (the template must be the organiser union's or a union's above it)."""
    locked = lock(activity)
    _require_editable(locked)
    clean = _clean_item(
        {"name": name, "detail": detail, "stock": stock, "coupon_template_id": coupon_template_id}, locked
    )
    position = RushItem.objects.filter(activity=locked).count()
    item = RushItem.objects.create(activity=locked, remaining=clean["stock"], position=position, **clean)
    audit.record(
        "activity_rush.item_add", actor=actor, obj=locked, org=locked.org, details={"item": item.pk, **_brief(clean)}
    )
    return item


@transaction.atomic
def update_item(
    *,
    actor: Any,
    activity: Activity,
    item: RushItem,
    name: str,
    detail: str = "",
    stock: int,
    coupon_template_id: int | None = None,
) -> RushItem:
    """Change a ticket type before the rush opens (no grants exist yet: remaining = stock)."""
    locked = lock(activity)
    _require_editable(locked)
    if item.activity_id != locked.pk:
        raise ItemUnknown(message="没有这个票种。")
    clean = _clean_item(
        {"name": name, "detail": detail, "stock": stock, "coupon_template_id": coupon_template_id}, locked
    )
    item.name, item.detail, item.stock, item.remaining = clean["name"], clean["detail"], clean["stock"], clean["stock"]
    item.coupon_template = clean["coupon_template"]
    item.save(update_fields=["name", "detail", "stock", "remaining", "coupon_template"])
    audit.record(
        "activity_rush.item_update",
        actor=actor,
        obj=locked,
        org=locked.org,
        details={"item": item.pk, **_brief(clean)},
    )
    return item


@transaction.atomic
def delete_item(*, actor: Any, activity: Activity, item: RushItem) -> None:
    locked = lock(activity)
    _require_editable(locked)
    if item.activity_id != locked.pk:
        raise ItemUnknown(message="没有这个票种。")
    details = {"item": item.pk, "name": item.name, "stock": item.stock}
    item.delete()
    audit.record("activity_rush.item_delete", actor=actor, obj=locked, org=locked.org, details=details)


@transaction.atomic
def redeem(*, actor: Any, activity: Activity, scanned: str) -> Grant:
    """Mark a grant used at the gate (核销), by its code or its QR; once only."""
    code = code_from_scan(scanned)
    grant = Grant.objects.filter(activity=activity, code=code).select_related("item", "member").first()
    if grant is None:
        raise CodeUnknown(message="本活动没有这个兑换码。")
    if grant.coupon_id is not None:
        raise Conflict("RUSH_REDEEM_COUPON", "这张票是券，请在合作商户核销券码，不在这里核销。")
    now = timezone.now()
    moved = Grant.objects.filter(pk=grant.pk, status=GrantStatus.GRANTED).update(
        status=GrantStatus.REDEEMED, redeemed_at=now, redeemed_by=actor
    )
    if not moved:
        label = GrantStatus(grant.status).label
        raise Conflict("RUSH_NOT_REDEEMABLE", f"这张票{label}，不能核销。")
    audit.record("activity_rush.redeem", actor=actor, obj=activity, org=activity.org, details={"grant": grant.pk})
    grant.refresh_from_db()
    return grant
