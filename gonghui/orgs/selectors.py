"""Reads of the union tree shared by the console and the API."""

from __future__ import annotations

import re

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from gonghui.core.uscc import normalize as normalize_uscc
from gonghui.orgs.models import Org, OrgLevel, OrgStatus
from gonghui.orgs.regions import prefix as region_prefix

_LETTERS = re.compile(r"[A-Za-z]+")


def search_orgs(qs: QuerySet[Org], q: str) -> QuerySet[Org]:
    """Letters → initials prefix (``thq`` finds 天河区…) or full pinyin anywhere (``wushan``);
    otherwise the name anywhere (``软件园``).

    Orgs are searched with "contains": people type the distinctive middle of a long union
    name, and the org table (~130,000 rows) is small next to the member table.
    """
    q = q.strip()
    if not q:
        return qs
    if _LETTERS.fullmatch(q):
        key = q.lower()
        return qs.filter(Q(name_initials__startswith=key) | Q(name_pinyin__contains=key))
    return qs.filter(name__contains=q)


# Levels a worker can join or be pointed to by the public finder; branches and groups sit
# inside a grassroots union and are reached through it.
FINDER_LEVELS = (OrgLevel.GRASSROOTS, OrgLevel.STREET, OrgLevel.DISTRICT, OrgLevel.FEDERATION, OrgLevel.INDUSTRY)
FINDER_PAGE = 30


def find_unions(q: str, region_code: str | None, within: Org | None = None) -> QuerySet[Org]:
    """The public "find my union" search: at most ``FINDER_PAGE`` active unions.

    ``q`` is matched against the union name, the unit name, the unit's USCC (exact) and
    the name's pinyin or initials; ``region_code`` narrows to a province, city or district
    by code prefix, ``within`` to one street union's subtree. With none of them, nothing is
    listed: the finder is not a directory dump.
    """
    q = q.strip()
    qs: QuerySet[Org] = Org.objects.filter(status=OrgStatus.ACTIVE, level__in=FINDER_LEVELS)
    if not q and not region_code and within is None:
        return qs.none()
    if within is not None:
        qs = qs.filter(path__startswith=within.path)
    if region_code:
        qs = qs.filter(region_code__startswith=region_prefix(region_code))
    if q:
        match = Q(name__contains=q) | Q(unit_name__contains=q)
        if _LETTERS.fullmatch(q):
            key = q.lower()
            match |= Q(name_initials__startswith=key) | Q(name_pinyin__contains=key)
        code = normalize_uscc(q)
        if len(code) == 18:
            match |= Q(unit_uscc=code)
        qs = qs.filter(match)
    grassroots_first = Case(
        When(level=OrgLevel.GRASSROOTS, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    ordered: QuerySet[Org] = qs.annotate(level_rank=grassroots_first).order_by("level_rank", "name", "pk")
    return ordered[:FINDER_PAGE]


def suggest_for_region(region_code: str) -> list[Org]:
    """Street then district unions of a district: where a worker without a workplace union applies."""
    street_first = Case(When(level=OrgLevel.STREET, then=Value(0)), default=Value(1), output_field=IntegerField())
    return list(
        Org.objects.filter(
            status=OrgStatus.ACTIVE, level__in=(OrgLevel.STREET, OrgLevel.DISTRICT), region_code=region_code
        )
        .annotate(level_rank=street_first)
        .order_by("level_rank", "name", "pk")
    )


def pool_unions_near(region_code: str | None, limit: int = 5) -> list[Org]:
    """Pool unions for new-employment-form workers, nearest first: same district, then city,
    then province (by region-code prefix), then anywhere on the platform."""
    pools = Org.objects.filter(status=OrgStatus.ACTIVE, is_pool_union=True)
    if region_code:
        for cut in (6, 4, 2):
            found = list(pools.filter(region_code__startswith=region_code[:cut]).order_by("-depth", "name")[:limit])
            if found:
                return found
    return list(pools.order_by("depth", "name")[:limit])


def parents_of(orgs: list[Org]) -> dict[int, Org]:
    """Each org's parent union keyed by the child's pk, fetched in one query on path."""
    parent_paths = {org.path[: -Org.steplen] for org in orgs if org.depth > 1}
    if not parent_paths:
        return {}
    by_path = {parent.path: parent for parent in Org.objects.filter(path__in=parent_paths)}
    return {org.pk: by_path[org.path[: -Org.steplen]] for org in orgs if org.path[: -Org.steplen] in by_path}
