"""Coupons (券): the member's wallet, the merchant's redemption, and the cadre's templates,
issuing and reports.

- ``/api/v1/me/coupons`` — any logged-in account with a member record (its own coupons);
- ``/api/v1/merchant/...`` — the session of a merchant cashier account;
- ``/api/v1/coupons/...`` — cadres (second factor passed), scoped to their subtree.

Writes that create or consume a coupon honour ``Idempotency-Key``: the key is made per
caller (``api:<user id>:<key>``), so a retried issue returns the same coupon and a retried
redemption returns the first result instead of ``COUPON_ALREADY_REDEEMED``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Header, Query, Router, Schema, Status

from gonghui.api.auth import AccountSessionAuth, current_user, require_member
from gonghui.api.errors import ApiError, responses
from gonghui.core import access, pii
from gonghui.core.access import Perm
from gonghui.core.models import User
from gonghui.coupons import actions, selectors, tokens
from gonghui.coupons.models import (
    BulkIssue,
    Coupon,
    CouponCategory,
    CouponStatus,
    CouponTemplate,
    Merchant,
    Redemption,
    TemplateStatus,
    ValidityKind,
)
from gonghui.members.models import Member
from gonghui.orgs.models import Org

session_auth = AccountSessionAuth()
me_router = Router(tags=["券 coupons"], auth=session_auth)
merchant_router = Router(tags=["券 coupons"], auth=session_auth)
router = Router(tags=["券 coupons"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="幂等键（1–64 个字符）：重试同一请求时带同一个键，返回第一次的结果 / retry with the same key",
    ),
]


def _user(request: HttpRequest) -> User:
    user = getattr(request, "auth", None)
    if not isinstance(user, User):
        raise ApiError(401, "AUTH_REQUIRED", "请先登录")
    return user


def _key(user: User, header: str | None, *, required: bool) -> str | None:
    if not header:
        if required:
            raise ApiError(400, "IDEMPOTENCY_KEY_REQUIRED", "请在请求头 Idempotency-Key 中提供幂等键。")
        return None
    header = header.strip()
    if not 0 < len(header) <= 64:
        raise ApiError(400, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key 长度应为 1–64 个字符。")
    return f"api:{user.pk}:{header}"


# --- schemas ---------------------------------------------------------------------------------


class MerchantOut(Schema):
    id: int = Field(..., description="商户 ID")
    name: str = Field(..., description="商户名称")
    kind: str = Field(
        ..., description="类型：sanatorium 疗休养基地、hot_spring 温泉、scenic 景区、cinema 影院、dining 餐饮、other"
    )
    address: str = Field("", description="地址")


class CouponOut(Schema):
    code: str = Field(..., description="券码（12 位，展示时按 4 位分组）")
    display_code: str = Field(..., description="分组后的券码，如 AB12-CD34-EF56")
    name: str = Field(..., description="券名称")
    category: CouponCategory = Field(..., description="类别")
    face_value_fen: int | None = Field(None, description="面值（分）；无面值时见 benefit")
    benefit: str = Field("", description="权益说明")
    status: CouponStatus = Field(
        ...,
        description="issued 未使用、redeemed 已使用、expired 已过期、revoked 已作废"
        "（已过有效期的未使用券显示为 expired）",
    )
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    source: str = Field(
        ..., description="来源：welfare 普惠发放、lottery 抽奖、points 积分兑换、rush 抢券、grant 工会发放"
    )
    redeemed_at: datetime | None = None
    redeemed_by: str = Field("", description="核销商户名称")


class CouponDetailOut(CouponOut):
    terms: str = Field("", description="使用须知")
    union: str = Field(..., description="发券工会")
    merchants: list[MerchantOut] = Field(..., description="适用商户")
    qr_content: str = Field("", description="券二维码的内容（签名的券码）；仅未使用的券返回")


def _coupon_out(coupon: Coupon) -> CouponOut:
    t = coupon.template
    return CouponOut(
        code=coupon.code,
        display_code=coupon.display_code,
        name=t.name,
        category=CouponCategory(t.category),
        face_value_fen=t.face_value_fen,
        benefit=t.benefit,
        status=CouponStatus(selectors.shown_status(coupon)),
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        issued_at=coupon.issued_at,
        source=coupon.source,
        redeemed_at=coupon.redeemed_at,
        redeemed_by=coupon.redeemed_by_merchant.name if coupon.redeemed_by_merchant else "",
    )


def _merchant_out(m: Merchant) -> MerchantOut:
    return MerchantOut(id=m.pk, name=m.name, kind=m.kind, address=m.address)


# --- the member's wallet ---------------------------------------------------------------------


def _member(request: HttpRequest) -> Member:
    return require_member(request, 404)


@me_router.get(
    "",
    response={200: list[CouponOut], **responses(404)},
    operation_id="list_my_coupons",
    summary="我的券（可用 / 已使用 / 已过期）",
)
def list_my_coupons(
    request: HttpRequest,
    tab: Annotated[str, Query(description="available 可用（默认）、used 已使用、expired 已过期及已作废")] = "available",
) -> list[CouponOut]:
    """当前登录会员的券，最多 200 张。 / The caller's coupons on one wallet tab."""
    member = _member(request)
    if tab not in selectors.TABS:
        raise ApiError(422, "VALIDATION_ERROR", "tab 只能是 available、used 或 expired")
    return [_coupon_out(c) for c in selectors.wallet(member, tab)[:200]]


