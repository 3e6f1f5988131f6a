"""一键找到工会: the public union finder (no login), with live results over htmx.

A worker searches by union or unit name, the unit's USCC, or pinyin, and narrows by
province → city → district. Once a district is chosen, the street and district unions
there are offered to workers whose employer has no union of its own.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from gonghui.orgs.models import Org
from gonghui.orgs.regions import Region, as_options, level_of, union_regions
from gonghui.orgs.selectors import find_unions, parents_of, suggest_for_region
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


def find_union(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:MAX_QUERY]
    regions = union_regions()
    region = _chosen_region(request, regions)
    level = level_of(region) if region else ""
    province = region[:2] + "0000" if region else ""
    city = region[:4] + "00" if region and level != "province" else ""
    district = region if level == "district" else ""

    searched = bool(q or region)
    orgs: list[Org] = list(find_unions(q, region)) if searched else []
    parents = parents_of(orgs)
    context = {
        "q": q,
        "searched": searched,
        "results": [(org, parents.get(org.pk)) for org in orgs],
        "district": district,
        "suggestions": suggest_for_region(district) if district else [],
    }
    htmx = request.headers.get("HX-Request") == "true" and not request.headers.get("HX-History-Restore-Request")
    if htmx:
        return render(request, "portal/_find_results.html", context)
    cities = _children(regions, province)
    context.update(
        {
            "provinces": regions,
            "cities": cities,
            "districts": _children(cities, city),
            "province": province,
            "city": city,
            "region_options": as_options(regions),
        }
    )
    return page(request, "portal/find.html", context, tab="home")
