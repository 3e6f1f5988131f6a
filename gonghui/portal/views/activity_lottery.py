"""抽奖 on the member's phone: the panel on the activity page, entering, claiming, and the
public results page with the downloads anyone can verify (no login needed for those).

The panel shows what entering costs (``points_cost``) next to the member's balance before
they press the button; a coupon prize is shown as already in the wallet, with a link."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.lottery import actions, selectors
from gonghui.activities.kinds.lottery.kind import points_cost
from gonghui.activities.kinds.lottery.models import Win, WinStatus
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.portal.views.common import member_of, page

WIN_BADGES = {
    WinStatus.WON: "badge-warn",
    WinStatus.CLAIMED: "badge-ok",
    WinStatus.HANDED_OVER: "badge-ok",
    WinStatus.EXPIRED: "badge-muted",
    WinStatus.REDRAWN: "badge-muted",
}


def _lottery(activity_id: int) -> Activity:
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != "lottery":
        raise Http404
    return activity


def _detail(activity: Activity) -> str:
    return reverse("portal:activity_detail", args=[activity.pk])


def panel_context(request: HttpRequest, activity: Activity, member: Member | None) -> dict[str, Any]:
    record = selectors.draw_record(activity)
    wins = selectors.wins_of(activity, member)
    cost = points_cost(activity)
    balance = ledger.balance_of(member) if member is not None and cost else 0
    return {
        "points_cost": cost,
        "balance": balance,
        "can_afford": balance >= cost,
        "wallet_url": reverse("portal:coupons"),
        "prizes": selectors.prizes(activity),
        "entry": selectors.entry_of(activity, member),
        "entry_count": selectors.entry_count(activity),
        "commitment": record.commitment if record else "",
        "drawn": bool(record and record.is_drawn),
        "awaiting_draw": activity.state == ActivityState.CLOSED and not (record and record.is_drawn),
        "wins": [{"win": w, "badge": WIN_BADGES.get(WinStatus(w.status), "badge-muted")} for w in wins],
        "can_enter": activity.state == ActivityState.OPEN,
        "results_url": reverse("portal:activity_lottery_results", args=[activity.pk]),
    }


@require_POST
@login_required
def enter(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _lottery(activity_id)
    try:
        entry = actions.enter(member=member_of(request), activity=activity)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("参与成功！您的参与码是 %(code)s") % {"code": entry.code})
    return HttpResponseRedirect(_detail(activity))


@require_POST
@login_required
def claim(request: HttpRequest, activity_id: int, win_id: int) -> HttpResponse:
    activity = _lottery(activity_id)
    member = member_of(request)
    win = Win.objects.select_related("entry", "prize").filter(pk=win_id, activity=activity).first()
    if win is None or member is None or win.entry.member_id != member.pk:
        raise Http404
    try:
        done = actions.claim(member=member, win=win)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if done.coupon_id is not None:
            messages.success(request, _("奖品券已放入“我的券”。"))
        else:
            messages.success(request, _("已确认领奖，领奖码 %(code)s") % {"code": done.claim_code})
    return HttpResponseRedirect(_detail(activity) + "#lottery-wins")


@never_cache
def results(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The public results page: commitment, seed, the entry list downloads, winners by code."""
    activity = _lottery(activity_id)
    record = selectors.public_record(activity)
    member = member_of(request)
    entry = selectors.entry_of(activity, member)
    context = {
        "activity": activity,
        "record": record,
        "my_code": entry.code if entry else "",
        "current": [
            {"win": w, "badge": WIN_BADGES.get(WinStatus(w.status), "badge-muted")}
            for w in selectors.current_winners(activity)
        ]
        if record["seed"]
        else [],
        "status_labels": dict(WinStatus.choices),
    }
    return page(request, "portal/activities/lottery/results.html", context, tab="activities")


@never_cache
def record_json(request: HttpRequest, activity_id: int) -> HttpResponse:
    data = selectors.public_record(_lottery(activity_id))
    body = json.dumps(data, ensure_ascii=False, indent=1)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lottery-{activity_id}.json"'
    return response


@never_cache
def entries_csv(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _lottery(activity_id)
    if not selectors.entries_public(activity):
        raise Http404
    response = HttpResponse(selectors.entries_csv(activity), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lottery-{activity_id}-entries.csv"'
    return response


urlpatterns = [
    path("a/<int:activity_id>/lottery/enter/", enter, name="activity_lottery_enter"),
    path("a/<int:activity_id>/lottery/wins/<int:win_id>/claim/", claim, name="activity_lottery_claim"),
    path("a/<int:activity_id>/lottery/results/", results, name="activity_lottery_results"),
    path("a/<int:activity_id>/lottery/record.json", record_json, name="activity_lottery_record"),
    path("a/<int:activity_id>/lottery/entries.csv", entries_csv, name="activity_lottery_entries_csv"),
]