@me_router.get(
    "/{code}",
    response={200: CouponDetailOut, **responses(404)},
    operation_id="get_my_coupon",
    summary="我的一张券（含二维码内容、使用须知、适用商户）",
)
def get_my_coupon(request: HttpRequest, code: str) -> CouponDetailOut:
    """二维码内容是签名的券码，长期有效；券是否可用由核销时的服务器判断。"""
    member = _member(request)
    coupon = (
        Coupon.objects.select_related("template__org", "redeemed_by_merchant")
        .filter(member=member, code=code.upper().replace("-", ""))
        .first()
    )
    if coupon is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    base = _coupon_out(coupon)
    return CouponDetailOut(
        **base.dict(),
        terms=coupon.template.terms,
        union=coupon.template.org.name,
        merchants=[_merchant_out(m) for m in coupon.template.merchants.order_by("name")],
        qr_content=tokens.qr_content(coupon.code) if base.status == CouponStatus.ISSUED else "",
    )


# --- the merchant's redemption ---------------------------------------------------------------


class CodeIn(Schema):
    code: str = Field(..., min_length=1, max_length=200, description="扫码所得的二维码内容，或会员报出的券码")


class PreviewOut(Schema):
    code: str
    display_code: str
    name: str = Field(..., description="券名称")
    value: str = Field("", description="面值或权益")
    holder: str = Field(..., description="脱敏的持券人姓名（如 张**）")
    valid_from: datetime
    valid_until: datetime
    can_redeem: bool = Field(..., description="现在能否在本店核销")
    refusal_code: str = Field("", description="不能核销时的原因代码（如 COUPON_ALREADY_REDEEMED、COUPON_EXPIRED）")
    refusal_message: str = Field("", description="不能核销时的中文说明")


class RedemptionOut(Schema):
    redemption_id: int
    code: str
    display_code: str
    name: str = Field(..., description="券名称")
    holder: str = Field(..., description="脱敏的持券人姓名")
    merchant: str = Field(..., description="核销商户")
    redeemed_at: datetime
    replayed: bool = Field(..., description="true 表示同一 Idempotency-Key 的重试，返回的是第一次的结果")


class MerchantRedemptionsOut(Schema):
    merchant: str
    today: int = Field(..., description="今日（北京时间）核销张数")
    items: list[RedemptionOut]


def _redemption_out(r: Redemption, replayed: bool = False) -> RedemptionOut:
    c = r.coupon
    return RedemptionOut(
        redemption_id=r.pk,
        code=c.code,
        display_code=c.display_code,
        name=c.template.name,
        holder=pii.mask_name(c.member.name),
        merchant=r.merchant.name,
        redeemed_at=r.at,
        replayed=replayed,
    )


