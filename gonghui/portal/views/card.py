"""电子会员卡: the member's live card, its printable and image copies, and /card/verify.

The live card carries a QR of a short-lived signed token (``members.card_tokens``) and
fetches a fresh one (htmx, ``card_qr``) before the old one expires, so a screenshot of it
proves nothing a minute later. The printed and image copies are honest about what they
are: the card number as text and as a QR for lookup, never a token; the page says that
validity is checked only with the live QR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import segno
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from gonghui.members import card_tokens, cards
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs import branding
from gonghui.portal.views.common import member_of, page

_STATUS_BADGE: dict[str, str] = {
    MemberStatus.ACTIVE: "ok",
    MemberStatus.RETAINED: "warn",
    MemberStatus.LEFT: "muted",
}


@dataclass(frozen=True)
class Qr:
    size: int  # modules, quiet zone included: the viewBox is size × size
    path: str  # SVG path data, one unit per module


def qr_matrix(data: str, border: int = 2) -> Qr:
    """The QR code of ``data`` as one SVG path (horizontal runs of dark modules)."""
    code = segno.make_qr(data, error="m")  # never Micro QR: few phone scanners read it
    rows = [list(row) for row in code.matrix_iter(border=border)]
    parts: list[str] = []
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                parts.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
            else:
                x += 1
    return Qr(size=len(rows), path="".join(parts))


def qr_svg(data: str, label: str, *, attrs: str = "") -> SafeString:
    """An inline, crisp, responsive SVG QR code with an accessible name."""
    qr = qr_matrix(data)
    return mark_safe(  # noqa: S308 - every interpolated value is escaped or generated here
        f'<svg class="qr-svg" viewBox="0 0 {qr.size} {qr.size}" role="img" aria-label="{escape(label)}"'
        f' shape-rendering="crispEdges" {attrs}><rect width="{qr.size}" height="{qr.size}" fill="#fff"/>'
        f'<path fill="#111" d="{qr.path}"/></svg>'
    )


def _url(name: str, fallback: str) -> str:
    """A URL another part of the portal may or may not provide yet."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return reverse(fallback)


def _card_context(member: Member) -> dict[str, Any]:
    theme = branding.theme_for(member.org)
    return {
        "member": member,
        "theme": theme,
        "monogram": branding.monogram(member.org),
        "status_badge": _STATUS_BADGE.get(member.status, "muted"),
        "is_retained": member.status == MemberStatus.RETAINED,
    }


def _qr_context(member: Member) -> dict[str, Any]:
    issued = card_tokens.issue_token(member)
    remaining = max(int((issued.expires_at - timezone.now()).total_seconds()), 1)
    # Fetch the next token well before this one dies; a slow network still makes it.
    refresh = max(issued.ttl_seconds - max(issued.ttl_seconds // 4, 5), 1)
    return {
        "token": issued.token,
        "expires_at": issued.expires_at,
        "remaining": remaining,
        "refresh_seconds": refresh,
        "qr": qr_svg(
            issued.token,
            _("会员卡动态二维码"),
            attrs=f'id="card-qr" data-token="{escape(issued.token)}"',
        ),
    }


def _usable_member(request: HttpRequest) -> Member | None:
    """The member whose card this user may show, with a card number issued if missing."""
    member = member_of(request)
    if member is None or member.status == MemberStatus.LEFT or member.erased_at is not None:
        return None
    if not member.card_number:
        member = cards.ensure_card_number(actor=request.user, member=member)
    return member


@never_cache
@login_required
def card(request: HttpRequest) -> HttpResponse:
    member = _usable_member(request)
    if member is None:
        former = member_of(request)
        return page(
            request,
            "portal/card_missing.html",
            {
                "former": former,
                "find_url": reverse("portal:find_union"),
                "applications_url": _url("portal:applications", "portal:me"),
            },
            tab="card",
        )
    context = {**_card_context(member), **_qr_context(member)}
    return page(request, "portal/card.html", context, tab="card")


@never_cache
@login_required
def card_qr(request: HttpRequest) -> HttpResponse:
    """The htmx partial: a fresh QR and countdown (or a note that the card is gone)."""
    member = _usable_member(request)
    if member is None:
        return render(request, "portal/_card_qr.html", {"gone": True})
    return render(request, "portal/_card_qr.html", _qr_context(member))


@never_cache
@login_required
def card_print(request: HttpRequest) -> HttpResponse:
    member = _usable_member(request)
    if member is None:
        return card(request)
    context = {
        **_card_context(member),
        "number_qr": qr_svg(member.card_number or "", _("会员卡号二维码（仅供查询卡号）")),
        "card_url": reverse("portal:card"),
    }
    return render(request, "portal/card_print.html", context)


@never_cache
@login_required
def card_image(request: HttpRequest) -> HttpResponse:
    member = _usable_member(request)
    if member is None:
        return card(request)
    number = member.card_number or ""
    context = {**_card_context(member), "number_qr": qr_matrix(number, border=0), "spaced_number": _spaced(number)}
    response = render(request, "portal/card_image.svg", context, content_type="image/svg+xml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="gonghui-card-{number}.svg"'
    return response


def _spaced(number: str) -> str:
    """Card numbers read in groups of four, like a bank card."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


# --- /card/verify ------------------------------------------------------------------------


@never_cache
@require_http_methods(["GET", "POST"])
def card_verify(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    if not user.is_authenticated:
        login = f"{reverse('portal:login')}?next={reverse('portal:card_verify')}"
        return page(request, "portal/card_verify_denied.html", {"login_url": login, "anonymous": True})
    if not card_tokens.is_verifier(user):
        return page(request, "portal/card_verify_denied.html", {"anonymous": False}, status=403)
    context: dict[str, Any] = {"check": None, "error": ""}
    status = 200
    if request.method == "POST":
        try:
            context["check"] = card_tokens.verify(request.POST.get("token", ""), verifier=user)
        except card_tokens.VerifyThrottled as exc:
            context["error"] = exc.message
            status = 429
    if request.headers.get("HX-Request"):
        # htmx swaps only 2xx answers: the throttle message is a result panel like any other.
        return render(request, "portal/_card_result.html", context)
    return page(request, "portal/card_verify.html", context, status=status)
