"""What every portal page needs: who is looking, and where the tab bar points."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from gonghui.core.access import is_cadre
from gonghui.inbox.selectors import unread_count
from gonghui.members import selectors as member_selectors
from gonghui.members.models import Member


def member_of(request: HttpRequest) -> Member | None:
    """The logged-in user's member record (read once per request, cached on the account)."""
    return member_selectors.of_account(request.user)


def home_url(request: HttpRequest) -> str:
    """A member's home is their own union's page; everyone else starts at the landing page."""
    member = member_of(request)
    if member is not None and member.org.is_active:
        return reverse("portal:union_home", kwargs={"org_id": member.org_id})
    return reverse("portal:landing")


def page(
    request: HttpRequest, template: str, context: dict[str, Any], *, tab: str = "", status: int = 200
) -> HttpResponse:
    """Render a full portal page with the shared header and tab bar context."""
    base = {
        "tab": tab,
        "home_url": home_url(request),
        "show_console_link": is_cadre(request.user),
        # The 消息 tab's badge: one COUNT answered by the partial unread indexes.
        "unread_messages": unread_count(request.user, member_of(request)),
    }
    return render(request, template, {**base, **context}, status=status)
