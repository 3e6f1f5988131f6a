"""Each union's own space: its home page, its notices, its sub-unions; and the landing page.

A union's home page is its public face, so these pages need no login and are not scoped
through ``core.access`` (that helper answers what a *cadre* may manage). What they must
not show is a closed union: that is a 404. Members see the notices of their union and
of every union above it, since a notice is addressed to the publishing union's subtree.
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone

from gonghui.orgs.branding import monogram, theme_for
from gonghui.orgs.models import Notice, Org, OrgStatus
from gonghui.portal.views.common import member_of, page

NOTICES_ON_HOME = 8
NOTICES_PER_PAGE = 20
CHILDREN_ON_HOME = 12
CHILDREN_PER_PAGE = 30


def _active_org(org_id: int) -> Org:
    org: Org | None = Org.objects.filter(pk=org_id, status=OrgStatus.ACTIVE).first()
    if org is None:
        raise Http404
    return org


def _lineage(org: Org) -> list[Org]:
    """The unions above ``org``, province first (one indexed query on path)."""
    return list(Org.objects.get_ancestors(org))


def _notices_for(orgs: list[Org]) -> QuerySet[Notice]:
    """Published notices of the given unions, newest first, in one query."""
    return (
        Notice.objects.filter(org__in=orgs, published_at__lte=timezone.now())
        .select_related("org")
        .order_by("-published_at", "-id")
    )


def _active_children(org: Org) -> QuerySet[Org]:
    children: QuerySet[Org] = Org.objects.get_children(org)
    return children.filter(status=OrgStatus.ACTIVE)


def _paginate(request: HttpRequest, items: QuerySet[Notice] | QuerySet[Org], per_page: int) -> Page[object]:
    return Paginator(items, per_page).get_page(request.GET.get("page"))


def _space(request: HttpRequest, org: Org, lineage: list[Org]) -> dict[str, object]:
    """Context every page of a union's space shares: branding and where we are."""
    member = member_of(request)
    return {
        "org": org,
        "lineage": lineage,
        "theme": theme_for(org),
        "monogram": monogram(org),
        "is_own_union": member is not None and member.org_id == org.pk,
    }


def landing(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    if member is not None and member.org.is_active:
        return redirect("portal:union_home", org_id=member.org_id)
    top_unions = list(Org.objects.get_root_nodes().filter(status=OrgStatus.ACTIVE)[:6])
    return page(
        request,
        "portal/landing.html",
        {"top_unions": top_unions, "has_member": member is not None},
        tab="home",
    )


def union_home(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _active_org(org_id)
    lineage = _lineage(org)
    notices = list(_notices_for([*lineage, org])[: NOTICES_ON_HOME + 1])
    children = list(_active_children(org)[: CHILDREN_ON_HOME + 1])
    children_total = len(children)
    if children_total > CHILDREN_ON_HOME:
        children_total = _active_children(org).count()
    context = {
        **_space(request, org, lineage),
        "notices": notices[:NOTICES_ON_HOME],
        "more_notices": len(notices) > NOTICES_ON_HOME,
        "children": children[:CHILDREN_ON_HOME],
        "children_total": children_total,
    }
    return page(request, "portal/union_home.html", context, tab="home")


def notice_list(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _active_org(org_id)
    lineage = _lineage(org)
    notices = _paginate(request, _notices_for([*lineage, org]), NOTICES_PER_PAGE)
    return page(request, "portal/notice_list.html", {**_space(request, org, lineage), "page_obj": notices}, tab="home")


def notice_detail(request: HttpRequest, org_id: int, notice_id: int) -> HttpResponse:
    org = _active_org(org_id)
    notice = Notice.objects.filter(pk=notice_id, org=org, published_at__lte=timezone.now()).first()
    if notice is None:
        raise Http404
    lineage = _lineage(org)
    return page(request, "portal/notice_detail.html", {**_space(request, org, lineage), "notice": notice}, tab="home")


def union_children(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _active_org(org_id)
    lineage = _lineage(org)
    children = _paginate(request, _active_children(org), CHILDREN_PER_PAGE)
    context = {**_space(request, org, lineage), "page_obj": children}
    return page(request, "portal/union_children.html", context, tab="home")
