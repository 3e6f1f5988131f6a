"""投票 in the console: candidates (before the vote opens), live results, the totals export.

Every view reads the activity through ``selectors.get_for_cadre`` (another subtree's
vote is the console's 404) and writes through ``activities.kinds.vote.actions``. The
per-ballot export is the generic activity export (``VoteKind.export``: masked voters, or
only receipts for a secret ballot); the totals CSV here is the candidate tally.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.vote import actions, selectors
from gonghui.activities.kinds.vote.kind import VoteRules
from gonghui.activities.kinds.vote.models import Candidate
from gonghui.activities.models import Activity, ActivityState
from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, is_htmx, page, perform
from gonghui.core import access, audit
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError

CANDIDATE_ERROR_FIELDS = {
    "VOTE_CANDIDATE_NAME": "name",
    "VOTE_CANDIDATE_TEXT": "text",
    "VOTE_PHOTO_TOO_LARGE": "photo",
    "VOTE_PHOTO_TYPE": "photo",
    "VOTE_PHOTO_INVALID": "photo",
}


class CandidateForm(ConsoleForm):
    name = forms.CharField(label=_("候选人/选项名称"), max_length=80)
    photo = forms.ImageField(label=_("照片"), required=False, help_text=_("PNG、JPEG 或 WebP，不超过 2 MB。"))
    text = forms.CharField(
        label=_("介绍"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("先进事迹、简介等，会员投票时可见。"),
    )


class CandidateEditForm(CandidateForm):
    clear_photo = forms.BooleanField(label=_("删除现有照片"), required=False)


def _vote(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    activity = activity_selectors.get_for_cadre(cadre(request), activity_id, perm)
    if activity.kind != "vote":
        raise Http404
    return activity


def _candidate(activity: Activity, candidate_id: int) -> Candidate:
    candidate = Candidate.objects.select_related("activity", "activity__org").filter(pk=candidate_id, activity=activity)
    found = candidate.first()
    if found is None:
        raise Http404
    return found


def manage_links(activity: Activity) -> list[tuple[str, str]]:
    links = [(str(_("候选人设置")), reverse("console:activity_vote_candidates", args=[activity.pk]))]
    links.append((str(_("导出得票统计")), reverse("console:activity_vote_totals", args=[activity.pk])))
    if VoteRules.of(activity).secret:
        links.append((str(_("公开回执名单（会员端）")), reverse("portal:activity_vote_receipts", args=[activity.pk])))
    return links


def results_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    rules = VoteRules.of(activity)
    results = selectors.results(activity, for_organiser=True)
    rows = results["candidates"]
    return {
        **results,
        "rules": rules,
        "mode_label": _("多选") if rules.mode == "multiple" else _("单选"),
        "chart": {"names": [r["name"] for r in rows], "votes": [r["votes"] for r in rows]},
        "refresh": activity.state == ActivityState.OPEN and results["visible"],
        "partial_url": reverse("console:activity_vote_results", args=[activity.pk]),
        "totals_url": reverse("console:activity_vote_totals", args=[activity.pk]),
        "candidates_url": reverse("console:activity_vote_candidates", args=[activity.pk]),
        "candidate_count": Candidate.objects.filter(activity=activity).count(),
    }


@cadre_required
def results_partial(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The results card's body, polled by htmx while the vote runs (cached tallies)."""
    activity = _vote(request, activity_id)
    context = {"activity": activity, "results": results_context(request, activity)}
    if not is_htmx(request):
        return redirect("console:activity_detail", activity.pk)
    return render(request, "console/activities/vote/results.html", context)


