"""Scoped reads of the points ledger for the pages and the API: a member's balance,
what expires soon, their statement; a subtree's monthly totals.

Writes never happen here (ledger.py and rules.py move points).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Case, F, IntegerField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncMonth
from django.utils import timezone

from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.members.models import Member
from gonghui.points.models import Account, Entry, EntryKind, Lot

EXPIRING_DAYS = 30


@dataclass(frozen=True)
class Summary:
    balance: int
    earned_total: int
    expiring: int  # points in lots that expire within EXPIRING_DAYS
    expiring_lots: list[Lot]


def summary(member: Member, *, now: datetime | None = None) -> Summary:
    now = now or timezone.now()
    account = Account.objects.filter(member_id=member.pk).first()
    if account is None:
        return Summary(0, 0, 0, [])
    lots = list(
        Lot.objects.filter(
            account=account, remaining__gt=0, expires_at__gt=now, expires_at__lte=now + timedelta(days=EXPIRING_DAYS)
        ).order_by("expires_at", "id")[:20]
    )
    expiring = sum(lot.remaining for lot in lots)
    return Summary(account.balance, account.earned_total, expiring, lots)


def entries_of(member: Member) -> QuerySet[Entry]:
    """Every entry of the member's account, newest first."""
    return Entry.objects.filter(account__member_id=member.pk).order_by("-id")


def scoped_accounts(user: Any, perm: Perm = Perm.POINTS_VIEW) -> QuerySet[Account]:
    return access.scope(user, Account.objects.all(), perm)


# --- the subtree's monthly report -------------------------------------------------------


@dataclass(frozen=True)
class MonthRow:
    month: str  # "2025-03"
    issued: int  # earned + granted
    spent: int  # spent − refunded, deducted
    expired: int


def _paths_q(paths: list[str]) -> Q:
    condition = Q()
    for path in paths:
        condition |= Q(account__org_path__startswith=path)
    return condition


def monthly_report(paths: list[str], *, months: int = 12, now: datetime | None = None) -> list[MonthRow]:
    """Points issued, spent and expired per month (Asia/Shanghai months) under ``paths``.

    ``paths`` must come from ``access.scope_paths`` (the caller's subtrees, maybe narrowed
    to one union inside them). One grouped query.
    """
    if not paths:
        return []
    now = now or timezone.now()
    tz = ZoneInfo(settings.TIME_ZONE)
    local = timezone.localtime(now, tz)
    first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    year, month = first.year, first.month - (months - 1)
    while month <= 0:
        month += 12
        year -= 1
    start = first.replace(year=year, month=month)
    signed = {
        "issued": Case(
            When(kind=EntryKind.EARN, then="amount"),
            When(kind=EntryKind.ADJUST, amount__gt=0, then="amount"),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "spent": Case(
            When(kind=EntryKind.SPEND, then=-F("amount")),
            When(kind=EntryKind.REFUND, then=-F("amount")),
            When(kind=EntryKind.ADJUST, amount__lt=0, then=-F("amount")),
            default=Value(0),
            output_field=IntegerField(),
        ),
        "expired": Case(When(kind=EntryKind.EXPIRE, then=-F("amount")), default=Value(0), output_field=IntegerField()),
    }
    rows = (
        Entry.objects.filter(_paths_q(paths), created_at__gte=start)
        .annotate(month=TruncMonth("created_at", tzinfo=tz))
        .values("month")
        .annotate(**{name: Sum(expr) for name, expr in signed.items()})
        .order_by("month")
    )
    found: dict[str, dict[str, Any]] = {timezone.localtime(r["month"], tz).strftime("%Y-%m"): dict(r) for r in rows}
    result = []
    y, m = start.year, start.month
    for _ in range(months):
        key = f"{y:04d}-{m:02d}"
        row: dict[str, Any] = found.get(key, {})
        result.append(
            MonthRow(key, int(row.get("issued") or 0), int(row.get("spent") or 0), int(row.get("expired") or 0))
        )
        m += 1
        if m > 12:
            m, y = 1, y + 1
    return result
