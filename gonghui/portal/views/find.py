"""一键找到工会: the public union finder (no login), with live results over htmx.

A worker searches by union or unit name, the unit's USCC, or pinyin, and narrows by
province → city → district → street. Once a district is chosen, the street and district
unions there are offered to workers whose employer has no union of its own; a worker in a
new form of employment (courier, rider, driver…) is offered the nearest pool union.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gonghui.members.models import NewEmploymentGroup
from gonghui.orgs.models import Org, OrgLevel, OrgStatus
from gonghui.orgs.regions import Region, as_options, level_of, union_regions
from gonghui.orgs.selectors import find_unions, parents_of, pool_unions_near, suggest_for_region
from gonghui.portal.views.common import page

MAX_QUERY = 100


def _chosen_region(request: HttpRequest, regions: list[Region]) -> str | None:
    """The most specific region picked that actually has unions (a stale pick is ignored)."""
    offered: set[str] = set()
    stack = list(regions)
    while stack:
        region = stack.pop()
        offered.add(region.code)
        stack.extend(region.children)
    for key in ("district", "city", "province"):
        code = request.GET.get(key, "").strip()
        if code in offered:
            return code
    return None


def _children(regions: list[Region], code: str) -> list[Region]:
    return next((r.children for r in regions if r.code == code), [])


def _chosen_street(request: HttpRequest, district: str | None) -> Org | None:
    """The street union picked, if it really is an active street union of ``district``."""
    raw = request.GET.get("street", "").strip()
    if not district or not raw.isdigit():
        return None
    chosen = Org.objects.filter(pk=int(raw), level=OrgLevel.STREET, status=OrgStatus.ACTIVE, region_code=district)
    street: Org | None = chosen.first()
    return street


def find_union(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:MAX_QUERY]
    group = request.GET.get("group", "")
    group = group if group in NewEmploymentGroup.values else ""
    regions = union_regions()
    region = _chosen_region(request, regions)
    level = level_of(region) if region else ""
    province = region[:2] + "0000" if region else ""
    city = region[:4] + "00" if region and level != "province" else ""
    district = region if level == "district" else ""
    street = _chosen_street(request, district)

    searched = bool(q or region)
    orgs: list[Org] = list(find_unions(q, region, within=street)) if searched else []
    parents = parents_of(orgs)
    context = {
        "q": q,
        "searched": searched,
        "results": [(org, parents.get(org.pk)) for org in orgs],
        "district": district,
        "street": street,
        "suggestions": ([street] if street else suggest_for_region(district)) if district else [],
        "group": group,
        "group_label": NewEmploymentGroup(group).label if group else "",
        "pools": pool_unions_near(region) if group else [],
    }
    htmx = request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")
    if htmx:
        return render(request, "portal/_find_results.html", context)
    cities = _children(regions, province)
    districts = _children(cities, city)
    context.update(
        {
            "provinces": regions,
            "cities": cities,
            "districts": districts,
            "streets": next((r.streets for r in districts if r.code == district), []),
            "groups": NewEmploymentGroup.choices,
            "province": province,
            "city": city,
            "region_options": as_options(regions),
        }
    )
    return page(request, "portal/find.html", context, tab="home")
