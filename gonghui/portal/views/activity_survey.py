"""问卷 on the member's phone: the one-page form inside the activity page, its submission,
and (when the organiser publishes them) the results after the survey closes.

The form shows and hides branched questions with a few lines of script that mirror
``activities.kinds.survey.answers.walk``; the server checks everything again. A refused
submission re-renders the activity page with each message next to its question.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.activities import selectors
from gonghui.activities.kinds.survey import actions
from gonghui.activities.kinds.survey.kind import KIND
from gonghui.activities.kinds.survey.models import GOTO_END, Question, QuestionKind
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.portal.views.common import member_of

_ERRORS = "_survey_errors"
_VALUES = "_survey_values"


def _raw_answers(request: HttpRequest, questions: list[Question]) -> dict[int, Any]:
    raw: dict[int, Any] = {}
    for q in questions:
        name = f"q_{q.pk}"
        raw[q.pk] = request.POST.getlist(name) if q.kind == QuestionKind.MULTIPLE else request.POST.get(name, "")
    return raw


def _question_items(questions: list[Question], values: dict[int, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    items = []
    for q in questions:
        value = values.get(q.pk)
        chosen = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
        options = [
            {
                "label": o["label"],
                "goto": "" if o.get("goto") is None else str(o["goto"]),
                "checked": o["label"] in chosen,
            }
            for o in q.options
        ]
        scale: list[dict[str, Any]] = []
        if q.kind == QuestionKind.RATING:
            low, high = q.scale()
            scale = [{"n": n, "checked": str(n) in [str(c) for c in chosen]} for n in range(low, high + 1)]
        items.append(
            {
                "q": q,
                "options": options,
                "scale": scale,
                "value": "" if isinstance(value, list) or value is None else value,
                "error": errors.get(str(q.pk), ""),
            }
        )
    return items


def panel_context(request: HttpRequest, activity: Activity, member: Member | None) -> dict[str, Any]:
    questions = actions.questions_of(activity)
    errors: dict[str, str] = getattr(request, _ERRORS, {})
    values: dict[int, Any] = getattr(request, _VALUES, {})
    results: dict[str, Any] = {}
    if activity.state in (ActivityState.CLOSED, ActivityState.ARCHIVED):
        results = KIND.results(activity, for_organiser=False)
        for q in results.get("questions", []):
            top = max(q.get("counts") or [0]) or 1
            q["bars"] = [
                {"label": label, "count": count, "width": round(100 * count / top)}
                for label, count in zip(q.get("labels", []), q.get("counts", []), strict=True)
            ]
    return {
        "questions": _question_items(questions, values, errors),
        "errors": errors,
        "anonymous": actions.is_anonymous(activity),
        "results": results,
        "goto_end": GOTO_END,
    }


@require_POST
@login_required
def submit(request: HttpRequest, activity_id: int) -> HttpResponse:
    member = member_of(request)
    activity = selectors.get_public(activity_id)
    if activity is None or activity.kind != "survey":
        raise Http404
    questions = actions.questions_of(activity)
    raw = _raw_answers(request, questions)
    try:
        actions.submit_response(activity=activity, member=member, answers_raw=raw)
    except actions.AnswersInvalid as exc:
        setattr(request, _ERRORS, exc.details.get("errors", {}))
        setattr(request, _VALUES, raw)
        messages.error(request, _("提交未成功：请按提示修改标红的题目。"))
        return _detail_again(request, activity_id)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("portal:activity_detail", activity_id)
    messages.success(request, _("问卷已提交，感谢参与！"))
    return redirect("portal:activity_detail", activity_id)


def _detail_again(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The generic activity page with this panel's errors (the kind convention's page)."""
    from gonghui.portal.views.activities import activity_detail

    response = activity_detail(request, activity_id)
    response.status_code = 400
    return response


urlpatterns = [
    path("a/<int:activity_id>/survey/submit/", submit, name="activity_survey_submit"),
]
