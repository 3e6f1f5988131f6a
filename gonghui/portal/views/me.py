"""我的: the member's own record, with personal data masked.

Members see their ID number and mobile masked here, as everywhere; the page never needs
the plaintext, so it never decrypts (and so writes no reveal audit row).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache

from gonghui.members.models import MemberStatus
from gonghui.portal.views.common import member_of, page

_STATUS_BADGE: dict[str, str] = {
    MemberStatus.ACTIVE: "ok",
    MemberStatus.RETAINED: "warn",
    MemberStatus.LEFT: "muted",
}


@never_cache  # personal data: no shared cache, no stale copy after logout
@login_required
def me(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    context = {
        "member": member,
        "status_badge": _STATUS_BADGE.get(member.status, "muted") if member is not None else "",
    }
    return page(request, "portal/me.html", context, tab="me")
