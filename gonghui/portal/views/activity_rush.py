"""抢票 on the member's phone: the panel (countdown, ticket types, grab buttons, my ticket
with its code and QR), the grab itself with the waiting room, and cancelling.

The grab answers with a fragment (htmx): 抢票成功 with the code, 已抢完, 已参与, or the
member's place in the waiting room — that fragment polls the same endpoint every two
seconds with its signed admission token and grabs by itself once admitted. Without
JavaScript the forms still post and the page comes back with the outcome as a message.

A ticket type that is a coupon (抢券) puts the coupon in the member's wallet: the ticket
then links to the coupon (shown to the merchant) instead of a gate code.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.rush import actions
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.errors import DomainError
from gonghui.coupons.models import CouponStatus
from gonghui.members.models import Member
from gonghui.portal.views.card import qr_svg
from gonghui.portal.views.common import member_of

POLL_SECONDS = 2
GRANT_BADGES = {
    GrantStatus.GRANTED: "badge-ok",
    GrantStatus.REDEEMED: "badge-muted",
    GrantStatus.CANCELLED: "badge-muted",
}


def _rush(activity_id: int) -> Activity:
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != "rush":
        raise Http404
    return activity


def _detail(activity: Activity) -> str:
    return reverse("portal:activity_detail", args=[activity.pk])


def _grant_context(activity: Activity, grant: Grant) -> dict[str, Any]:
    return {
        "grant": grant,
        "badge": GRANT_BADGES.get(GrantStatus(grant.status), "badge-muted"),
        "qr": qr_svg(actions.qr_payload(grant), _("兑换码二维码"))
        if grant.status == GrantStatus.GRANTED and grant.coupon_id is None
        else "",
        "coupon": grant.coupon,
        "can_cancel": grant.status == GrantStatus.GRANTED
        and actions.can_cancel(activity)
        and (grant.coupon is None or grant.coupon.status != CouponStatus.REDEEMED),
        "deadline": actions.cancel_deadline(activity),
    }


def panel_context(request: HttpRequest, activity: Activity, member: Member | None) -> dict[str, Any]:
    items = list(RushItem.objects.filter(activity=activity))
    grant = (
        Grant.objects.filter(activity=activity, member=member).select_related("item", "coupon__template").first()
        if member is not None
        else None
    )
    state = activity.state
    # Rounded up: the page arrives after it was rendered, so its countdown never opens early.
    seconds = math.ceil((activity.starts_at - timezone.now()).total_seconds())
    return {
        "items": items,
        "sold_out": bool(items) and all(i.remaining <= 0 for i in items),
        "mine": _grant_context(activity, grant) if grant is not None else None,
        "not_started": state == ActivityState.PUBLISHED,
        "is_open": state == ActivityState.OPEN,
        "seconds_to_open": max(seconds, 0),
        "grab_url": reverse("portal:activity_rush_grab", args=[activity.pk]),
        "cancel_url": reverse("portal:activity_rush_cancel", args=[activity.pk]),
        "deadline": actions.cancel_deadline(activity),
    }


def _fragment(request: HttpRequest, activity: Activity, context: dict[str, Any], status: int = 200) -> HttpResponse:
    return render(request, "portal/activities/rush/_result.html", {"activity": activity, **context}, status=status)


@never_cache
@require_POST
@login_required
def grab(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _rush(activity_id)
    htmx = request.headers.get("HX-Request") == "true"
    try:
        item_id = int(request.POST.get("item_id", ""))
    except ValueError:
        item_id = 0
    try:
        outcome = actions.attempt(
            activity=activity, member=member_of(request), item_id=item_id, token=request.POST.get("token", "")
        )
    except DomainError as exc:
        if not htmx:
            messages.error(request, exc.message)
            return HttpResponseRedirect(_detail(activity))
        return _fragment(request, activity, {"error": exc, "code": exc.code})
    if outcome.grant is not None:
        if not htmx and outcome.grant.coupon_id is not None:
            messages.success(request, _("抢到了！券已放入“我的券”。"))
            return HttpResponseRedirect(_detail(activity) + "#rush-mine")
        if not htmx:
            messages.success(request, _("抢票成功！兑换码 %(code)s") % {"code": outcome.grant.code})
            return HttpResponseRedirect(_detail(activity) + "#rush-mine")
        grant = Grant.objects.select_related("item", "coupon__template").get(pk=outcome.grant.pk)
        return _fragment(request, activity, {"won": _grant_context(activity, grant)})
    admission = outcome.admission
    assert admission is not None  # noqa: S101 - a queued outcome always carries its admission
    if not htmx:
        messages.info(request, _("排队中：您前面还有 %(n)s 人，请稍后再点一次。") % {"n": admission.place})
        return HttpResponseRedirect(_detail(activity))
    return _fragment(
        request,
        activity,
        {"queued": admission, "item_id": item_id, "poll_seconds": POLL_SECONDS, "grab_url": request.path},
        status=202,
    )


@require_POST
@login_required
def cancel(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _rush(activity_id)
    member = member_of(request)
    if member is None:
        raise Http404
    try:
        grant = actions.cancel(activity=activity, member=member)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if grant.coupon_id is not None:
            messages.success(request, _("已退券，券已作废，名额已退回。按活动规则，退券后不能再抢。"))
        else:
            messages.success(request, _("已退票，名额已退回。按活动规则，退票后不能再抢。"))
    return HttpResponseRedirect(_detail(activity))


urlpatterns = [
    path("a/<int:activity_id>/rush/grab/", grab, name="activity_rush_grab"),
    path("a/<int:activity_id>/rush/cancel/", cancel, name="activity_rush_cancel"),
]
