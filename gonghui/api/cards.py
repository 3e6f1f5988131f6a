"""``/api/v1/cards/verify`` and ``/api/v1/me/card``: the e-member card.

Both take the caller's own login session rather than the cadre-only default: a member
reads their own card, and partner merchants (the ``card_verifiers`` group) verify cards
without holding a console role or a second factor. Verification reveals only masked
values (``members.card_tokens``), is rate-limited per verifier and audited.
"""

from __future__ import annotations

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, Router, Schema

from gonghui.api.auth import AccountSessionAuth, require_member
from gonghui.api.errors import ApiError, responses
from gonghui.core.models import User
from gonghui.members import card_tokens, cards
from gonghui.members.card_tokens import CardResult
from gonghui.members.models import MemberStatus

session_auth = AccountSessionAuth()
router = Router(tags=["会员卡 cards"], auth=session_auth)
me_router = Router(tags=["会员卡 cards"], auth=session_auth)


def _user(request: HttpRequest) -> User:
    user = getattr(request, "auth", None)
    if not isinstance(user, User):
        raise ApiError(401, "AUTH_REQUIRED", "请先登录")
    return user


class VerifyIn(Schema):
    token: str = Field(..., min_length=1, max_length=400, description="会员卡二维码的内容（扫码所得的原文）")


class VerifyOut(Schema):
    result: CardResult = Field(
        ...,
        description=(
            "核验结果：valid 有效；retained 有效（保留会籍）；expired 二维码已过期（签名正确但超过有效期，"
            "多为截图）；left 已退会；no_card 未发卡；invalid 无法识别或被篡改"
        ),
    )
    masked_name: str = Field("", description="脱敏姓名（如 张**）；无法识别或已删除个人信息时为空")
    union: str = Field("", description="所属工会名称")
    status: MemberStatus | None = Field(None, description="会籍状态；invalid 时为空")
    card_number_masked: str = Field("", description="部分脱敏的会员卡号（如 GH44**********0123）")
    issued_at: datetime | None = Field(None, description="二维码生成时间")


@router.post(
    "/verify",
    response={200: VerifyOut, **responses(429)},
    operation_id="verify_card",
    summary="核验电子会员卡二维码",
)
def verify_card(request: HttpRequest, body: VerifyIn) -> VerifyOut:
    """核验会员出示的动态二维码。只返回脱敏信息，不返回身份证号；每次核验写入审计日志。

    调用者须为工会干部，或属于 `card_verifiers` 组的合作商户账号（否则 `403 CARD_VERIFIER_REQUIRED`）；
    每个账号每分钟的核验次数有限（超出返回 `429 CARD_VERIFY_THROTTLED`）。无法识别的内容返回
    200 与 `result: invalid`，而不是错误。

    Verify a live card token for a cadre or a partner merchant. Returns masked values only.
    """
    user = _user(request)
    if not card_tokens.is_verifier(user):
        raise ApiError(403, "CARD_VERIFIER_REQUIRED", "仅限工会干部和已登记的合作商户核验会员卡")
    check = card_tokens.verify(body.token, verifier=user)
    return VerifyOut(
        result=check.result,
        masked_name=check.masked_name,
        union=check.union,
        status=MemberStatus(check.status) if check.status else None,
        card_number_masked=check.card_number_masked,
        issued_at=check.issued_at,
    )


class CardOut(Schema):
    name: str = Field(..., description="姓名")
    union_id: int = Field(..., description="所属工会 ID")
    union: str = Field(..., description="所属工会名称")
    card_number: str = Field(..., description="会员卡号")
    join_date: date = Field(..., description="入会日期")
    status: MemberStatus = Field(..., description="会籍状态：active 正常，retained 保留会籍")
    token: str = Field(..., description="二维码内容：签名的短时令牌，到期前请重新获取")
    token_issued_at: datetime = Field(..., description="令牌生成时间")
    token_expires_at: datetime = Field(..., description="令牌失效时间")
    ttl_seconds: int = Field(..., description="令牌有效秒数")


@me_router.get(
    "",
    response={200: CardOut, **responses(404, 409)},
    operation_id="get_my_card",
    summary="我的电子会员卡（含新的二维码令牌）",
)
def get_my_card(request: HttpRequest) -> CardOut:
    """返回当前登录会员的会员卡和一个新的二维码令牌（有效期见 `ttl_seconds`）。

    没有会员档案返回 `404 NOT_A_MEMBER`；已退会返回 `409 MEMBER_LEFT`。会员卡号缺失时自动补发。

    The caller's own card with a fresh QR token. `404 NOT_A_MEMBER` without a member record,
    `409 MEMBER_LEFT` after leaving.
    """
    member = require_member(request, 404)
    if member.status == MemberStatus.LEFT or member.erased_at is not None:
        raise ApiError(409, "MEMBER_LEFT", "已退会，会员卡已失效")
    member = cards.ensure_card_number(actor=_user(request), member=member)
    issued = card_tokens.issue_token(member)
    return CardOut(
        name=member.name,
        union_id=member.org_id,
        union=member.org.name,
        card_number=member.card_number or "",
        join_date=member.join_date,
        status=MemberStatus(member.status),
        token=issued.token,
        token_issued_at=issued.issued_at,
        token_expires_at=issued.expires_at,
        ttl_seconds=issued.ttl_seconds,
    )
