"""Administrative regions (GB/T 2260) for pickers: current names from stdnum's loc data.

The loc data keeps every code that ever existed, marking abolished ones ``[-2010]崇文区``;
pickers offer only codes still in use, under their latest name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from gonghui.orgs.models import Org, OrgLevel, OrgStatus

# A name entry closed by an end year (``[-2010]…`` or ``[1983-2005]…``) is abolished.
_ENDED = re.compile(r"^\[\d*-\d{4}\]")


@dataclass
class Region:
    code: str
    name: str
    children: list[Region] = field(default_factory=list)
    # Street (township) unions of a district: (org id, name). Streets are unions, not
    # region codes, so the finder narrows to a street union's subtree.
    streets: list[tuple[int, str]] = field(default_factory=list)


@cache
def _current_names() -> dict[str, str]:
    """Every 6-digit code still in use with its latest name, read once."""
    from stdnum import numdb  # imported lazily: reading loc.dat costs tens of ms

    names: dict[str, str] = {}
    for _plen, prov, _phigh, _pprops, children in numdb.get("cn/loc").prefixes:
        for _clen, county, _chigh, cprops, _grandchildren in children:
            parts = [part for part in cprops.get("county", "").split(",") if part]
            if not parts or _ENDED.match(parts[-1]):
                continue
            latest = parts[-1]
            names[prov + county] = latest.split("]", 1)[1] if latest.startswith("[") else latest
    return names


def current_name(code: str) -> str | None:
    return _current_names().get(code)


def level_of(code: str) -> str:
    """``province`` (XX0000), ``city`` (XXXX00) or ``district``."""
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "district"


def parent_code(code: str) -> str | None:
    level = level_of(code)
    if level == "province":
        return None
    if level == "city":
        return code[:2] + "0000"
    return code[:4] + "00"


def current_children(code: str | None) -> list[tuple[str, str]]:
    """``(code, name)`` of the regions in use directly under ``code`` (None: provinces)."""
    return sorted((c, n) for c, n in _current_names().items() if parent_code(c) == code)


def prefix(code: str) -> str:
    """The code without trailing ``00`` pairs: 440000 → 44, 440100 → 4401, 440106 → 440106."""
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def _label(code: str) -> str:
    return current_name(code) or code


def union_regions() -> list[Region]:
    """Province → city → district regions that have at least one active union (one query)."""
    codes = set(
        Org.objects.filter(status=OrgStatus.ACTIVE)
        .exclude(region_code="")
        .values_list("region_code", flat=True)
        .distinct()
    )
    known = _current_names()
    streets: dict[str, list[tuple[int, str]]] = {}
    street_rows = (
        Org.objects.filter(status=OrgStatus.ACTIVE, level=OrgLevel.STREET)
        .exclude(region_code="")
        .order_by("name", "pk")
        .values_list("region_code", "pk", "name")
    )
    for region_code, pk, name in street_rows:
        streets.setdefault(region_code, []).append((pk, name))
    provinces: dict[str, Region] = {}
    cities: dict[str, Region] = {}
    for code in sorted(codes):
        if len(code) != 6 or not code.isdigit() or (code not in known and not code.endswith("0000")):
            continue
        province_code = code[:2] + "0000"
        province = provinces.setdefault(province_code, Region(province_code, _label(province_code)))
        if level_of(code) == "province":
            continue
        city_code = code[:4] + "00"
        city = cities.get(city_code)
        if city is None:
            city = cities[city_code] = Region(city_code, _label(city_code))
            province.children.append(city)
        if level_of(code) == "district":
            city.children.append(Region(code, _label(code), streets=streets.get(code, [])))
    return sorted(provinces.values(), key=lambda r: r.code)


def as_options(regions: list[Region]) -> list[dict[str, object]]:
    """The nested regions as plain data for ``json_script`` (the cascading selects)."""
    return [
        {
            "code": r.code,
            "name": r.name,
            "children": as_options(r.children),
            "streets": [{"code": str(pk), "name": name} for pk, name in r.streets],
        }
        for r in regions
    ]
