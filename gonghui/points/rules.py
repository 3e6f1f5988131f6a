"""Earning rules: who gets how many points for what, within which caps.

``award`` is the one way points are earned by using the platform. It runs under the
member's account lock (so caps hold against parallel requests), pays each event once
(idempotency key ``<kind>:<object>:<member>``), takes the rule version in effect at the
time of the event from the nearest union on the member's path, and pays at most what the
rule's daily/monthly caps and the overall caps (a rule of kind ``overall``) leave — a
capped award pays the remainder, an exhausted cap pays nothing and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.db.models.functions import Length
from django.utils import timezone

from gonghui.core import audit
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs.models import Org
from gonghui.points import ledger
from gonghui.points.models import Account, EarningRule, Entry, EntryKind, RuleKind, SignIn, SourceType

STEP = Org.steplen
EARNING_SOURCES = (SourceType.RULE, SourceType.ACTIVITY)


@dataclass(frozen=True)
class Award:
    points: int
    code: str  # "PAID", "CAPPED" (paid less than the rule), or why nothing was paid
    message: str = ""
    entry: Entry | None = None
    replayed: bool = False


def ancestor_paths(path: str) -> list[str]:
    return [path[:n] for n in range(STEP, len(path) + 1, STEP)]


def effective_rules(org_path: str, kinds: tuple[str, ...], at: datetime) -> dict[str, EarningRule]:
    """For each of ``kinds``, the version in effect at ``at`` of the nearest union on the
    path that sets it (one query; kinds no union sets are absent)."""
    found: dict[str, EarningRule] = {}
    candidates = (
        EarningRule.objects.filter(org_path__in=ancestor_paths(org_path), kind__in=kinds, effective_from__lte=at)
        .annotate(depth=Length("org_path"))
        .order_by("-depth", "-effective_from")
    )
    for rule in candidates:
        found.setdefault(rule.kind, rule)
    return found


def effective_rule(org_path: str, kind: str, at: datetime) -> EarningRule | None:
    """The version in effect at ``at`` of the nearest union on the path with that kind."""
    return effective_rules(org_path, (kind,), at).get(kind)


def _day_bounds(at: datetime) -> tuple[datetime, datetime]:
    local = timezone.localtime(at)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    return day, month


def _earned_since(account: Account, since: datetime, kind: str | None) -> int:
    entries = Entry.objects.filter(
        account=account, kind=EntryKind.EARN, source_type__in=EARNING_SOURCES, created_at__gte=since
    )
    if kind is not None:
        entries = entries.filter(source_id__startswith=f"{kind}:")
    return int(entries.aggregate(n=Sum("amount"))["n"] or 0)


def _room(account: Account, rule: EarningRule | None, kind: str | None, at: datetime) -> int | None:
    """Points the caps of ``rule`` still allow (None: no cap)."""
    if rule is None:
        return None
    day, month = _day_bounds(at)
    room: int | None = None
    if rule.daily_cap is not None:
        room = rule.daily_cap - _earned_since(account, day, kind)
    if rule.monthly_cap is not None:
        monthly = rule.monthly_cap - _earned_since(account, month, kind)
        room = monthly if room is None else min(room, monthly)
    return None if room is None else max(room, 0)


def award(
    member: Member,
    kind: str,
    object_id: Any,
    *,
    bonus: int = 0,
    at: datetime | None = None,
    rules: dict[str, EarningRule] | None = None,
) -> Award:
    """Pay ``member`` for event ``kind`` on ``object_id`` under the rules in effect
    (``rules``: the caller's ``effective_rules`` for ``kind`` and the overall cap)."""
    if kind not in RuleKind.values or kind == RuleKind.OVERALL:
        raise InvalidValue("POINTS_RULE_KIND", f"未知的积分规则：{kind}")
    at = at or timezone.now()
    key = f"{kind}:{object_id}:{member.pk}"
    # Answered before the account is locked (or created): an event nobody pays for —
    # most activities have no rule — costs two reads and no write.
    earlier = Entry.objects.filter(idempotency_key=key).first()
    if earlier is not None:
        return Award(earlier.amount, "PAID", "", earlier, replayed=True)
    if member.status not in (MemberStatus.ACTIVE, MemberStatus.RETAINED):
        return Award(0, "MEMBER_NOT_ACTIVE", "只有在册会员可以获得积分。")
    if rules is None:
        rules = effective_rules(member.org_path, (kind, RuleKind.OVERALL), at)
    rule = rules.get(kind)
    if rule is None or rule.points + bonus <= 0:
        return Award(0, "NO_RULE", "所在工会未设置该项积分。")
    with transaction.atomic():
        account = ledger.lock_account(member)
        earlier = Entry.objects.filter(idempotency_key=key).first()  # a twin paid while we waited
        if earlier is not None:
            return Award(earlier.amount, "PAID", "", earlier, replayed=True)
        wanted = rule.points + bonus
        allowed = wanted
        for room in (
            _room(account, rule, kind, at),
            _room(account, rules.get(RuleKind.OVERALL), None, at),
        ):
            if room is not None:
                allowed = min(allowed, room)
        if allowed <= 0:
            return Award(0, "CAP_REACHED", "今日（或本月）该项积分已达上限。")
        movement = ledger.earn(
            member=member,
            amount=allowed,
            key=key,
            source_type=SourceType.ACTIVITY if kind == RuleKind.ACTIVITY else SourceType.RULE,
            source_id=f"{kind}:{object_id}",
            reason=str(RuleKind(kind).label) + (f"（连续签到奖励 {bonus} 分）" if bonus else ""),
        )
        return Award(allowed, "PAID" if allowed == wanted else "CAPPED", "", movement.entry)


# --- daily sign-in ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignInResult:
    sign_in: SignIn
    award: Award


def sign_in(member: Member, *, today: date | None = None) -> SignInResult:
    """每日签到: once a day; a streak bonus every ``streak_days`` consecutive days."""
    today = today or timezone.localdate()
    with transaction.atomic():
        ledger.lock_account(member)  # serialises a member's sign-ins with their other earnings
        yesterday = SignIn.objects.filter(member=member, on_date=today - timedelta(days=1)).first()
        streak = yesterday.streak + 1 if yesterday else 1
        try:
            with transaction.atomic():
                record = SignIn.objects.create(member=member, on_date=today, streak=streak)
        except IntegrityError as exc:
            raise Conflict("ALREADY_SIGNED_IN", "今天已经签到过了，明天再来。") from exc
        at = timezone.now()
        rules = effective_rules(member.org_path, (RuleKind.SIGNIN, RuleKind.OVERALL), at)
        rule = rules.get(RuleKind.SIGNIN)
        bonus = rule.streak_bonus if rule and rule.streak_days and streak % rule.streak_days == 0 else 0
        result = award(member, RuleKind.SIGNIN, today.isoformat(), bonus=bonus, at=at, rules=rules)
        record.points = result.points
        SignIn.objects.filter(pk=record.pk).update(points=result.points)
        return SignInResult(record, result)


def signed_in_today(member: Member) -> SignIn | None:
    return SignIn.objects.filter(member=member, on_date=timezone.localdate()).first()


def min_read_seconds(member: Member) -> int:
    rule = effective_rule(member.org_path, RuleKind.READ_NEWS, timezone.now())
    return rule.min_read_seconds if rule else 10


# --- rule versions ----------------------------------------------------------------------


RULE_FIELDS = ("points", "daily_cap", "monthly_cap", "streak_days", "streak_bonus", "min_read_seconds")


@transaction.atomic
def set_rule(
    *, actor: Any, org: Org, kind: str, values: dict[str, Any], effective_from: datetime | None = None
) -> EarningRule:
    """A new version of ``org``'s rule of ``kind`` from ``effective_from`` (now by default;
    never in the past: history is not rewritten)."""
    if kind not in RuleKind.values:
        raise InvalidValue("POINTS_RULE_KIND", f"未知的积分规则：{kind}")
    now = timezone.now()
    effective_from = effective_from or now
    if effective_from < now - timedelta(minutes=1):
        raise InvalidValue("POINTS_RULE_PAST", "规则只能从现在或将来生效，不能改写已发生的积分。")
    clean: dict[str, Any] = {}
    for name in RULE_FIELDS:
        value = values.get(name)
        if value in (None, ""):
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidValue("POINTS_RULE_VALUE", f"{name} 必须是整数。", field=name) from None
        if number < 0 or number > 1_000_000:
            raise InvalidValue("POINTS_RULE_VALUE", f"{name} 必须在 0 到 1000000 之间。", field=name)
        clean[name] = number
    if kind == RuleKind.OVERALL:
        clean["points"] = 0
        if clean.get("daily_cap") is None and clean.get("monthly_cap") is None:
            raise InvalidValue("POINTS_RULE_VALUE", "总上限规则至少要设置每日或每月上限。")
    rule = EarningRule.objects.create(
        org=org, org_path=org.path, kind=kind, effective_from=effective_from, created_by=actor, **clean
    )
    audit.record(
        "points.rule",
        actor=actor,
        obj=rule,
        org=org,
        details={"kind": kind, **clean, "effective_from": effective_from.isoformat()},
    )
    return rule


def rules_in_effect(org: Org, at: datetime | None = None) -> dict[str, EarningRule | None]:
    """For the console: what each kind pays members of ``org`` now (own or inherited)."""
    at = at or timezone.now()
    found = effective_rules(org.path, tuple(RuleKind.values), at)
    return {kind: found.get(kind) for kind in RuleKind.values}


def history(org: Org) -> Any:
    return EarningRule.objects.filter(org=org).order_by("kind", "-effective_from")
