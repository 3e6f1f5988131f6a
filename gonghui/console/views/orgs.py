"""The union tree: browse it lazily, search it, read a union, and change it through orgs.actions.

Every id in a URL or a form is looked up through ``core.access`` with the permission the
page needs; an org outside the cadre's subtree is a 404 exactly like a missing one.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.console import queries
from gonghui.console.forms import (
    ORG_ERROR_FIELDS,
    OrgCloseForm,
    OrgCreateForm,
    OrgForm,
    OrgMoveForm,
    RoleGrantForm,
    SecondFactorResetForm,
    add_domain_error,
)
from gonghui.console.views.common import cadre, cadre_required, is_htmx, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs import actions, cadres
from gonghui.orgs.models import ALLOWED_CHILDREN, Org, OrgLevel, OrgStatus, Role
from gonghui.orgs.selectors import search_orgs

CHILDREN_PAGE = 100
SEARCH_LIMIT = 50
MOVE_CANDIDATES = 20
RECENT_EVENTS = 10


def _org(user: Any, org_id: int, perm: Perm = Perm.ORG_VIEW) -> Org:
    org: Org = access.get_object_or_404(user, Org.objects.select_related("industry_parent"), perm, pk=org_id)
    return org


def _industry_unions(user: Any) -> QuerySet[Org]:
    qs = Org.objects.filter(level=OrgLevel.INDUSTRY, status=OrgStatus.ACTIVE).order_by("path")
    return access.scope(user, qs, Perm.ORG_VIEW)


def _children_page(user: Any, parent: Org, after: str = "") -> dict[str, Any]:
    """One page of ``parent``'s children with their subtree member counts (two queries)."""
    children = Org.objects.get_children(parent)
    if after:
        children = children.filter(path__gt=after)
    rows = list(children[: CHILDREN_PAGE + 1])
    more = len(rows) > CHILDREN_PAGE
    rows = rows[:CHILDREN_PAGE]
    counts = queries.child_member_counts(user, parent) if rows else {}
    return {
        "parent": parent,
        "nodes": [{"org": org, "members": counts.get(org.path, 0)} for org in rows],
        "more_after": rows[-1].path if more else "",
    }


@cadre_required
def org_tree(request: HttpRequest) -> HttpResponse:
    """组织架构: the cadre's grant roots, expanded on demand; or search results."""
    user = cadre(request)
    q = request.GET.get("q", "").strip()[:50]
    context: dict[str, Any] = {"q": q}
    if q:
        found = search_orgs(access.scope(user, Org.objects.all(), Perm.ORG_VIEW), q)
        results = list(found.order_by("depth", "path")[: SEARCH_LIMIT + 1])
        parent_paths = {org.path[: -Org.steplen] for org in results if org.depth > 1}
        parents = dict(Org.objects.filter(path__in=parent_paths).values_list("path", "name")) if parent_paths else {}
        context.update(
            results=[
                {"org": org, "parent": parents.get(org.path[: -Org.steplen], "")} for org in results[:SEARCH_LIMIT]
            ],
            more_results=len(results) > SEARCH_LIMIT,
        )
        if is_htmx(request) and request.headers.get("HX-Target") == "org-browser":
            return render(request, "console/_org_search_results.html", context)
    else:
        roots = list(Org.objects.filter(path__in=access.scope_paths(user, Perm.ORG_VIEW)).order_by("path"))
        counts = queries.subtree_member_counts(user, roots)
        context["roots"] = [{"org": org, "members": counts.get(org.pk, 0)} for org in roots]
        if is_htmx(request) and request.headers.get("HX-Target") == "org-browser":
            return render(request, "console/_org_roots.html", context)
    return page(request, "console/org_tree.html", context, section="orgs")


@cadre_required
def org_children(request: HttpRequest, org_id: int) -> HttpResponse:
    """The children of one node, for htmx to drop under it (one page, "加载更多" for the rest)."""
    user = cadre(request)
    parent = _org(user, org_id)
    if not is_htmx(request):
        return redirect(reverse("console:org_detail", args=[parent.pk]) + "#children")
    context = _children_page(user, parent, request.GET.get("after", "")[:255])
    return render(request, "console/_tree_children.html", context)


