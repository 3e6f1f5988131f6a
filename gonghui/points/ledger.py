"""Every movement of points: earn, spend, refund, expire, adjust.

Each function locks the member's account row, checks the idempotency key *after* taking
the lock (two racing requests with one key: the second sees the first's entry and returns
it), writes the entry, its lot or lot uses, and the new balance in one transaction.

- ``earn`` creates a lot expiring ``POINTS_EXPIRY_MONTHS`` later (or at ``expires_at``);
- ``spend`` first expires the account's due lots, then consumes unexpired lots
  first-in-first-out (soonest expiry first); not enough points → ``POINTS_INSUFFICIENT``;
- ``refund`` gives back (part of) a spend to the very lots it came from — a refund does
  not extend validity: a lot that has expired meanwhile expires again at the next run;
- ``adjust`` is a cadre's grant (a new lot) or deduction (FIFO like a spend), with a reason;
- ``expire_due`` (periodic, resumable: each lot expires in its own idempotent entry)
  zeroes every lot past its expiry.

The same key with different content is refused (``IDEMPOTENCY_KEY_REUSED``): a client that
reuses a key for another operation has a bug we must not hide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from gonghui.core import audit
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members.models import Member
from gonghui.points.models import Account, Entry, EntryKind, Lot, LotUse, SourceType


class InsufficientPoints(Conflict):
    code = "POINTS_INSUFFICIENT"


@dataclass(frozen=True)
class Movement:
    entry: Entry
    replayed: bool  # True when the key had already been used for this very movement


def expiry_for(now: datetime) -> datetime:
    months = settings.POINTS_EXPIRY_MONTHS
    year, month = divmod(now.month - 1 + months, 12)
    day = min(now.day, 28)
    return now.replace(year=now.year + year, month=month + 1, day=day)


def lock_account(member: Member) -> Account:
    """The member's account (created on first use), locked for the rest of the transaction."""
    account = Account.objects.select_for_update().filter(member_id=member.pk).first()
    if account is None:
        try:
            with transaction.atomic():
                Account.objects.create(member=member, org_path=member.org_path)
        except IntegrityError:
            pass  # created by a concurrent first movement
        account = Account.objects.select_for_update().get(member_id=member.pk)
    return account


def _replay(key: str, account: Account, kind: str, amount: int) -> Movement | None:
    entry = Entry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    if entry.account_id != account.pk or entry.kind != kind or entry.amount != amount:
        raise Conflict("IDEMPOTENCY_KEY_REUSED", "该幂等键已用于另一笔积分变动。", key=key)
    return Movement(entry, True)


def _check_key(key: str) -> None:
    if not key or len(key) > 128:
        raise InvalidValue("IDEMPOTENCY_KEY_REQUIRED", "积分变动必须带幂等键（1–128 个字符）。")


