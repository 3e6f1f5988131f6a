"""商户核销: the merchant cashier's phone page.

Scan the member's coupon QR (BarcodeDetector where the browser has it) or type/paste the
code → the coupon as this merchant may see it (template, masked holder, validity) →
确认核销 → success, or the refusal in large clear Chinese. Below: today's count and the
merchant's own redemption history. A user who is not an active merchant cashier gets a
403 page; a coupon the merchant does not accept is refused without any details.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from gonghui.core import pii
from gonghui.core.errors import DomainError
from gonghui.coupons import actions, selectors
from gonghui.coupons.models import MerchantUser
from gonghui.portal.views.common import page

HISTORY_PAGE = 30


def _gate(request: HttpRequest) -> tuple[MerchantUser | None, HttpResponse | None]:
    user: Any = request.user
    if not user.is_authenticated:
        login = f"{reverse('portal:login')}?next={reverse('portal:merchant')}"
        return None, page(request, "portal/merchant/denied.html", {"login_url": login, "anonymous": True})
    link = actions.merchant_link(user)
    if link is None:
        return None, page(request, "portal/merchant/denied.html", {"anonymous": False}, status=403)
    return link, None


def _panel(request: HttpRequest, context: dict[str, Any], *, status: int = 200) -> HttpResponse:
    """The result panel alone under htmx (a 2xx, so htmx swaps refusals in too), else the page."""
    if request.headers.get("HX-Request"):
        return render(request, "portal/merchant/_result.html", context)
    link = actions.merchant_link(request.user)
    if link is None:  # removed between the gate and here
        return HttpResponse(status=403)
    return page(request, "portal/merchant/home.html", {**_home_context(link), **context}, status=status)


def _home_context(link: MerchantUser) -> dict[str, Any]:
    return {
        "merchant": link.merchant,
        "today": selectors.merchant_today_count(link.merchant),
        "recent": list(selectors.merchant_redemptions(link.merchant)[:5]),
    }


@never_cache
def merchant_home(request: HttpRequest) -> HttpResponse:
    link, denied = _gate(request)
    if denied is not None or link is None:
        return denied or HttpResponse(status=403)
    return page(request, "portal/merchant/home.html", _home_context(link))


@never_cache
@require_POST
def merchant_lookup(request: HttpRequest) -> HttpResponse:
    link, denied = _gate(request)
    if denied is not None or link is None:
        return denied or HttpResponse(status=403)
    raw = request.POST.get("code", "")
    try:
        preview = actions.lookup(request.user, raw)
    except DomainError as exc:
        return _panel(request, {"error": exc}, status=exc.status)
    return _panel(request, {"preview": preview, "raw": raw, "redeem_key": uuid.uuid4().hex})


@never_cache
@require_POST
def merchant_redeem(request: HttpRequest) -> HttpResponse:
    link, denied = _gate(request)
    if denied is not None or link is None:
        return denied or HttpResponse(status=403)
    raw = request.POST.get("code", "")
    # The form carries a one-time key: a double tap or a resubmitted page shows the first
    # result again instead of "already redeemed".
    form_key = (request.POST.get("key") or "")[:64]
    key = f"portal:{request.user.pk}:{form_key}" if form_key else None
    try:
        done = actions.redeem(request.user, raw, key=key)
    except DomainError as exc:
        return _panel(request, {"error": exc}, status=exc.status)
    return _panel(
        request,
        {
            "done": done,
            "masked_name": pii.mask_name(done.coupon.member.name),
            "today_after": selectors.merchant_today_count(link.merchant),
        },
    )


@never_cache
@require_http_methods(["GET"])
def merchant_history(request: HttpRequest) -> HttpResponse:
    link, denied = _gate(request)
    if denied is not None or link is None:
        return denied or HttpResponse(status=403)
    page_obj = Paginator(selectors.merchant_redemptions(link.merchant), HISTORY_PAGE).get_page(request.GET.get("page"))
    context = {
        "merchant": link.merchant,
        "today": selectors.merchant_today_count(link.merchant),
        "page_obj": page_obj,
    }
    return page(request, "portal/merchant/history.html", context)
