"""``/api/v1/orgs``: the union tree, as far as the caller's roles reach.

Every lookup of an id from the URL or the body goes through ``core.access``: an org
outside the caller's subtree answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Length, Substr
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import ConfigDict

from gonghui.api.auth import current_user
from gonghui.api.errors import responses
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import InvalidValue
from gonghui.orgs import actions
from gonghui.orgs.models import Org, OrgLevel, OrgStatus, UnitType
from gonghui.orgs.selectors import search_orgs

router = Router(tags=["工会组织 orgs"])

MAX_LIMIT = 200
# Offsets past this are refused: deep pages of a 130,000-union province are a scan;
# narrow the list with ``parent``, ``level`` or ``q`` instead.
MAX_OFFSET = 10_000

# Org text fields that are NOT NULL in the database: an explicit null clears them to "".
_TEXT_FIELDS = {
    "name",
    "short_name",
    "unit_name",
    "unit_uscc",
    "unit_type",
    "industry",
    "region_code",
    "address",
    "chair_name",
    "approval_doc_no",
    "intro",
    "theme_color",
}


class OrgOut(Schema):
    id: int = Field(..., description="组织 ID")
    parent_id: int | None = Field(None, description="上级组织 ID；省总工会为空")
    depth: int = Field(..., description="层深：省总工会为 1")
    children_count: int = Field(..., description="直属下级组织数")
    name: str = Field(..., description="工会名称")
    short_name: str = Field(..., description="简称")
    level: OrgLevel = Field(..., description="层级代码")
    level_label: str = Field(..., description="层级名称")
    status: OrgStatus = Field(..., description="状态：active 正常，closed 已撤销")
    closed_at: datetime | None = Field(None, description="撤销时间")
    industry_parent_id: int | None = Field(None, description="所属产业工会 ID（第二上级，不影响管辖范围）")
    uscc: str | None = Field(None, description="工会统一社会信用代码（81 或 89 开头）")
    unit_name: str = Field(..., description="单位名称")
    unit_uscc: str = Field(..., description="单位统一社会信用代码")
    unit_type: str = Field(..., description="单位性质代码（空表示未填）")
    industry: str = Field(..., description="所属行业")
    region_code: str = Field(..., description="行政区划代码（GB/T 2260，6 位）")
    address: str = Field(..., description="地址")
    employee_count: int | None = Field(None, description="职工人数")
    declared_member_count: int | None = Field(None, description="会员人数（申报）")
    chair_name: str = Field(..., description="工会主席")
    founded_on: date | None = Field(None, description="成立日期")
    approval_date: date | None = Field(None, description="批准日期")
    approval_doc_no: str = Field(..., description="批复文号")
    term_start: date | None = Field(None, description="本届任期开始")
    term_end: date | None = Field(None, description="本届任期结束")
    intro: str = Field(..., description="简介")
    theme_color: str = Field(..., description="主题色（#RRGGBB）")
    created_at: datetime = Field(..., description="创建时间")
    updated_at: datetime = Field(..., description="最后修改时间")

    @staticmethod
    def resolve_level_label(obj: Org) -> str:
        return str(obj.get_level_display())

    @staticmethod
    def resolve_children_count(obj: Org) -> int:
        return int(obj.numchild)


class OrgPage(Schema):
    count: int = Field(..., description="符合条件的总数")
    limit: int = Field(..., description="本页条数上限")
    offset: int = Field(..., description="本页起始位置")
    items: list[OrgOut] = Field(..., description="组织列表，按树的顺序排列")


class PageParams(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"每页条数（1–{MAX_LIMIT}）")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description=f"起始位置（0–{MAX_OFFSET}）")


class OrgFilters(PageParams):
    parent: int | None = Field(None, description="只列出该组织的直属下级（须在管辖范围内，否则 404）")
    level: OrgLevel | None = Field(None, description="按层级筛选")
    status: OrgStatus | None = Field(None, description="按状态筛选")
    q: str | None = Field(
        None,
        max_length=50,
        description="搜索：字母按全拼或拼音首字母前缀匹配（如 thq、tianhe），其他按名称包含匹配",
    )


class OrgFieldsIn(Schema):
    """Fields a cadre may set; every one optional (PATCH sends only what changes)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=200, description="工会名称")
    short_name: str | None = Field(None, max_length=60, description="简称")
    uscc: str | None = Field(None, max_length=40, description="工会统一社会信用代码（81 或 89 开头，校验位检查）")
    unit_name: str | None = Field(None, max_length=200, description="单位名称")
    unit_uscc: str | None = Field(None, max_length=40, description="单位统一社会信用代码")
    unit_type: UnitType | None = Field(None, description="单位性质")
    industry: str | None = Field(None, max_length=60, description="所属行业")
    region_code: str | None = Field(None, max_length=6, description="行政区划代码（6 位数字）")
    address: str | None = Field(None, max_length=300, description="地址")
    employee_count: int | None = Field(None, ge=0, le=2_147_483_647, description="职工人数")
    declared_member_count: int | None = Field(None, ge=0, le=2_147_483_647, description="会员人数（申报）")
    chair_name: str | None = Field(None, max_length=64, description="工会主席")
    founded_on: date | None = Field(None, description="成立日期")
    approval_date: date | None = Field(None, description="批准日期")
    approval_doc_no: str | None = Field(None, max_length=100, description="批复文号")
    term_start: date | None = Field(None, description="本届任期开始")
    term_end: date | None = Field(None, description="本届任期结束")
    intro: str | None = Field(None, max_length=5000, description="简介")
    theme_color: str | None = Field(None, pattern=r"^#[0-9a-fA-F]{6}$", description="主题色（#RRGGBB）")
    industry_parent_id: int | None = Field(None, description="所属产业工会 ID（须在管辖范围内）；null 表示清除")


