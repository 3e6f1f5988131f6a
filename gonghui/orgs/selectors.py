"""Reads of the union tree shared by the console and the API."""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from gonghui.orgs.models import Org

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
