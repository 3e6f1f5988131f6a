"""我的券: the member's coupon wallet (可用 / 已使用 / 已过期) and one coupon with its QR.

The QR carries the coupon code signed (``coupons.tokens``); it does not need refreshing
(the coupon is good until redeemed or lapsed, which the server decides at redemption),
so a member can show it from a screenshot in a cinema basement without signal.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from gonghui.coupons import selectors, tokens
from gonghui.coupons.models import Coupon
from gonghui.portal.views.card import qr_svg
from gonghui.portal.views.common import member_of, page

TAB_LABELS = {"available": "可用", "used": "已使用", "expired": "已过期"}
PAGE_SIZE = 50


@never_cache
@login_required
def wallet(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    tab = request.GET.get("tab", "available")
    if tab not in selectors.TABS:
        tab = "available"
    context: dict[str, object] = {"member": member, "tab_key": tab, "tabs": []}
    if member is not None:
        counts = selectors.wallet_counts(member)
        context["tabs"] = [
            {"key": key, "label": _(label), "count": counts[key], "active": key == tab}
            for key, label in TAB_LABELS.items()
        ]
        context["coupons"] = list(selectors.wallet(member, tab)[:PAGE_SIZE])
    return page(request, "portal/coupons/wallet.html", context, tab="me")


@never_cache
@login_required
def coupon_detail(request: HttpRequest, code: str) -> HttpResponse:
    member = member_of(request)
    if member is None:
        raise Http404
    coupon = (
        Coupon.objects.select_related("template__org", "redeemed_by_merchant")
        .filter(member=member, code=code.upper())
        .first()
    )
    if coupon is None:
        raise Http404
    status = selectors.shown_status(coupon)
    content = tokens.qr_content(coupon.code)
    context = {
        "coupon": coupon,
        "template": coupon.template,
        "status": status,
        "merchants": list(coupon.template.merchants.order_by("name")),
        "qr": qr_svg(content, _("券二维码"), attrs=f'id="coupon-qr" data-token="{escape(content)}"')
        if status == "issued"
        else None,
    }
    return page(request, "portal/coupons/detail.html", context, tab="me")
