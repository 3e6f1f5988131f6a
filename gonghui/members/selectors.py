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
from gonghui.core.rowreader import RowReader
from gonghui.members import actions as member_actions
from gonghui.members.models import SUBTREE_PREFIX_LENGTHS, Member

_LETTERS = re.compile(r"[A-Za-z]+")
_MOBILE_LIKE = re.compile(r"[+\d][\d\s-]{9,16}")


# Read on every request a member makes: SQL written once (core.rowreader).
_BY_ACCOUNT = RowReader(Member, "user", related=("org",))
_BY_ID = RowReader(Member, "pk", related=("org",))


def by_id(pk: int) -> Member | None:
    """A member with its union, by id (the hot lane knows the member from its pass)."""
    return _BY_ID.get(pk)


def of_account(user: Any) -> Member | None:
    """The member record of a logged-in account, with its union (None for an account
    without one, or no login). Read once: the result is cached on the account object,
    where Django keeps ``user.member``.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    relation = Member._meta.get_field("user").remote_field  # the reverse one-to-one cache
    if not relation.is_cached(user):
        relation.set_cached_value(user, _BY_ACCOUNT.get(user.pk))
    member = relation.get_cached_value(user)
    return member if isinstance(member, Member) else None


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


_PREFIX = "_subtree_prefix"


def in_subtree(qs: QuerySet[Member], path: str) -> QuerySet[Member]:
    """Members of the org at ``path`` and everything under it, newest-first friendly.

    ``org_path LIKE 'p%'`` is correct but PostgreSQL misjudges it: it assumes a
    district's members are spread evenly over ids and walks the primary key backwards,
    discarding most of the table (members arrive union by union, so they cluster).
    ``LEFT(org_path, len(p)) = p`` means the same and matches one of the per-level
    expression indexes ``(LEFT(org_path, n), id)``: an ordered index range, a few ms at
    any size. Only one of the two conditions is applied: both together make the planner
    multiply their selectivities and pick a worse plan. docs/PERFORMANCE.md has figures.
    """
    if len(path) in SUBTREE_PREFIX_LENGTHS:
        # A one-value range, not "=": with an equality PostgreSQL treats the prefix as a
        # constant, drops it from the ORDER BY of ``newest_first`` and is back to walking
        # the primary key. The range keeps the index order visible to the planner.
        prefix = {f"{_PREFIX}__gte": path, f"{_PREFIX}__lte": path}
        return qs.alias(**{_PREFIX: Left("org_path", len(path))}).filter(**prefix)
    return qs.filter(org_path__startswith=path)


def newest_first(qs: QuerySet[Member]) -> QuerySet[Member]:
    """Order a member list newest first, in the order the subtree index already has.

    Under ``in_subtree`` the prefix is constant, so ``(prefix, id) DESC`` is the same
    order as ``id DESC``; spelling it with the prefix lets PostgreSQL read the
    ``(LEFT(org_path, n), id)`` index backwards and stop after one page, instead of
    walking the primary key past every other district's members.
    """
    if _PREFIX in qs.query.annotations:
        return qs.order_by(f"-{_PREFIX}", "-pk")
    return qs.order_by("-pk")


def visible(user: Any, qs: QuerySet[Member], perm: Perm, within: str | None = None) -> QuerySet[Member]:
    """Members ``user`` may ``perm``, optionally only those under the org path ``within``.

    The scope comes from ``core.access`` as everywhere; when it (or ``within``) is one
    subtree the filter is written through ``in_subtree`` so the prefix indexes apply.
    A ``within`` outside the user's scope yields nothing (callers look the org up with
    ``access.get_object_or_404`` first, so that is a 404 before it gets here).
    """
    paths = access.scope_paths(user, perm)
    if within is not None:
        if not any(within.startswith(p) for p in paths):
            return qs.none()
        return in_subtree(qs, within)
    if len(paths) == 1:
        return in_subtree(qs, paths[0])
    return access.scope(user, qs, perm)