@merchant_router.post(
    "/coupons/lookup",
    response={200: PreviewOut, **responses(404, 409, 429)},
    operation_id="lookup_coupon",
    summary="商户查询一张券（核销前确认）",
)
def lookup_coupon(request: HttpRequest, body: CodeIn) -> PreviewOut:
    """只有本店接受的券才返回内容（其他商户的券返回 `409 COUPON_WRONG_MERCHANT`，不含任何信息）。
    调用者须为合作商户的核销员（否则 `403 COUPON_MERCHANT_REQUIRED`）。"""
    preview = actions.lookup(_user(request), body.code)
    c = preview.coupon
    return PreviewOut(
        code=c.code,
        display_code=c.display_code,
        name=c.template.name,
        value=c.template.value_label,
        holder=preview.masked_name,
        valid_from=c.valid_from,
        valid_until=c.valid_until,
        can_redeem=preview.can_redeem,
        refusal_code=preview.refusal.code if preview.refusal else "",
        refusal_message=preview.refusal.message if preview.refusal else "",
    )


@merchant_router.post(
    "/coupons/redeem",
    response={200: RedemptionOut, **responses(400, 404, 409, 429)},
    operation_id="redeem_coupon",
    summary="核销一张券（恰好一次）",
)
def redeem_coupon(request: HttpRequest, body: CodeIn, idempotency_key: IdempotencyKey = None) -> RedemptionOut:
    """核销成功返回核销记录。第二次核销返回 `409 COUPON_ALREADY_REDEEMED`（说明何时在何处核销）；
    过期 `409 COUPON_EXPIRED`；非本店的券 `409 COUPON_WRONG_MERCHANT`；券码不存在 `404 COUPON_NOT_FOUND`；
    二维码被篡改 `400 COUPON_INVALID`。带同一 `Idempotency-Key` 重试返回第一次的结果（`replayed: true`）。"""
    user = _user(request)
    done = actions.redeem(user, body.code, key=_key(user, idempotency_key, required=False))
    return _redemption_out(done.redemption, done.replayed)


@merchant_router.get(
    "/redemptions",
    response={200: MerchantRedemptionsOut, **responses()},
    operation_id="list_merchant_redemptions",
    summary="本店的核销记录与今日核销数",
)
def list_merchant_redemptions(request: HttpRequest) -> MerchantRedemptionsOut:
    """最近 100 条。只包含本商户的核销。"""
    link = actions.merchant_link(_user(request))
    if link is None:
        raise ApiError(403, "COUPON_MERCHANT_REQUIRED", "当前账号不是合作商户的核销员。")
    items = [_redemption_out(r) for r in selectors.merchant_redemptions(link.merchant).select_related("merchant")[:100]]
    return MerchantRedemptionsOut(
        merchant=link.merchant.name, today=selectors.merchant_today_count(link.merchant), items=items
    )


# --- cadres ----------------------------------------------------------------------------------


class TemplateIn(Schema):
    org_id: int = Field(..., description="发券工会 ID")
    name: str = Field(..., max_length=100)
    category: CouponCategory = CouponCategory.OTHER
    face_value_fen: int | None = Field(None, ge=0, description="面值（分）")
    benefit: str = Field("", max_length=200, description="权益说明；无面值时必填")
    terms: str = Field("", max_length=4000)
    validity_kind: ValidityKind = ValidityKind.FIXED
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = Field(None, ge=1, le=3650)
    quantity: int = Field(..., ge=1, le=10_000_000, description="发行总量（库存）")
    per_member_limit: int = Field(1, ge=1, le=100)
    verified_only: bool = True
    merchant_ids: list[int] = Field(default_factory=list, description="适用商户 ID")


