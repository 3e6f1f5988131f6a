"""What every console view shares: the cadre gate, the page frame, 404s in the console's look.

The gate is one decorator, ``cadre_required``, on every console view. It answers in this
order: not logged in → the login page; logged in without any role → "无权访问" (403 is
safe here: it says something about the account, nothing about any object); a cadre who
has not passed the second factor → the TOTP step. Inside the view, an object outside the
cadre's subtree raises ``Http404`` through ``core.access`` and the gate renders the same
404 page that a missing object gets.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from gonghui.core import access
from gonghui.core.access import Perm, RoleKind
from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.orgs.models import Org

View = Callable[..., HttpResponse]

CONSOLE_PREFIX = "/console/"


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def cadre(request: HttpRequest) -> User:
    """The logged-in user of a view behind ``cadre_required``."""
    user = request.user
    if not isinstance(user, User):  # the gate guarantees it; be loud if not
        raise Http404
    return user


def safe_next(request: HttpRequest) -> str:
    """A ``next`` target inside the console, or "" (no open redirects, no portal hops)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target.startswith(CONSOLE_PREFIX) and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, request.is_secure()
    ):
        return target
    return ""


def with_next(url_name: str, next_url: str) -> str:
    url = reverse(url_name)
    if next_url and next_url != reverse("console:dashboard"):
        url += "?" + urlencode({"next": next_url})
    return url


def go(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect; under htmx the whole page goes (a fragment must not become a login page)."""
    if is_htmx(request):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def perform(request: HttpRequest, call: Callable[[], object], success: str, then: str) -> HttpResponse:
    """Run one console action: flash ``success``, or the domain's refusal in its own words,
    and go to the URL ``then`` either way (nothing the cadre typed is lost: these are buttons)."""
    try:
        call()
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success)
    return go(request, then)


def has_verified(user: Any) -> bool:
    is_verified = getattr(user, "is_verified", None)
    return bool(callable(is_verified) and is_verified())


def sms_outbox_allowed(user: Any) -> bool:
    """The outbox belongs to no union: province admins only (any holder in DEBUG)."""
    holders = [g for g in access.grants(user) if g.allows(Perm.SMS_OUTBOX_VIEW)]
    if settings.DEBUG and holders:
        return True
    return any(len(g.path) == Org.steplen for g in holders)


def second_factor_url(user: Any, next_url: str) -> str:
    from gonghui.console import twofactor

    name = "console:otp_verify" if twofactor.confirmed_totp(user) is not None else "console:otp_enroll"
    return with_next(name, next_url)


def cadre_required(view: View) -> View:
    @wraps(view)
    def gate(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        here = request.get_full_path() if request.method == "GET" and not is_htmx(request) else ""
        if not user.is_authenticated:
            return go(request, with_next("console:login", here))
        if not access.is_cadre(user):
            return forbidden(request)
        if not has_verified(user):
            return go(request, second_factor_url(user, here))
        try:
            response = view(request, *args, **kwargs)
        except Http404:
            response = page(request, "console/404.html", {}, status=404)
        # Console pages carry personal data: no browser or proxy keeps a copy.
        add_never_cache_headers(response)
        return response

    return gate


def forbidden(request: HttpRequest) -> HttpResponse:
    response = render(request, "console/forbidden.html", {}, status=403)
    add_never_cache_headers(response)
    return response


def frame(request: HttpRequest) -> dict[str, Any]:
    """Context of the shell around every signed-in page: who, which roles, which sections."""
    user = request.user
    user_grants = access.grants(user)
    names = dict(Org.objects.filter(pk__in=[g.org_id for g in user_grants]).values_list("pk", "name"))
    labels = dict(RoleKind.choices)
    roles = [{"org": names.get(g.org_id, ""), "role": labels.get(g.role, g.role)} for g in user_grants]
    return {
        "me": user,
        "my_roles": roles,
        "nav": {
            "members": access.can_anywhere(user, Perm.MEMBER_VIEW),
            "audit": access.can_anywhere(user, Perm.AUDIT_VIEW),
            "sms": sms_outbox_allowed(user),
            "news": access.can_anywhere(user, Perm.NEWS_PUBLISH),
            "points": access.can_anywhere(user, Perm.POINTS_VIEW),
            "mall_goods": access.can_anywhere(user, Perm.MALL_MANAGE),
            "mall_orders": access.can_anywhere(user, Perm.MALL_FULFIL),
        },
    }


def page(
    request: HttpRequest, template: str, context: dict[str, Any], *, section: str = "", status: int = 200
) -> HttpResponse:
    """Render a full console page inside the shell (top bar, side navigation)."""
    return render(request, template, {**frame(request), "section": section, **context}, status=status)
