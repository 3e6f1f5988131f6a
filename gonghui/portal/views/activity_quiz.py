"""答题 on the member's phone: the panel on the activity page (rules, my attempts, the
leaderboard), the answer sheet with its countdown, and the review after handing in.

The answer sheet is built from ``quiz.selectors.paper`` (text and options only): the
correct answers and explanations reach the page only through ``selectors.review``, which
refuses an attempt that is not yet handed in.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.activities import eligibility
from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.quiz import actions, selectors
from gonghui.activities.kinds.quiz.kind import QuizRules
from gonghui.activities.kinds.quiz.models import Attempt, QuizQuestionKind
from gonghui.activities.models import Activity
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.portal.views.common import member_of, page


def panel_context(request: HttpRequest, activity: Activity, member: Member | None) -> dict[str, Any]:
    rules = QuizRules.of(activity)
    attempts = selectors.attempts_of(activity, member) if member is not None else []
    attempts = [actions.close_if_overdue(a) for a in attempts]
    current = next((a for a in attempts if a.submitted_at is None), None)
    done = [a for a in attempts if a.submitted_at is not None]
    best = max((a.score or 0 for a in done), default=None)
    board = selectors.leaderboard(activity) if rules.leaderboard else []
    mine = None
    if member is not None:
        mine = next((row for row in board if row["member_id"] == member.pk), None)
    return {
        "rules": rules,
        "minutes": _minutes(rules.time_limit_seconds),
        "attempts": attempts,
        "current": current,
        "used": len(attempts),
        "left": max(0, rules.max_attempts - len(attempts)),
        "best": best,
        "leaderboard": board[:10],
        "my_rank": mine,
    }


def _minutes(seconds: int) -> str:
    if not seconds:
        return ""
    return str(seconds // 60) if seconds % 60 == 0 else f"{seconds / 60:.1f}"


def _quiz(request: HttpRequest, activity_id: int) -> tuple[Activity, Member | None]:
    member = member_of(request)
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != "quiz":
        raise Http404
    return activity, member


def _attempt(activity: Activity, member: Member | None, number: int) -> Attempt:
    if member is None:
        raise Http404
    attempt = Attempt.objects.select_related("activity").filter(activity=activity, member=member, number=number).first()
    if attempt is None:
        raise Http404
    return attempt


@require_POST
@login_required
def start(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity, member = _quiz(request, activity_id)
    try:
        attempt = actions.start_attempt(activity=activity, member=member)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("portal:activity_detail", activity.pk)
    return redirect("portal:activity_quiz_attempt", activity.pk, attempt.number)


@never_cache
@login_required
def attempt_page(request: HttpRequest, activity_id: int, number: int) -> HttpResponse:
    """The answer sheet while the attempt runs; the score and review once handed in."""
    activity, member = _quiz(request, activity_id)
    attempt = actions.close_if_overdue(_attempt(activity, member, number))
    rules = QuizRules.of(activity)
    context: dict[str, Any] = {"activity": activity, "attempt": attempt, "rules": rules}
    if attempt.submitted_at is None:
        remaining = max(0, int((attempt.deadline - timezone.now()).total_seconds()))
        context.update(
            {"paper": selectors.paper(attempt), "remaining": remaining, "multiple": QuizQuestionKind.MULTIPLE}
        )
    else:
        review = selectors.review(attempt)
        context.update(
            {
                "review": review,
                "right": sum(1 for item in review if item["right"]),
                "seconds": round((attempt.duration_ms or 0) / 1000),
                "can_retry": bool(eligibility.check(activity, member)),
            }
        )
    return page(request, "portal/activities/quiz/attempt.html", context, tab="activities")


@require_POST
@login_required
def submit(request: HttpRequest, activity_id: int, number: int) -> HttpResponse:
    activity, member = _quiz(request, activity_id)
    attempt = _attempt(activity, member, number)
    answers = {str(qid): request.POST.getlist(f"q_{qid}") for qid in attempt.question_ids}
    try:
        done = actions.submit_attempt(attempt=attempt, member=member, answers=answers)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已交卷：得分 %(score)s 分。") % {"score": done.score})
    return redirect("portal:activity_quiz_attempt", activity.pk, number)


urlpatterns = [
    path("a/<int:activity_id>/quiz/start/", start, name="activity_quiz_start"),
    path("a/<int:activity_id>/quiz/attempts/<int:number>/", attempt_page, name="activity_quiz_attempt"),
    path("a/<int:activity_id>/quiz/attempts/<int:number>/submit/", submit, name="activity_quiz_submit"),
]