class TemplateOut(Schema):
    id: int
    org_id: int
    org_name: str
    name: str
    category: CouponCategory
    face_value_fen: int | None
    benefit: str
    status: TemplateStatus
    validity_kind: ValidityKind
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    quantity: int = Field(..., description="发行总量")
    issued: int = Field(..., description="已发放")
    per_member_limit: int
    verified_only: bool
    merchant_ids: list[int]
    redeemed: int = Field(0, description="已核销")
    expired: int = Field(0, description="已过期")
    unused: int = Field(0, description="未使用")


def _template_out(row: selectors.TemplateRow) -> TemplateOut:
    t = row.template
    return TemplateOut(
        id=t.pk,
        org_id=t.org_id,
        org_name=t.org.name,
        name=t.name,
        category=CouponCategory(t.category),
        face_value_fen=t.face_value_fen,
        benefit=t.benefit,
        status=TemplateStatus(t.status),
        validity_kind=ValidityKind(t.validity_kind),
        valid_from=t.valid_from,
        valid_until=t.valid_until,
        valid_days=t.valid_days,
        quantity=t.quantity,
        issued=t.issued,
        per_member_limit=t.per_member_limit,
        verified_only=t.verified_only,
        merchant_ids=sorted(m.pk for m in t.merchants.all()),
        redeemed=row.redeemed,
        expired=row.expired,
        unused=row.unused,
    )


@router.get(
    "/templates",
    response={200: list[TemplateOut], **responses()},
    operation_id="list_coupon_templates",
    summary="券模板及其发放、核销、过期统计",
)
def list_coupon_templates(request: HttpRequest) -> list[TemplateOut]:
    """管辖范围内各级工会的券模板，按创建时间由新到旧，最多 200 个。"""
    qs = selectors.templates_for(current_user(request)).prefetch_related("merchants")[:200]
    return [_template_out(r) for r in selectors.template_report(qs)]


@router.post(
    "/templates",
    response={201: TemplateOut, **responses(400, 404)},
    operation_id="create_coupon_template",
    summary="新建券模板",
)
def create_coupon_template(request: HttpRequest, body: TemplateIn) -> Status[TemplateOut]:
    user = current_user(request)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.COUPON_MANAGE, pk=body.org_id)
    values = body.dict(exclude={"org_id", "quantity", "merchant_ids"})
    template = actions.create_template(
        actor=user, org=org, values=values, merchant_ids=body.merchant_ids, quantity=body.quantity
    )
    return Status(201, _template_out(selectors.template_report(CouponTemplate.objects.filter(pk=template.pk))[0]))


def _scoped_template(request: HttpRequest, template_id: int) -> CouponTemplate:
    qs = CouponTemplate.objects.select_related("org")
    return access.get_object_or_404(current_user(request), qs, Perm.COUPON_VIEW, pk=template_id)


@router.get(
    "/templates/{template_id}",
    response={200: TemplateOut, **responses(404)},
    operation_id="get_coupon_template",
    summary="一个券模板及其统计",
)
def get_coupon_template(request: HttpRequest, template_id: int) -> TemplateOut:
    template = _scoped_template(request, template_id)
    return _template_out(selectors.template_report(CouponTemplate.objects.filter(pk=template.pk))[0])


class IssueIn(Schema):
    member_id: int = Field(..., description="会员 ID（须在发券工会及调用者的管辖范围内）")


class IssuedOut(CouponOut):
    id: int
    member_id: int
    replayed: bool = Field(..., description="true 表示同一 Idempotency-Key 的重试，返回的是第一次发的券")


@router.post(
    "/templates/{template_id}/issue",
    response={200: IssuedOut, **responses(400, 404, 409)},
    operation_id="issue_coupon",
    summary="发一张券给一名会员（工会发放）",
)
def issue_coupon(
    request: HttpRequest, template_id: int, body: IssueIn, idempotency_key: IdempotencyKey = None
) -> IssuedOut:
    """必须带 `Idempotency-Key`：同一个键重试返回同一张券。库存不足 `409 COUPON_OUT_OF_STOCK`；
    超过每人限领 `409 COUPON_LIMIT_REACHED`；仅限实名而会员未实名 `409 COUPON_VERIFIED_ONLY`。"""
    user = current_user(request)
    template = _scoped_template(request, template_id)
    member = access.get_object_or_404(user, Member.objects.all(), Perm.COUPON_MANAGE, pk=body.member_id)
    key = _key(user, idempotency_key, required=True) or ""
    result = actions.grant(actor=user, template=template, member=member, key=key)
    coupon = Coupon.objects.select_related("template", "redeemed_by_merchant").get(pk=result.coupon.pk)
    return IssuedOut(**_coupon_out(coupon).dict(), id=coupon.pk, member_id=coupon.member_id, replayed=result.replayed)