class OrgCreateIn(OrgFieldsIn):
    name: str = Field(..., min_length=1, max_length=200, description="工会名称")  # type: ignore[assignment]
    level: OrgLevel = Field(..., description="层级，须符合上级组织允许的下级层级")


class OrgUpdateIn(OrgFieldsIn):
    pass


class OrgMoveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    new_parent_id: int = Field(..., description="新的上级组织 ID（须在管辖范围内）")


class OrgCloseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(..., min_length=1, max_length=500, description="撤销原因")


class OrgCloseOut(Schema):
    org: OrgOut = Field(..., description="撤销后的组织")
    members_moved: int = Field(..., description="转入上级工会保留会籍的会员人数")


def with_parent_id(qs: QuerySet[Org]) -> QuerySet[Org]:
    """Annotate ``parent_id``: the org whose path is this path minus one step.

    One indexed subquery per row (path is unique) instead of a query per org.
    """
    parent = Org.objects.filter(path=Substr(OuterRef("path"), 1, Length(OuterRef("path")) - Org.steplen))
    annotated: QuerySet[Org] = qs.annotate(parent_id=Subquery(parent.values("pk")[:1]))
    return annotated


def _get(request: HttpRequest, org_id: int, perm: Perm) -> Org:
    return access.get_object_or_404(current_user(request), with_parent_id(Org.objects.all()), perm, pk=org_id)


def _reload(org: Org) -> Org:
    return with_parent_id(Org.objects.all()).get(pk=org.pk)


def _page(qs: QuerySet[Org], page: PageParams) -> dict[str, Any]:
    """One ``OrgPage`` (validated by Ninja against the response schema)."""
    count = qs.count()
    rows = list(with_parent_id(qs.order_by("path"))[page.offset : page.offset + page.limit])
    return {"count": count, "limit": page.limit, "offset": page.offset, "items": rows}


def _values(request: HttpRequest, payload: OrgFieldsIn) -> dict[str, Any]:
    """The fields the client sent, as ``orgs.actions`` expects them."""
    sent = payload.model_dump(exclude_unset=True, exclude={"level"})
    values: dict[str, Any] = {}
    for key, value in sent.items():
        if key == "industry_parent_id":
            values["industry_parent"] = _industry_parent(request, value)
            continue
        if value is None and key in _TEXT_FIELDS:
            value = ""
        values[key] = value.value if isinstance(value, UnitType) else value
    return values


def _industry_parent(request: HttpRequest, org_id: int | None) -> Org | None:
    if org_id is None:
        return None
    found: Org | None = access.scope(current_user(request), Org.objects.filter(pk=org_id), Perm.ORG_VIEW).first()
    if found is None:
        raise InvalidValue("ORG_BAD_INDUSTRY_PARENT", "所属产业工会不存在或不在您的管辖范围内。")
    return found