@cadre_required
def org_detail(request: HttpRequest, org_id: int) -> HttpResponse:
    user = cadre(request)
    org = _org(user, org_id)
    ancestors = list(Org.objects.get_ancestors(org)) if org.depth > 1 else []
    parent = ancestors[-1] if ancestors else None
    can_change = access.can(user, Perm.ORG_CHANGE, org.path)
    can_audit = access.can(user, Perm.AUDIT_VIEW, org.path)
    can_roles = access.can(user, Perm.ROLE_MANAGE, org.path)
    events: list[AuditEvent] = []
    if can_audit:
        events = list(AuditEvent.objects.filter(object_type="orgs.org", object_id=str(org.pk))[:RECENT_EVENTS])
    roles: list[Role] = []
    if can_roles:
        roles = list(Role.objects.filter(org=org).select_related("user").order_by("role", "user__username"))
    context = {
        "org": org,
        "crumbs": [{"org": a, "linked": access.can(user, Perm.ORG_VIEW, a.path)} for a in ancestors],
        "parent": parent,
        "members": queries.subtree_member_counts(user, [org]).get(org.pk, 0),
        "children": _children_page(user, org),
        "can_change": can_change and org.is_active,
        "can_create": can_change and org.is_active and bool(ALLOWED_CHILDREN[org.level]),
        "can_move": can_change and org.is_active and org.depth > 1,
        "can_close": _may_close(user, org, parent),
        "can_members": access.can(user, Perm.MEMBER_VIEW, org.path),
        "can_audit": can_audit,
        "can_roles": can_roles,
        "events": events,
        "roles": roles,
    }
    return page(request, "console/org_detail.html", context, section="orgs")


def _may_close(user: Any, org: Org, parent: Org | None) -> bool:
    """Closing is done from above: the cadre must also hold ORG_CHANGE over the parent union."""
    return (
        org.is_active
        and parent is not None
        and access.can(user, Perm.ORG_CHANGE, org.path)
        and access.can(user, Perm.ORG_CHANGE, parent.path)
    )


@cadre_required
def org_create(request: HttpRequest, org_id: int) -> HttpResponse:
    """新建下级组织 under ``org_id``; the levels offered are the ones allowed under it."""
    user = cadre(request)
    parent = _org(user, org_id, Perm.ORG_CHANGE)
    form = OrgCreateForm(
        request.POST or None,
        parent=parent,
        industry_unions=_industry_unions(user),
        initial={"region_code": parent.region_code, "theme_color": "#c8161d"},
    )
    if not parent.is_active or not ALLOWED_CHILDREN[parent.level]:
        form.add_error(None, _("%(name)s 下不能再设立下级组织。") % {"name": parent.name})
    elif request.method == "POST" and form.is_valid():
        try:
            org = actions.create_org(actor=user, parent=parent, level=form.cleaned_data["level"], values=form.values())
        except DomainError as exc:
            add_domain_error(form, exc, ORG_ERROR_FIELDS)
        else:
            messages.success(request, _("已新建 %(name)s。") % {"name": org.name})
            return redirect("console:org_detail", org.pk)
    context = {"form": form, "org": parent, "mode": "create"}
    return page(request, "console/org_form.html", context, section="orgs", status=400 if form.errors else 200)


@cadre_required
def org_edit(request: HttpRequest, org_id: int) -> HttpResponse:
    user = cadre(request)
    org = _org(user, org_id, Perm.ORG_CHANGE)
    initial = {name: getattr(org, name) for name in OrgForm.base_fields if name != "industry_parent"}
    initial["uscc"] = org.uscc or ""
    initial["industry_parent"] = org.industry_parent_id
    form = OrgForm(request.POST or None, initial=initial, industry_unions=_industry_unions(user))
    if not org.is_active:
        form.add_error(None, _("该组织已撤销，不能再修改。"))
    elif request.method == "POST" and form.is_valid():
        try:
            actions.update_org(actor=user, org=org, values=form.values())
        except DomainError as exc:
            add_domain_error(form, exc, ORG_ERROR_FIELDS)
        else:
            messages.success(request, _("已保存 %(name)s 的信息。") % {"name": org.name})
            return redirect("console:org_detail", org.pk)
    context = {"form": form, "org": org, "mode": "edit"}
    return page(request, "console/org_form.html", context, section="orgs", status=400 if form.errors else 200)