def _write(
    account: Account,
    *,
    kind: str,
    amount: int,
    source_type: str,
    source_id: str,
    reason: str,
    key: str,
    actor: Any = None,
    reverses: Entry | None = None,
) -> Entry:
    account.balance += amount
    if kind == EntryKind.EARN:
        account.earned_total += amount
    if account.balance < 0:  # the check constraint is the last line; say it clearly first
        raise InsufficientPoints(message="积分不足。")
    entry = Entry.objects.create(
        account=account,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        source_type=source_type,
        source_id=str(source_id)[:64],
        reason=reason[:200],
        idempotency_key=key,
        reverses=reverses,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    account.save(update_fields=["balance", "earned_total", "updated_at"])
    return entry


def _credit_lot(account: Account, entry: Entry, amount: int, expires_at: datetime) -> Lot:
    return Lot.objects.create(account=account, entry=entry, amount=amount, remaining=amount, expires_at=expires_at)


def _consume(account: Account, entry: Entry, amount: int, now: datetime) -> None:
    """Take ``amount`` from unexpired lots, soonest expiry first."""
    left = amount
    lots = Lot.objects.filter(account=account, remaining__gt=0, expires_at__gt=now).order_by("expires_at", "id")
    uses = []
    for lot in lots.select_for_update():
        take = min(left, lot.remaining)
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        uses.append(LotUse(entry=entry, lot=lot, amount=take))
        left -= take
        if left == 0:
            break
    if left:
        raise InsufficientPoints(message="可用积分不足。")
    LotUse.objects.bulk_create(uses)


def _expire_account(account: Account, now: datetime) -> int:
    """Expire the account's due lots (inside the caller's lock). Returns points expired."""
    total = 0
    due = Lot.objects.filter(account=account, remaining__gt=0, expires_at__lte=now).annotate(n_uses=Count("uses"))
    for lot in due.order_by("id"):
        # A refund can refill an expired lot, so one lot may expire more than once: its
        # number of uses so far tells the expiries apart.
        key = f"expire:lot:{lot.pk}:{lot.remaining}:{lot.n_uses}"
        amount = lot.remaining
        entry = _write(
            account,
            kind=EntryKind.EXPIRE,
            amount=-amount,
            source_type=SourceType.EXPIRY,
            source_id=str(lot.pk),
            reason="积分到期",
            key=key,
        )
        lot.remaining = 0
        lot.save(update_fields=["remaining"])
        LotUse.objects.create(entry=entry, lot=lot, amount=amount)
        total += amount
    return total


@transaction.atomic
def earn(
    *,
    member: Member,
    amount: int,
    key: str,
    source_type: str = SourceType.RULE,
    source_id: str = "",
    reason: str = "",
    actor: Any = None,
    expires_at: datetime | None = None,
) -> Movement:
    _check_key(key)
    if amount <= 0:
        raise InvalidValue("POINTS_AMOUNT", "获得的积分必须是正整数。")
    account = lock_account(member)
    replay = _replay(key, account, EntryKind.EARN, amount)
    if replay:
        return replay
    now = timezone.now()
    entry = _write(
        account,
        kind=EntryKind.EARN,
        amount=amount,
        source_type=source_type,
        source_id=source_id,
        reason=reason,
        key=key,
        actor=actor,
    )
    _credit_lot(account, entry, amount, expires_at or expiry_for(now))
    return Movement(entry, False)


@transaction.atomic
def spend(
    *, member: Member, amount: int, key: str, source_type: str = SourceType.ORDER, source_id: str = "", reason: str = ""
) -> Movement:
    _check_key(key)
    if amount <= 0:
        raise InvalidValue("POINTS_AMOUNT", "消费的积分必须是正整数。")
    account = lock_account(member)
    replay = _replay(key, account, EntryKind.SPEND, -amount)
    if replay:
        return replay
    now = timezone.now()
    _expire_account(account, now)
    if account.balance < amount:
        raise InsufficientPoints(message=f"积分不足：需要 {amount} 分，可用 {account.balance} 分。")
    entry = _write(
        account,
        kind=EntryKind.SPEND,
        amount=-amount,
        source_type=source_type,
        source_id=source_id,
        reason=reason,
        key=key,
    )
    _consume(account, entry, amount, now)
    return Movement(entry, False)


@transaction.atomic
def refund(*, spend_entry: Entry, key: str, amount: int | None = None, reason: str = "") -> Movement:
    """Give back ``amount`` (default: all that is left) of a spend to the lots it used."""
    _check_key(key)
    account = Account.objects.select_for_update().get(pk=spend_entry.account_id)
    spent = Entry.objects.get(pk=spend_entry.pk)
    if spent.kind not in (EntryKind.SPEND, EntryKind.ADJUST) or spent.amount >= 0:
        raise InvalidValue("POINTS_REFUND_NOT_SPEND", "只能退回一笔消费或扣减。")
    already = -(spent.reversals.aggregate(n=Sum("amount"))["n"] or 0)
    refundable = -spent.amount + already  # already ≤ 0
    amount = refundable if amount is None else amount
    replay = _replay(key, account, EntryKind.REFUND, amount)
    if replay:
        return replay
    if amount <= 0 or amount > refundable:
        raise Conflict("POINTS_REFUND_TOO_MUCH", f"这笔消费最多还能退回 {max(refundable, 0)} 分。")
    entry = _write(
        account,
        kind=EntryKind.REFUND,
        amount=amount,
        source_type=spent.source_type,
        source_id=spent.source_id,
        reason=reason or "退回",
        key=key,
        reverses=spent,
    )
    # Back to the lots the spend took from, the latest-expiring first (they were used last).
    left = amount
    restored: dict[int, int] = {}
    for use in spent.lot_uses.select_related("lot").order_by("-lot__expires_at", "-lot_id"):
        previously = -(
            LotUse.objects.filter(entry__reverses=spent, lot_id=use.lot_id).aggregate(n=Sum("amount"))["n"] or 0
        )
        give = min(left, use.amount - previously - restored.get(use.lot_id, 0))
        if give <= 0:
            continue
        lot = Lot.objects.select_for_update().get(pk=use.lot_id)
        lot.remaining += give
        lot.save(update_fields=["remaining"])
        LotUse.objects.create(entry=entry, lot=lot, amount=-give)
        restored[use.lot_id] = restored.get(use.lot_id, 0) + give
        left -= give
        if left == 0:
            break
    if left:  # cannot happen while the lot uses are consistent; check_ledgers would say so
        raise Conflict("POINTS_REFUND_LOTS", "退回的积分与原消费的批次不一致。")
    return Movement(entry, False)


@transaction.atomic
def adjust(*, actor: Any, member: Member, amount: int, reason: str, key: str) -> Movement:
    """A cadre's grant (positive, a new lot) or deduction (negative, FIFO), audited."""
    _check_key(key)
    if amount == 0:
        raise InvalidValue("POINTS_AMOUNT", "调整的积分不能为 0。")
    if not reason.strip():
        raise InvalidValue("POINTS_REASON_REQUIRED", "请填写调整原因。")
    account = lock_account(member)
    replay = _replay(key, account, EntryKind.ADJUST, amount)
    if replay:
        return replay
    now = timezone.now()
    if amount < 0:
        _expire_account(account, now)
        if account.balance < -amount:
            raise InsufficientPoints(message=f"积分不足：要扣减 {-amount} 分，可用 {account.balance} 分。")
    entry = _write(
        account,
        kind=EntryKind.ADJUST,
        amount=amount,
        source_type=SourceType.GRANT,
        source_id=str(getattr(actor, "pk", "") or ""),
        reason=reason.strip(),
        key=key,
        actor=actor,
    )
    if amount > 0:
        _credit_lot(account, entry, amount, expiry_for(now))
    else:
        _consume(account, entry, -amount, now)
    audit.record(
        "points.adjust",
        actor=actor,
        obj=entry,
        org=member.org,
        details={"member": member.pk, "amount": amount, "reason": reason.strip()[:200]},
    )
    return Movement(entry, False)


def expire_due(now: datetime | None = None, *, batch: int = 500) -> int:
    """Expire every lot past its expiry, account by account (each in its own transaction:
    a killed run resumes where it stopped and never expires a lot twice)."""
    now = now or timezone.now()
    expired = 0
    while True:
        account_ids = list(
            Lot.objects.filter(remaining__gt=0, expires_at__lte=now)
            .values_list("account_id", flat=True)
            .distinct()
            .order_by("account_id")[:batch]
        )
        if not account_ids:
            return expired
        for account_id in account_ids:
            with transaction.atomic():
                account = Account.objects.select_for_update().get(pk=account_id)
                expired += _expire_account(account, now)


def balance_of(member: Member) -> int:
    return Account.objects.filter(member_id=member.pk).values_list("balance", flat=True).first() or 0