@router.get("", response={200: OrgPage, **responses(404)}, operation_id="list_orgs", summary="组织列表")
def list_orgs(request: HttpRequest, filters: Query[OrgFilters]) -> dict[str, Any]:
    """列出管辖范围内的组织，按树的顺序。可按上级、层级、状态、名称/拼音筛选。

    Lists the orgs in the caller's subtrees in tree order, with limit/offset paging.
    """
    user = current_user(request)
    qs = access.scope(user, Org.objects.all(), Perm.ORG_VIEW)
    if filters.parent is not None:
        parent = access.get_object_or_404(user, Org.objects.all(), Perm.ORG_VIEW, pk=filters.parent)
        qs = qs.filter(path__startswith=parent.path, depth=parent.depth + 1)
    if filters.level is not None:
        qs = qs.filter(level=filters.level)
    if filters.status is not None:
        qs = qs.filter(status=filters.status)
    if filters.q:
        qs = search_orgs(qs, filters.q)
    return _page(qs, filters)


@router.get("/{int:org_id}", response={200: OrgOut, **responses(404)}, operation_id="get_org", summary="组织详情")
def get_org(request: HttpRequest, org_id: int) -> Org:
    """一个组织的完整记录；不在管辖范围内时返回 404。"""
    return _get(request, org_id, Perm.ORG_VIEW)


@router.get(
    "/{int:org_id}/children",
    response={200: OrgPage, **responses(404)},
    operation_id="list_org_children",
    summary="直属下级组织",
)
def list_org_children(request: HttpRequest, org_id: int, page: Query[PageParams]) -> dict[str, Any]:
    """一个组织的直属下级（含已撤销的），按树的顺序分页。"""
    parent = _get(request, org_id, Perm.ORG_VIEW)
    qs = Org.objects.filter(path__startswith=parent.path, depth=parent.depth + 1)
    return _page(qs, page)


@router.post(
    "/{int:org_id}/children",
    response={201: OrgOut, **responses(400, 404, 409)},
    operation_id="create_org_child",
    summary="新建下级组织",
)
def create_org_child(request: HttpRequest, org_id: int, payload: OrgCreateIn) -> Status[Org]:
    """在该组织下新建一个下级组织（需要该组织的组织管理权限）。

    层级须是上级允许的下级层级（错误代码 ORG_BAD_LEVEL）；统一社会信用代码须有效且未被占用
    （USCC_*、ORG_USCC_TAKEN）。
    """
    parent = _get(request, org_id, Perm.ORG_CHANGE)
    org = actions.create_org(
        actor=current_user(request), parent=parent, level=payload.level.value, values=_values(request, payload)
    )
    return Status(201, _reload(org))


@router.patch(
    "/{int:org_id}",
    response={200: OrgOut, **responses(400, 404, 409)},
    operation_id="update_org",
    summary="修改组织信息",
)
def update_org(request: HttpRequest, org_id: int, payload: OrgUpdateIn) -> Org:
    """只修改请求中给出的字段；字段给 null 表示清空。修改写入审计日志。"""
    org = _get(request, org_id, Perm.ORG_CHANGE)
    actions.update_org(actor=current_user(request), org=org, values=_values(request, payload))
    return _reload(org)


@router.post(
    "/{int:org_id}/move",
    response={200: OrgOut, **responses(400, 404, 409)},
    operation_id="move_org",
    summary="移动组织（连同全部下级）",
)
def move_org(request: HttpRequest, org_id: int, payload: OrgMoveIn) -> Org:
    """把组织连同其全部下级移到新的上级之下；组织和新上级都须在管辖范围内。"""
    user = current_user(request)
    org = _get(request, org_id, Perm.ORG_CHANGE)
    new_parent = _get(request, payload.new_parent_id, Perm.ORG_CHANGE)
    moved = actions.move_subtree(actor=user, org=org, new_parent=new_parent)
    return _reload(moved)


@router.post(
    "/{int:org_id}/close",
    response={200: OrgCloseOut, **responses(400, 404, 409)},
    operation_id="close_org",
    summary="撤销组织",
)
def close_org(request: HttpRequest, org_id: int, payload: OrgCloseIn) -> dict[str, Any]:
    """撤销组织及其全部下级；会员转入上级工会并保留会籍。须填写撤销原因。"""
    org = _get(request, org_id, Perm.ORG_CHANGE)
    moved = actions.close_org(actor=current_user(request), org=org, reason=payload.reason)
    return {"org": _reload(org), "members_moved": moved}
