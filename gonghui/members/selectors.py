"""Scoped reads of member records: the subtree filter and the search-box rules.

Console and API both read members through here.

How a search box is read:

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
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.functions import Left

from gonghui.core import access, idnumbers
from gonghui.core.access import Perm
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.members import actions as member_actions
from gonghui.members.models import SUBTREE_PREFIX_LENGTHS, Member

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


def in_subtree(qs: QuerySet[Member], path: str) -> QuerySet[Member]:
    """Members of the org at ``path`` and everything under it, newest-first friendly.

    ``org_path LIKE 'p%'`` alone is correct but PostgreSQL misjudges it: it assumes a
    district's members are spread evenly over ids and walks the primary key backwards,
    discarding most of the table (members arrive union by union, so they cluster).
    An equality on a prefix of fixed length matches one of the per-level expression
    indexes ``(LEFT(org_path, n), id)`` instead: an ordered index range, a few ms at any
    size. docs/PERFORMANCE.md has the measurements.
    """
    qs = qs.filter(org_path__startswith=path)
    if len(path) in SUBTREE_PREFIX_LENGTHS:
        qs = qs.alias(_subtree_prefix=Left("org_path", len(path))).filter(_subtree_prefix=path)
    return qs


def visible(user: Any, qs: QuerySet[Member], perm: Perm) -> QuerySet[Member]:
    """``access.scope`` for members, narrowed through ``in_subtree`` when the user's
    scope is a single subtree (the common case) so the prefix indexes apply."""
    scoped = access.scope(user, qs, perm)
    paths = access.scope_paths(user, perm)
    if len(paths) == 1:
        scoped = in_subtree(scoped, paths[0])
    return scoped
