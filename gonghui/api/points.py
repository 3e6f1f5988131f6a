"""``/api/v1/me/points`` (members) and ``/api/v1/points`` (cadres): points (积分).

Members: balance and what expires soon, the statement, the daily sign-in. Cadres
(``Perm.POINTS_VIEW`` to read, ``Perm.POINTS_MANAGE`` to change): the earning rules of a
union (in effect — own or inherited — and every version), a new rule version, a member's
points, and a grant or deduction.

``Idempotency-Key``: a grant/deduction must carry one (the ledger key is
``api:<user>:<key>``: a retry returns the original entry with ``replayed: true``; the same
key with another amount is ``409 IDEMPOTENCY_KEY_REUSED``). The sign-in honours one: it
pays at most once a day whatever happens (a unique row per member and day), and a retry
with the key of the sign-in that succeeded gets that sign-in back (200, ``replayed``)
instead of ``409 ALREADY_SIGNED_IN``.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime

from django.core.cache import cache
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from gonghui.api.auth import AccountSessionAuth, current_user, require_member
from gonghui.api.errors import ApiError, responses
from gonghui.api.paging import PageMeta, paginate
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.orgs.models import Org
from gonghui.points import ledger, rules, statement
from gonghui.points.models import EarningRule, Entry, RuleKind, SignIn

MAX_PAGE_SIZE = 100
KEY_MAX = 64
SIGNIN_REPLAY_SECONDS = 2 * 24 * 3600

me_router = Router(tags=["积分 points"], auth=AccountSessionAuth())
router = Router(tags=["积分 points"])


# --- schemas ------------------------------------------------------------------------------


class LotOut(Schema):
    points: int = Field(..., description="该批剩余积分")
    expires_at: datetime = Field(..., description="到期时间")


class BalanceOut(Schema):
    balance: int = Field(..., description="积分余额")
    earned_total: int = Field(..., description="累计获得")
    expiring: int = Field(..., description=f"{statement.EXPIRING_DAYS} 天内到期的积分")
    expiring_lots: list[LotOut] = Field(..., description="即将到期的批次（先到期的在前）")
    signed_in_today: bool = Field(..., description="今天是否已签到")


class EntryOut(Schema):
    id: int
    kind: str = Field(..., description="earn 获得、spend 消费、refund 退回、expire 过期、adjust 调整")
    kind_label: str = Field(..., description="类型中文名")
    amount: int = Field(..., description="积分变动（正为增加，负为减少）")
    balance_after: int = Field(..., description="变动后余额")
    source_type: str = Field(
        ..., description="rule 积分规则、activity 参与活动、order 商城订单、grant 工会发放、expiry 到期"
    )
    source_label: str = Field(..., description="来源中文名")
    source_id: str = Field(..., description="来源编号")
    reason: str = Field(..., description="说明")
    created_at: datetime

    @staticmethod
    def of(entry: Entry) -> EntryOut:
        return EntryOut(
            id=entry.pk,
            kind=entry.kind,
            kind_label=str(entry.get_kind_display()),
            amount=entry.amount,
            balance_after=entry.balance_after,
            source_type=entry.source_type,
            source_label=str(entry.get_source_type_display()),
            source_id=entry.source_id,
            reason=entry.reason,
            created_at=entry.created_at,
        )


class StatementPage(PageMeta):
    items: list[EntryOut]


class SignInOut(Schema):
    date: dt.date = Field(..., description="签到日期（北京时间）")
    streak: int = Field(..., description="连续签到天数")
    points: int = Field(..., description="本次签到获得的积分（含连续签到奖励）")
    code: str = Field(..., description="PAID、CAPPED、CAP_REACHED、NO_RULE、MEMBER_NOT_ACTIVE")
    message: str = Field("", description="未获得积分时的原因")
    balance: int = Field(..., description="签到后的积分余额")
    replayed: bool = Field(False, description="同一 Idempotency-Key 的重试：返回原签到，未再次发放")


class RuleOut(Schema):
    id: int
    org_id: int = Field(..., description="设置该版本的工会")
    org_name: str
    kind: str = Field(..., description="signin、read_news、activity、join、verify、overall")
    points: int
    daily_cap: int | None
    monthly_cap: int | None
    streak_days: int
    streak_bonus: int
    min_read_seconds: int
    effective_from: datetime

    @staticmethod
    def of(rule: EarningRule) -> RuleOut:
        return RuleOut(
            id=rule.pk,
            org_id=rule.org_id,
            org_name=rule.org.name,
            kind=rule.kind,
            points=rule.points,
            daily_cap=rule.daily_cap,
            monthly_cap=rule.monthly_cap,
            streak_days=rule.streak_days,
            streak_bonus=rule.streak_bonus,
            min_read_seconds=rule.min_read_seconds,
            effective_from=rule.effective_from,
        )


class RuleInEffectOut(Schema):
    kind: str
    rule: RuleOut | None = Field(None, description="现行版本（无则不发放）")
    inherited: bool = Field(..., description="是否继承自上级工会")


class RulesOut(Schema):
    org_id: int
    in_effect: list[RuleInEffectOut]
    history: list[RuleOut] = Field(..., description="本级设置过的全部版本（含待生效的）")


class RuleIn(Schema):
    org_id: int
    kind: RuleKind
    points: int | None = Field(None, ge=0)
    daily_cap: int | None = Field(None, ge=0)
    monthly_cap: int | None = Field(None, ge=0)
    streak_days: int | None = Field(None, ge=0)
    streak_bonus: int | None = Field(None, ge=0)
    min_read_seconds: int | None = Field(None, ge=0, le=3600)
    effective_from: datetime | None = Field(None, description="生效时间，默认现在；不能早于现在")


class AdjustIn(Schema):
    member_id: int
    amount: int = Field(..., description="正数发放，负数扣减；不能为 0")
    reason: str = Field(..., min_length=1, max_length=200, description="原因（会员可见）")


class AdjustOut(Schema):
    entry: EntryOut
    balance: int
    replayed: bool = Field(..., description="同一 Idempotency-Key 的重试：返回原记录，未再次调整")


class MemberPointsOut(Schema):
    member_id: int
    balance: int
    earned_total: int
    expiring: int
    entries: list[EntryOut] = Field(..., description="最近的积分明细（最多 100 条）")


# --- helpers ------------------------------------------------------------------------------


def _me(request: HttpRequest) -> tuple[User, Member]:
    return current_user(request), require_member(request)


def _key(request: HttpRequest, *, required: bool) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > KEY_MAX:
        raise ApiError(400, "IDEMPOTENCY_KEY_TOO_LONG", f"Idempotency-Key 不能超过 {KEY_MAX} 个字符。")
    if required and not key:
        raise ApiError(400, "IDEMPOTENCY_KEY_REQUIRED", "积分调整必须带 Idempotency-Key 请求头。")
    return key


# --- members ------------------------------------------------------------------------------


@me_router.get("", response={200: BalanceOut, **responses(403)}, operation_id="my_points", summary="我的积分")
def my_points(request: HttpRequest) -> BalanceOut:
    _, member = _me(request)
    s = statement.summary(member)
    return BalanceOut(
        balance=s.balance,
        earned_total=s.earned_total,
        expiring=s.expiring,
        expiring_lots=[LotOut(points=lot.remaining, expires_at=lot.expires_at) for lot in s.expiring_lots],
        signed_in_today=rules.signed_in_today(member) is not None,
    )


@me_router.get(
    "/statement",
    response={200: StatementPage, **responses(403)},
    operation_id="my_points_statement",
    summary="积分明细",
)
def my_points_statement(
    request: HttpRequest,
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
    size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> StatementPage:
    """每一笔积分变动，最新的在前。"""
    _, member = _me(request)
    items, meta = paginate(statement.entries_of(member), page, size)
    return StatementPage(items=[EntryOut.of(e) for e in items], **meta)


def _sign_in_out(sign_in: SignIn, member: Member, *, code: str, message: str, replayed: bool) -> SignInOut:
    return SignInOut(
        date=sign_in.on_date,
        streak=sign_in.streak,
        points=sign_in.points,
        code=code,
        message=message,
        balance=ledger.balance_of(member),
        replayed=replayed,
    )


@me_router.post(
    "/sign-in",
    response={200: SignInOut, 201: SignInOut, **responses(403, 409)},
    operation_id="sign_in",
    summary="每日签到",
)
def sign_in(request: HttpRequest) -> Status[SignInOut]:
    """每天一次；连续签到满规则天数另有奖励。今天已签到返回 `409 ALREADY_SIGNED_IN`，除非带着那次成功签到的
    `Idempotency-Key` 重试：此时返回原签到（200，`replayed: true`）。无论如何一天只发放一次。"""
    user, member = _me(request)
    key = _key(request, required=False)
    cache_key = f"points:signin:{user.pk}:{key}" if key else ""
    try:
        result = rules.sign_in(member)
    except Conflict as exc:
        if exc.code == "ALREADY_SIGNED_IN" and cache_key:
            earlier_id = cache.get(cache_key)
            earlier = SignIn.objects.filter(pk=earlier_id, member=member).first() if earlier_id else None
            if earlier is not None:
                return Status(200, _sign_in_out(earlier, member, code="PAID", message="", replayed=True))
        raise
    if cache_key:
        cache.set(cache_key, result.sign_in.pk, SIGNIN_REPLAY_SECONDS)
    return Status(
        201,
        _sign_in_out(result.sign_in, member, code=result.award.code, message=result.award.message, replayed=False),
    )


# --- cadres -------------------------------------------------------------------------------


@router.get("/rules", response={200: RulesOut, **responses(404)}, operation_id="get_points_rules", summary="积分规则")
def get_points_rules(request: HttpRequest, org_id: int = Query(...)) -> RulesOut:  # type: ignore[type-arg]
    """某工会的会员现在按什么规则获得积分（本级或继承自上级），以及本级设置过的全部版本。"""
    org: Org = access.get_object_or_404(current_user(request), Org.objects.all(), Perm.POINTS_VIEW, pk=org_id)
    in_effect = rules.rules_in_effect(org)
    ids = [r.pk for r in in_effect.values() if r is not None]
    by_id = {r.pk: r for r in EarningRule.objects.filter(pk__in=ids).select_related("org")}
    return RulesOut(
        org_id=org.pk,
        in_effect=[
            RuleInEffectOut(
                kind=kind,
                rule=RuleOut.of(by_id[rule.pk]) if rule is not None else None,
                inherited=rule is not None and rule.org_id != org.pk,
            )
            for kind, rule in in_effect.items()
        ],
        history=[RuleOut.of(r) for r in rules.history(org).select_related("org")],
    )


@router.post(
    "/rules", response={201: RuleOut, **responses(400, 404)}, operation_id="set_points_rule", summary="新增积分规则版本"
)
def set_points_rule(request: HttpRequest, body: RuleIn) -> Status[RuleOut]:
    """新版本从 `effective_from`（默认现在）起生效，不改写已发放的积分；早于现在返回 `400 POINTS_RULE_PAST`。"""
    user = current_user(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.POINTS_MANAGE, pk=body.org_id)
    values = {name: getattr(body, name) for name in rules.RULE_FIELDS}
    rule = rules.set_rule(actor=user, org=org, kind=body.kind, values=values, effective_from=body.effective_from)
    return Status(201, RuleOut.of(EarningRule.objects.select_related("org").get(pk=rule.pk)))


def _scoped_member(request: HttpRequest, member_id: int, perm: Perm) -> Member:
    member: Member = access.get_object_or_404(
        current_user(request), Member.objects.select_related("org"), perm, pk=member_id
    )
    return member


@router.get(
    "/members/{int:member_id}",
    response={200: MemberPointsOut, **responses(404)},
    operation_id="get_member_points",
    summary="会员的积分（干部）",
)
def get_member_points(request: HttpRequest, member_id: int) -> MemberPointsOut:
    member = _scoped_member(request, member_id, Perm.POINTS_VIEW)
    s = statement.summary(member)
    return MemberPointsOut(
        member_id=member.pk,
        balance=s.balance,
        earned_total=s.earned_total,
        expiring=s.expiring,
        entries=[EntryOut.of(e) for e in statement.entries_of(member)[:100]],
    )


@router.post(
    "/adjust",
    response={200: AdjustOut, 201: AdjustOut, **responses(400, 404, 409)},
    operation_id="adjust_points",
    summary="发放或扣减会员积分（需 Idempotency-Key）",
)
def adjust_points(request: HttpRequest, body: AdjustIn) -> Status[AdjustOut]:
    """必须带 `Idempotency-Key`（≤ 64 字符）：同一个键的重试返回原记录（200，`replayed: true`）；同一个键用于
    不同的金额返回 `409 IDEMPOTENCY_KEY_REUSED`。扣减超过余额返回 `409 POINTS_INSUFFICIENT`。"""
    user = current_user(request)
    key = _key(request, required=True)
    member = _scoped_member(request, body.member_id, Perm.POINTS_MANAGE)
    movement = ledger.adjust(
        actor=user, member=member, amount=body.amount, reason=body.reason, key=f"api:{user.pk}:{key}"
    )
    out = AdjustOut(entry=EntryOut.of(movement.entry), balance=ledger.balance_of(member), replayed=movement.replayed)
    return Status(200 if movement.replayed else 201, out)
