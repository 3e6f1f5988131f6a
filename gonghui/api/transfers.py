"""``/api/v1/transfers`` (转会) and the membership steps on ``/api/v1/members/{id}/…``.

A transfer is visible to the cadres of either side (its outgoing or receiving union is
in their subtree); anything else is ``404 NOT_FOUND``. Each step is one domain action
(``members.transfers`` / ``members.lifecycle``) that checks the caller's role on the
side it belongs to and answers a coded error otherwise.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.api.auth import current_user
from gonghui.api.errors import ApiError, responses
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.members import actions as member_actions
from gonghui.members import lifecycle, transfers
from gonghui.members.history import history
from gonghui.members.models import LeaveReason, Member, MemberStatus, Transfer, TransferInitiator, TransferStatus
from gonghui.orgs.models import Org

router = Router(tags=["转会 transfers"])
member_router = Router(tags=["会籍 membership"])

MAX_LIMIT = 100


class TransferOut(Schema):
    id: int = Field(..., description="转会 ID")
    member_id: int = Field(..., description="会员 ID")
    member_name: str = Field(..., description="会员姓名")
    id_number_masked: str = Field(..., description="身份证号（脱敏）")
    from_org_id: int = Field(..., description="转出工会 ID")
    from_org_name: str = Field(..., description="转出工会名称")
    to_org_id: int = Field(..., description="转入工会 ID")
    to_org_name: str = Field(..., description="转入工会名称")
    to_residence: bool = Field(..., description="是否转入居住地工会暂存（没有接收工会时）")
    status: TransferStatus = Field(
        ...,
        description=(
            "requested 待转出工会同意；released 待转入工会接收；accepted 已完成；declined 不予接收；cancelled 已取消"
        ),
    )
    initiated_by: TransferInitiator = Field(..., description="发起方：member 会员本人，cadre 工会干部")
    reason: str = Field(..., description="转会原因")
    new_workplace: str = Field(..., description="新工作单位")
    decline_reason: str = Field(..., description="不予接收的原因")
    release_due_at: datetime = Field(..., description="转出办理期限；逾期提交共同上级工会督办")
    overdue: bool = Field(..., description="是否已超过转出办理期限")
    escalated_to_id: int | None = Field(None, description="督办的上级工会 ID")
    created_at: datetime = Field(..., description="发起时间")
    released_at: datetime | None = Field(None, description="转出时间")
    decided_at: datetime | None = Field(None, description="办结时间")

    @staticmethod
    def resolve_member_name(obj: Transfer) -> str:
        return obj.member.name

    @staticmethod
    def resolve_id_number_masked(obj: Transfer) -> str:
        return obj.member.id_number_masked

    @staticmethod
    def resolve_from_org_name(obj: Transfer) -> str:
        return obj.from_org.name

    @staticmethod
    def resolve_to_org_name(obj: Transfer) -> str:
        return obj.to_org.name

    @staticmethod
    def resolve_overdue(obj: Transfer) -> bool:
        return obj.status == TransferStatus.REQUESTED and obj.release_due_at < timezone.now()


class TransferPage(Schema):
    items: list[TransferOut] = Field(..., description="转会列表")


class TransferFilters(Schema):
    box: Literal["in", "out", "done"] = Field(
        "in", description="in 转入待接收（转入工会在管辖范围内）；out 转出待办理（含督办）；done 已办结"
    )
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"条数（1–{MAX_LIMIT}）")


class TransferIn(Schema):
    model_config = ConfigDict(extra="forbid")

    member_id: int | None = Field(None, description="会员 ID（转出工会干部使用；须在管辖范围内）")
    id_number: str | None = Field(
        None, max_length=40, description="会员身份证号（转入工会干部代为发起时使用，按盲索引查找）"
    )
    to_org_id: int = Field(..., description="转入工会 ID；to_residence 为 true 时为居住地街道（乡镇）或区（县）总工会")
    to_residence: bool = Field(False, description="没有接收工会：转入居住地工会暂存")
    reason: str = Field("", max_length=500, description="转会原因")
    new_workplace: str = Field("", max_length=200, description="新工作单位")


class DeclineIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, max_length=500, description="不予接收的原因（会员可见）")


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=200, description="说明（选填）")


class RetainIn(NoteIn):
    reason: Literal["retired", "unemployed"] = Field(..., description="保留会籍原因：retired 退休，unemployed 失业")


class LeaveIn(NoteIn):
    reason: LeaveReason = Field(
        LeaveReason.VOLUNTARY,
        description="voluntary 自愿退会；inactive 连续六个月未交会费未参加活动；expelled 开除会籍（note 写明依据）",
    )


class MembershipOut(Schema):
    id: int = Field(..., description="会员 ID")
    status: MemberStatus = Field(..., description="会籍状态")
    retain_reason: str = Field(..., description="保留会籍原因代码")
    leave_reason: str = Field(..., description="退会原因代码")
    has_vote: bool = Field(..., description="是否有表决权（保留会籍、已退会的会员没有）")
    org_id: int = Field(..., description="所在工会 ID")
    join_date: date = Field(..., description="入会日期（转会不变）")
    inactive_flagged_at: datetime | None = Field(None, description="长期未活跃待核查的标记时间")


class EventOut(Schema):
    kind: str = Field(
        ..., description="事项：joined transferred retained restored left rejoined flagged_inactive erased"
    )
    kind_label: str = Field(..., description="事项（中文）")
    org_id: int = Field(..., description="所在工会 ID")
    org_name: str = Field(..., description="所在工会名称")
    from_org_id: int | None = Field(None, description="转会时的原工会 ID")
    from_org_name: str | None = Field(None, description="转会时的原工会名称")
    on_date: date = Field(..., description="日期")
    note: str = Field(..., description="说明")


class HistoryOut(Schema):
    member: MembershipOut
    unions: list[int] = Field(..., description="会籍所在过的工会 ID，按时间先后")
    events: list[EventOut] = Field(..., description="会籍记录，按时间先后")


def _transfer(request: HttpRequest, transfer_id: int) -> Transfer:
    return transfers.get_visible(current_user(request), transfer_id)


@router.get("", response={200: TransferPage, **responses()}, operation_id="list_transfers", summary="转会列表")
def list_transfers(request: HttpRequest, filters: Query[TransferFilters]) -> dict[str, Any]:
    """转入待接收（box=in）、转出待办理（box=out，含逾期提交本工会督办的）或已办结（box=done）。"""
    rows = list(transfers.box_queryset(current_user(request), filters.box)[: filters.limit])
    return {"items": rows}


@router.post(
    "", response={201: TransferOut, **responses(400, 404, 409)}, operation_id="create_transfer", summary="发起转会"
)
def create_transfer(request: HttpRequest, payload: TransferIn) -> Status[Transfer]:
    """工会干部代会员发起转会。转出工会干部给 member_id；转入工会干部给 id_number。

    错误代码：TRANSFER_ALREADY_OPEN（已有办理中的转会，409）、TRANSFER_MEMBER_RETAINED、TRANSFER_MEMBER_LEFT、
    TRANSFER_TARGET_CLOSED、TRANSFER_TARGET_INVALID、TRANSFER_SAME_UNION、TRANSFER_RESIDENCE_LEVEL、TRANSFER_NOT_ALLOWED。
    """
    user = current_user(request)
    to_org = Org.objects.filter(pk=payload.to_org_id).first()
    if to_org is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    member: Member | None
    if payload.member_id is not None:
        member = access.get_object_or_404(
            user, Member.objects.select_related("org"), Perm.MEMBER_VIEW, pk=payload.member_id
        )
    elif payload.id_number:
        if not access.can(user, Perm.MEMBER_CHANGE, to_org.path):
            raise ApiError(404, "NOT_FOUND", "对象不存在")
        member = member_actions.find_by_id_number(payload.id_number)
        if member is None:
            raise ApiError(404, "MEMBER_NOT_FOUND", "没有找到该身份证号的会员。")
    else:
        raise ApiError(422, "MEMBER_REQUIRED", "请给出 member_id 或 id_number。")
    step = transfers.request_to_residence if payload.to_residence else transfers.request_transfer
    target_key = "residence_org" if payload.to_residence else "to_org"
    created = step(  # type: ignore[operator]
        actor=user,
        member=member,
        reason=payload.reason,
        new_workplace=payload.new_workplace,
        initiated_by=TransferInitiator.CADRE,
        **{target_key: to_org},
    )
    return Status(201, _transfer(request, created.pk))


@router.get(
    "/{int:transfer_id}", response={200: TransferOut, **responses(404)}, operation_id="get_transfer", summary="转会详情"
)
def get_transfer(request: HttpRequest, transfer_id: int) -> Transfer:
    return _transfer(request, transfer_id)


@router.post(
    "/{int:transfer_id}/release",
    response={200: TransferOut, **responses(400, 404, 409)},
    operation_id="release_transfer",
    summary="同意转出",
)
def release_transfer(request: HttpRequest, transfer_id: int) -> Transfer:
    """转出工会（或逾期后督办的共同上级工会）同意转出。状态不对时返回 409 TRANSFER_WRONG_STATUS。"""
    transfers.release(actor=current_user(request), transfer=_transfer(request, transfer_id))
    return _transfer(request, transfer_id)


@router.post(
    "/{int:transfer_id}/accept",
    response={200: TransferOut, **responses(400, 404, 409)},
    operation_id="accept_transfer",
    summary="接收转入",
)
def accept_transfer(request: HttpRequest, transfer_id: int) -> Transfer:
    """转入工会接收：会员转入本工会，入会日期和会员卡号不变，会籍记录增加一条“转会”。"""
    transfers.accept(actor=current_user(request), transfer=_transfer(request, transfer_id))
    return _transfer(request, transfer_id)


@router.post(
    "/{int:transfer_id}/decline",
    response={200: TransferOut, **responses(400, 404, 409)},
    operation_id="decline_transfer",
    summary="不予接收",
)
def decline_transfer(request: HttpRequest, transfer_id: int, payload: DeclineIn) -> Transfer:
    """转入工会不予接收，原因通知会员本人（站内消息和短信）。"""
    transfers.decline(actor=current_user(request), transfer=_transfer(request, transfer_id), reason=payload.reason)
    return _transfer(request, transfer_id)


@router.post(
    "/{int:transfer_id}/cancel",
    response={200: TransferOut, **responses(400, 404, 409)},
    operation_id="cancel_transfer",
    summary="取消转会",
)
def cancel_transfer(request: HttpRequest, transfer_id: int, payload: NoteIn) -> Transfer:
    transfers.cancel(actor=current_user(request), transfer=_transfer(request, transfer_id), note=payload.note)
    return _transfer(request, transfer_id)


# --- membership steps -----------------------------------------------------------------


def _member(request: HttpRequest, member_id: int) -> Member:
    return access.get_object_or_404(
        current_user(request), Member.objects.select_related("org"), Perm.MEMBER_VIEW, pk=member_id
    )


def _membership(member: Member) -> Member:
    member.refresh_from_db()
    return member


@member_router.post(
    "/{int:member_id}/retain",
    response={200: MembershipOut, **responses(400, 404, 409)},
    operation_id="retain_member",
    summary="保留会籍",
)
def retain_member(request: HttpRequest, member_id: int, payload: RetainIn) -> Member:
    """退休或失业：会籍保留在原工会，状态为保留会籍，无表决权。已不是正常会籍时返回 409 MEMBER_NOT_ACTIVE。"""
    member = _member(request, member_id)
    lifecycle.retain(actor=current_user(request), member=member, reason=payload.reason, note=payload.note)
    return _membership(member)


@member_router.post(
    "/{int:member_id}/restore",
    response={200: MembershipOut, **responses(400, 404, 409)},
    operation_id="restore_member",
    summary="恢复正常会籍",
)
def restore_member(request: HttpRequest, member_id: int, payload: NoteIn) -> Member:
    member = _member(request, member_id)
    lifecycle.restore(actor=current_user(request), member=member, note=payload.note)
    return _membership(member)


@member_router.post(
    "/{int:member_id}/leave",
    response={200: MembershipOut, **responses(400, 404, 409)},
    operation_id="leave_member",
    summary="办理退会",
)
def leave_member(request: HttpRequest, member_id: int, payload: LeaveIn) -> Member:
    """退会：记录保留，可重新入会。开除会籍须在 note 写明依据（LEAVE_NOTE_REQUIRED）。"""
    member = _member(request, member_id)
    lifecycle.leave(actor=current_user(request), member=member, reason=payload.reason, note=payload.note)
    return _membership(member)


@member_router.get(
    "/{int:member_id}/history",
    response={200: HistoryOut, **responses(404)},
    operation_id="member_history",
    summary="会籍记录",
)
def member_history(request: HttpRequest, member_id: int) -> dict[str, Any]:
    """入会日期、所在过的每一个工会、每一条会籍记录（入会、转会、保留、恢复、退会……）。"""
    member = _member(request, member_id)
    events = list(history(member))
    unions: list[int] = []
    for event in events:
        if not unions or unions[-1] != event.org_id:
            unions.append(event.org_id)
    return {
        "member": member,
        "unions": unions,
        "events": [
            {
                "kind": e.kind,
                "kind_label": str(e.get_kind_display()),
                "org_id": e.org_id,
                "org_name": e.org.name,
                "from_org_id": e.from_org_id,
                "from_org_name": e.from_org.name if e.from_org else None,
                "on_date": e.on_date,
                "note": e.note,
            }
            for e in events
        ],
    }