def _move_candidates(user: Any, org: Org, parent: Org | None, q: str) -> list[Org]:
    """Unions ``org`` may move under: active, in scope, a level that takes ``org``'s level."""
    levels = [level for level, kids in ALLOWED_CHILDREN.items() if org.level in kids]
    qs = Org.objects.filter(status=OrgStatus.ACTIVE, level__in=levels).exclude(path__startswith=org.path)
    if parent is not None:
        qs = qs.exclude(pk=parent.pk)
    qs = search_orgs(access.scope(user, qs, Perm.ORG_CHANGE), q)
    return list(qs.order_by("depth", "path")[:MOVE_CANDIDATES])


@cadre_required
def org_move(request: HttpRequest, org_id: int) -> HttpResponse:
    """移动: the org and its whole subtree go under a new parent inside the cadre's scope."""
    user = cadre(request)
    org = _org(user, org_id, Perm.ORG_CHANGE)
    parent = Org.objects.get_parent(org) if org.depth > 1 else None
    q = (request.POST.get("q") or request.GET.get("q") or "").strip()[:50]
    form = OrgMoveForm(request.POST or None)
    movable = org.is_active and parent is not None
    if request.method == "POST" and movable and form.is_valid():
        target = (
            access.scope(user, Org.objects.all(), Perm.ORG_CHANGE).filter(pk=form.cleaned_data["new_parent"]).first()
        )
        if target is None:
            form.add_error("new_parent", _("找不到该组织，或您无权把组织移到那里。"))
        else:
            try:
                actions.move_subtree(actor=user, org=org, new_parent=target)
            except DomainError as exc:
                add_domain_error(form, exc, ORG_ERROR_FIELDS)
            else:
                messages.success(
                    request, _("已把 %(org)s 移到 %(parent)s 之下。") % {"org": org.name, "parent": target.name}
                )
                return redirect("console:org_detail", org.pk)
    context = {
        "org": org,
        "parent": parent,
        "form": form,
        "q": q,
        "movable": movable,
        "candidates": _move_candidates(user, org, parent, q) if movable else [],
        "chosen": str(form["new_parent"].value() or ""),
    }
    if is_htmx(request) and request.method == "GET":
        return render(request, "console/_move_candidates.html", context)
    return page(request, "console/org_move.html", context, section="orgs", status=400 if form.errors else 200)


