"""投票 on the member's phone: the panel on the activity page (candidates, casting, the
ranking when the rules show it), the receipt of a secret ballot, and the published
receipt list anyone can check their ballot against.

A secret ballot's receipt is rendered straight into the response to the cast: it is
never put in the session or a flash message (both live in the database, next to the
member's id), and the page is not cached.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.vote import actions, selectors
from gonghui.activities.kinds.vote.kind import VoteRules
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.portal.views.common import member_of, page

RECEIPTS_PER_PAGE = 100


def _vote(activity_id: int) -> Activity:
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != "vote":
        raise Http404
    return activity


def _detail(activity: Activity) -> str:
    return reverse("portal:activity_detail", args=[activity.pk]) + "#vote"


def _my_choices(activity: Activity, member: Member | None, rules: VoteRules) -> list[str]:
    """What an open-ballot member chose (their last ballot); nothing for a secret one."""
    if member is None or rules.secret:
        return []
    ballot = Ballot.objects.filter(activity=activity, member=member).order_by("-pk").first()
    if ballot is None:
        return []
    choices = BallotChoice.objects.filter(ballot=ballot).order_by("candidate__order")
    return list(choices.values_list("candidate__name", flat=True))


def panel_context(request: HttpRequest, activity: Activity, member: Member | None) -> dict[str, Any]:
    rules = VoteRules.of(activity)
    results = selectors.results(activity, for_organiser=False)
    votes = {row["id"]: row for row in results["candidates"]}
    voted_today = selectors.voted_today(activity, member, rules) if member is not None else set()
    used = selectors.ballots_today(activity, member, rules) if member is not None else 0
    listed = selectors.candidates(activity)
    if results["visible"]:
        listed.sort(key=lambda c: (votes[c.pk]["rank"] if c.pk in votes else 0, c.order))
    rows = [{"c": c, "voted_today": c.pk in voted_today, "result": votes.get(c.pk)} for c in listed]
    open_now = activity.state == ActivityState.OPEN
    return {
        "rules": rules,
        "rows": rows,
        "results": results,
        "open": open_now,
        "closed": activity.state in (ActivityState.CLOSED, ActivityState.ARCHIVED),
        "used": used,
        "remaining": max(rules.daily_allowance - used, 0) if rules.is_contest else 0,
        "my_choices": _my_choices(activity, member, rules),
        "input_type": "radio" if rules.max_choices == 1 else "checkbox",
        "receipts_url": reverse("portal:activity_vote_receipts", args=[activity.pk]),
        "receipts_published": rules.secret and selectors.receipts_published(activity),
    }


@never_cache
@require_POST
@login_required
def cast(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _vote(activity_id)
    member = member_of(request)
    try:
        ids = [int(v) for v in request.POST.getlist("candidate")]
    except ValueError:
        ids = []
    if not ids:
        messages.error(request, "请先选择候选人。")
        return HttpResponseRedirect(_detail(activity))
    try:
        result = actions.cast_ballot(activity_id=activity.pk, member=member, candidate_ids=ids)
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_detail(activity))
    if result.receipt:
        context = {
            "activity": activity,
            "receipt": selectors.format_receipt(result.receipt),
            "receipts_url": reverse("portal:activity_vote_receipts", args=[activity.pk]),
        }
        return page(request, "portal/activities/vote/receipt.html", context, tab="activities")
    if result.remaining_today:
        messages.success(request, f"投票成功！今天还可以投 {result.remaining_today} 票。")
    else:
        messages.success(request, "投票成功，感谢参与！")
    return HttpResponseRedirect(_detail(activity))


@never_cache
def receipts(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The published list of a secret vote: every receipt with its ballot's choices."""
    activity = _vote(activity_id)
    rules = VoteRules.of(activity)
    if not rules.secret:
        raise Http404
    published = selectors.receipts_published(activity)
    query = selectors.normalise_receipt(request.GET.get("r", ""))[:16]
    found: list[str] | None = None
    page_obj = None
    rows: list[tuple[str, list[str]]] = []
    if published:
        if query:
            found = selectors.find_receipt(activity, query)
        page_obj, rows = selectors.receipt_page(activity, request.GET.get("page"), RECEIPTS_PER_PAGE)
    context = {
        "activity": activity,
        "published": published,
        "query": selectors.format_receipt(query) if query else "",
        "searched": bool(query),
        "found": found,
        "page_obj": page_obj,
        "rows": rows,
        "results": selectors.results(activity, for_organiser=False) if published else None,
    }
    return page(request, "portal/activities/vote/receipts.html", context, tab="activities")


urlpatterns = [
    path("a/<int:activity_id>/vote/cast/", cast, name="activity_vote_cast"),
    path("a/<int:activity_id>/vote/receipts/", receipts, name="activity_vote_receipts"),
]