class BulkIn(Schema):
    org_id: int = Field(..., description="发放范围：该工会及其全部下级（须在券模板的工会之内）")
    filters: dict[str, list[str]] = Field(
        default_factory=dict,
        description="筛选：status、verification_status、employment_status、new_employment_group，各为取值列表",
    )


class BulkOut(Schema):
    id: int
    template_id: int
    org_id: int
    status: str = Field(..., description="queued 排队中、running 发放中、done 已完成、stopped 库存不足已停止")
    total: int
    processed: int
    issued: int
    skipped: int
    skip_reasons: dict[str, int]
    percent: int
    error: str = ""


def _bulk_out(job: BulkIssue) -> BulkOut:
    return BulkOut(
        id=job.pk,
        template_id=job.template_id,
        org_id=job.org_id,
        status=job.status,
        total=job.total,
        processed=job.processed,
        issued=job.issued,
        skipped=job.skipped,
        skip_reasons={k: int(v) for k, v in job.skip_reasons.items()},
        percent=job.percent,
        error=job.error,
    )


@router.post(
    "/templates/{template_id}/bulk-issues",
    response={202: BulkOut, **responses(400, 404, 409)},
    operation_id="start_coupon_bulk_issue",
    summary="批量发放（普惠发放）：给一个范围内符合条件的每位会员发一张",
)
def start_coupon_bulk_issue(request: HttpRequest, template_id: int, body: BulkIn) -> Status[BulkOut]:
    """后台分批进行，可断点续发，不会重复发放；用 `GET /api/v1/coupons/bulk-issues/{id}` 查看进度。"""
    user = current_user(request)
    template = _scoped_template(request, template_id)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.COUPON_MANAGE, pk=body.org_id)
    job = actions.start_bulk_issue(actor=user, template=template, org=org, filters=body.filters)
    job.refresh_from_db()
    return Status(202, _bulk_out(job))


@router.get(
    "/bulk-issues/{job_id}",
    response={200: BulkOut, **responses(404)},
    operation_id="get_coupon_bulk_issue",
    summary="批量发放的进度",
)
def get_coupon_bulk_issue(request: HttpRequest, job_id: int) -> BulkOut:
    job = access.get_object_or_404(current_user(request), BulkIssue.objects.all(), Perm.COUPON_VIEW, pk=job_id)
    return _bulk_out(job)


class MerchantReportOut(Schema):
    id: int
    name: str
    kind: str
    org_name: str
    status: str
    redeemed: int = Field(..., description="累计核销")
    today: int = Field(..., description="今日核销")
    accounts: int = Field(..., description="有效核销账号数")


@router.get(
    "/reports/merchants",
    response={200: list[MerchantReportOut], **responses()},
    operation_id="coupon_merchant_report",
    summary="各合作商户的核销统计",
)
def coupon_merchant_report(request: HttpRequest) -> list[MerchantReportOut]:
    ids = list(selectors.merchants_visible(current_user(request)).values_list("pk", flat=True)[:500])
    rows = selectors.merchant_report(Merchant.objects.filter(pk__in=ids).select_related("org").order_by("name"))
    return [
        MerchantReportOut(
            id=r.merchant.pk,
            name=r.merchant.name,
            kind=r.merchant.kind,
            org_name=r.merchant.org.name,
            status=r.merchant.status,
            redeemed=r.redeemed,
            today=r.today,
            accounts=r.accounts,
        )
        for r in rows
    ]