@cadre_required
def candidates(request: HttpRequest, activity_id: int) -> HttpResponse:
    """候选人设置: the list in voting order, and a form to add one before the vote opens."""
    activity = _vote(request, activity_id)
    user = cadre(request)
    can_manage = access.can(user, Perm.ACTIVITY_MANAGE, activity.org_path)
    editable = can_manage and activity.state in (ActivityState.DRAFT, ActivityState.PUBLISHED)
    form = CandidateForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not editable:
            raise Http404
        if form.is_valid():
            data = form.cleaned_data
            try:
                candidate = actions.add_candidate(
                    actor=user,
                    activity=activity,
                    values={"name": data["name"], "text": data["text"]},
                    photo=data.get("photo"),
                )
            except DomainError as exc:
                add_domain_error(form, exc, CANDIDATE_ERROR_FIELDS)
            else:
                messages.success(request, _("已添加候选人：%(name)s") % {"name": candidate.name})
                return redirect("console:activity_vote_candidates", activity.pk)
    rules = VoteRules.of(activity)
    context = {
        "activity": activity,
        "candidates": selectors.candidates(activity),
        "form": form,
        "editable": editable,
        "rules": rules,
    }
    return page(
        request,
        "console/activities/vote/candidates.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@cadre_required
def candidate_edit(request: HttpRequest, activity_id: int, candidate_id: int) -> HttpResponse:
    activity = _vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    candidate = _candidate(activity, candidate_id)
    form = CandidateEditForm(
        request.POST or None, request.FILES or None, initial={"name": candidate.name, "text": candidate.text}
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            actions.update_candidate(
                actor=cadre(request),
                candidate=candidate,
                values={"name": data["name"], "text": data["text"]},
                photo=data.get("photo"),
                clear_photo=bool(data.get("clear_photo")),
            )
        except DomainError as exc:
            add_domain_error(form, exc, CANDIDATE_ERROR_FIELDS)
        else:
            messages.success(request, _("已保存候选人。"))
            return redirect("console:activity_vote_candidates", activity.pk)
    context = {"activity": activity, "candidate": candidate, "form": form}
    return page(
        request,
        "console/activities/vote/candidate_edit.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@require_POST
@cadre_required
def candidate_delete(request: HttpRequest, activity_id: int, candidate_id: int) -> HttpResponse:
    activity = _vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    candidate = _candidate(activity, candidate_id)
    return perform(
        request,
        lambda: actions.remove_candidate(actor=cadre(request), candidate=candidate),
        _("已删除候选人：%(name)s") % {"name": candidate.name},
        resolve_url("console:activity_vote_candidates", activity.pk),
    )


@require_POST
@cadre_required
def candidate_move(request: HttpRequest, activity_id: int, candidate_id: int) -> HttpResponse:
    """Move a candidate one place up or down (``direction`` = up / down)."""
    activity = _vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    candidate = _candidate(activity, candidate_id)
    order = [c.pk for c in selectors.candidates(activity)]
    i = order.index(candidate.pk)
    j = i - 1 if request.POST.get("direction") == "up" else i + 1
    if 0 <= j < len(order):
        order[i], order[j] = order[j], order[i]
        try:
            actions.reorder_candidates(actor=cadre(request), activity=activity, ordered_ids=order)
        except DomainError as exc:
            messages.error(request, exc.message)
    return redirect(reverse("console:activity_vote_candidates", args=[activity.pk]) + f"#candidate-{candidate.pk}")


@cadre_required
def totals_csv(request: HttpRequest, activity_id: int) -> HttpResponse:
    """得票统计 as CSV (candidate, votes, share, rank); audited like every export."""
    activity = _vote(request, activity_id, Perm.ACTIVITY_MANAGE)
    results = selectors.results(activity, for_organiser=True)
    if not results["visible"]:
        messages.error(request, _("无记名投票的结果在投票结束、选票混合后才能导出。"))
        return redirect("console:activity_detail", activity.pk)
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 CSV with a BOM as Chinese, not mojibake
    writer = csv.writer(buffer)
    writer.writerow(["名次", "候选人/选项", "得票数", "得票率(%)"])
    for row in results["candidates"]:
        writer.writerow([row["rank"], row["name"], row["votes"], row["share"]])
    writer.writerow([])
    writer.writerow(["选票数", results["ballots"]])
    writer.writerow(["参与人数", results["participants"]])
    with transaction.atomic():
        audit.record(
            "activity_vote.export",
            actor=cadre(request),
            obj=activity,
            org=activity.org,
            details={"what": "totals", "final": results["final"]},
        )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="vote-{activity.pk}-totals-{stamp}.csv"'
    return response


urlpatterns = [
    path("activities/<int:activity_id>/vote/candidates/", candidates, name="activity_vote_candidates"),
    path(
        "activities/<int:activity_id>/vote/candidates/<int:candidate_id>/edit/",
        candidate_edit,
        name="activity_vote_candidate_edit",
    ),
    path(
        "activities/<int:activity_id>/vote/candidates/<int:candidate_id>/delete/",
        candidate_delete,
        name="activity_vote_candidate_delete",
    ),
    path(
        "activities/<int:activity_id>/vote/candidates/<int:candidate_id>/move/",
        candidate_move,
        name="activity_vote_candidate_move",
    ),
    path("activities/<int:activity_id>/vote/results/", results_partial, name="activity_vote_results"),
    path("activities/<int:activity_id>/vote/totals.csv", totals_csv, name="activity_vote_totals"),
]