@cadre_required
def org_close(request: HttpRequest, org_id: int) -> HttpResponse:
    """撤销: members move to the parent union as retained members (orgs.actions.close_org)."""
    user = cadre(request)
    org = _org(user, org_id, Perm.ORG_CHANGE)
    parent = Org.objects.get_parent(org) if org.depth > 1 else None
    allowed = _may_close(user, org, parent)
    form = OrgCloseForm(request.POST or None)
    if request.method == "POST" and allowed and form.is_valid():
        try:
            moved = actions.close_org(actor=user, org=org, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            add_domain_error(form, exc, ORG_ERROR_FIELDS)
        else:
            receiver = parent.name if parent is not None else ""
            messages.success(
                request,
                _("已撤销 %(org)s；%(n)s 名会员已转入 %(parent)s 保留会籍。")
                % {"org": org.name, "n": moved, "parent": receiver},
            )
            return redirect("console:org_detail", parent.pk if parent is not None else org.pk)
    subtree_members = access.scope(user, Member.objects.filter(org_path__startswith=org.path), Perm.MEMBER_VIEW)
    context = {
        "org": org,
        "parent": parent,
        "form": form,
        "allowed": allowed,
        "retained": subtree_members.exclude(status=MemberStatus.LEFT).count() if allowed else 0,
        "sub_unions": (
            Org.objects.filter(path__startswith=org.path, status=OrgStatus.ACTIVE).exclude(pk=org.pk).count()
            if allowed
            else 0
        ),
    }
    return page(request, "console/org_close.html", context, section="orgs", status=400 if form.errors else 200)


def _find_account(identifier: str) -> User | None:
    condition = Q(username=identifier)
    with contextlib.suppress(MobileError):
        condition |= Q(mobile=normalize_mobile(identifier))
    return User.objects.filter(condition, is_active=True).first()


@cadre_required
def org_roles(request: HttpRequest, org_id: int) -> HttpResponse:
    """干部角色 on one union: who holds which role; grant a role to an existing account."""
    user = cadre(request)
    org = _org(user, org_id, Perm.ROLE_MANAGE)
    form = RoleGrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        account = _find_account(form.cleaned_data["identifier"].strip())
        if not org.is_active:
            form.add_error(None, _("该组织已撤销，不能再授予角色。"))
        elif account is None:
            form.add_error("identifier", _("找不到该账号。请确认登录名或手机号，对方须先注册账号。"))
        else:
            try:
                actions.grant_role(actor=user, user=account, org=org, role=form.cleaned_data["role"])
            except DomainError as exc:
                add_domain_error(form, exc, {"ROLE_UNKNOWN": "role"})
            else:
                messages.success(
                    request,
                    _("已授予 %(who)s %(role)s 角色。")
                    % {"who": account, "role": dict(form.fields["role"].choices)[form.cleaned_data["role"]]},  # type: ignore[attr-defined]
                )
                return redirect("console:org_roles", org.pk)
    roles = list(Role.objects.filter(org=org).select_related("user", "granted_by").order_by("role", "user__username"))
    holders = {role.user_id for role in roles}
    context = {
        "org": org,
        "roles": roles,
        "form": form,
        "bound": set(TOTPDevice.objects.filter(user_id__in=holders, confirmed=True).values_list("user_id", flat=True)),
        "resettable": cadres.resettable(user, holders) if org.is_active else set(),
    }
    return page(request, "console/org_roles.html", context, section="orgs", status=400 if form.errors else 200)


@require_POST
@cadre_required
def role_revoke(request: HttpRequest, role_id: int) -> HttpResponse:
    user = cadre(request)
    role = access.get_object_or_404(user, Role.objects.select_related("org", "user"), Perm.ROLE_MANAGE, pk=role_id)
    if role.user_id == user.pk:
        messages.error(request, _("不能撤销自己的角色；如需调整，请联系上级工会的管理员。"))
    else:
        actions.revoke_role(actor=user, role=role)
        messages.success(
            request, _("已撤销 %(who)s 的 %(role)s 角色。") % {"who": role.user, "role": role.get_role_display()}
        )
    return redirect("console:org_roles", role.org_id)


@require_POST
@cadre_required
def role_reset_second_factor(request: HttpRequest, role_id: int) -> HttpResponse:
    """重置动态口令 of the cadre holding ``role_id`` (orgs.cadres decides whether it is allowed)."""
    user = cadre(request)
    role = access.get_object_or_404(user, Role.objects.select_related("org", "user"), Perm.ROLE_MANAGE, pk=role_id)
    form = SecondFactorResetForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请填写重置原因。"))
    else:
        try:
            done = cadres.reset_second_factor(actor=user, user=role.user, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            done_text = (
                _("已重置 %(who)s 的动态口令和恢复码，并让其 %(n)s 个已登录的会话退出。")
                if done.sessions_ended
                else _("已重置 %(who)s 的动态口令和恢复码。")
            )
            messages.success(
                request,
                (done_text + _("对方下次登录时须先验证登记的手机号，再重新绑定动态口令。"))
                % {"who": role.user, "n": done.sessions_ended},
            )
    return redirect("console:org_roles", role.org_id)
