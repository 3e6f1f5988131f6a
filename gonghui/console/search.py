"""How the console reads what a cadre types into a search box.

The shape of the query picks one indexed column, so a search over a million members is
an index lookup, never a scan:

- a resident ID number (any form ``idnumbers.parse`` accepts) → the blind index, exact;
- 11 digits → the mobile number, exact;
- ASCII letters → prefix of the full pinyin or of the initials (``zs`` / ``zhangs``);
- anything else → prefix of the name (``张``, ``张三``).

Name search is a prefix match on purpose: ``LIKE '%x%'`` cannot use an index.
"""

from __future__ import annotations

import re

from django.db.models import Q, QuerySet

from gonghui.core import idnumbers
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.members import actions as member_actions
from gonghui.members.models import Member
from gonghui.orgs.models import Org

_LETTERS = re.compile(r"[A-Za-z]+")
_MOBILE_LIKE = re.compile(r"[+\d][\d\s-]{9,16}")


def member_search_kind(q: str) -> str:
    """Which rule applies to ``q``: ``id``, ``mobile``, ``pinyin``, ``name`` or ``""``."""
    q = q.strip()
    if not q:
        return ""
    try:
        idnumbers.parse(q)
    except idnumbers.IdNumberError:
        pass
    else:
        return "id"
    if _MOBILE_LIKE.fullmatch(q):
        try:
            normalize_mobile(q)
        except MobileError:
            pass
        else:
            return "mobile"
    if _LETTERS.fullmatch(q):
        return "pinyin"
    return "name"


def search_members(qs: QuerySet[Member], q: str) -> QuerySet[Member]:
    q = q.strip()
    kind = member_search_kind(q)
    if kind == "id":
        return qs.filter(id_number_bidx=member_actions.id_blind_index(idnumbers.parse(q).number))
    if kind == "mobile":
        return qs.filter(mobile=normalize_mobile(q))
    if kind == "pinyin":
        key = q.lower()
        return qs.filter(Q(name_pinyin__startswith=key) | Q(name_initials__startswith=key))
    if kind == "name":
        return qs.filter(name__startswith=q)
    return qs


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
