"""问卷 in the console: the questions (added, edited, reordered and deleted before the
survey opens, jumps set per option) and the results card with its charts.

Every view reads the activity through ``selectors.get_for_cadre`` (another subtree's survey
is the console's 404) and writes through ``activities.kinds.survey.actions``. The answers
export is the generic activity export (``SurveyKind.export``: masked names and union, or
no names at all for an anonymous survey).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.survey import actions
from gonghui.activities.kinds.survey.kind import KIND
from gonghui.activities.kinds.survey.models import CHOICE_KINDS, GOTO_END, Question, QuestionKind
from gonghui.activities.models import Activity, ActivityState
from gonghui.console.forms import ConsoleForm
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError


class QuestionForm(ConsoleForm):
    kind = forms.ChoiceField(label=_("题型"), choices=QuestionKind.choices)
    title = forms.CharField(label=_("题目"), max_length=300)
    help_text = forms.CharField(label=_("说明"), max_length=300, required=False)
    required = forms.BooleanField(label=_("必答"), required=False, initial=True)
    options = forms.CharField(
        label=_("选项"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("单选、多选题填写：每行一个选项。"),
    )
    min_value = forms.IntegerField(
        label=_("最小值"), required=False, help_text=_("数字题的下限、评分的最低分（默认 1）、多选题最少选几项。")
    )
    max_value = forms.IntegerField(
        label=_("最大值"), required=False, help_text=_("数字题的上限、评分的最高分（默认 5）、多选题最多选几项。")
    )


def _survey(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    activity = activity_selectors.get_for_cadre(cadre(request), activity_id, perm)
    if activity.kind != "survey":
        raise Http404
    return activity


def _question(activity: Activity, question_id: int) -> Question:
    found = Question.objects.select_related("activity", "activity__org").filter(pk=question_id, activity=activity)
    question = found.first()
    if question is None:
        raise Http404
    return question


def _editable(request: HttpRequest, activity: Activity) -> bool:
    can_manage = access.can(cadre(request), Perm.ACTIVITY_MANAGE, activity.org_path)
    return can_manage and activity.state in (ActivityState.DRAFT, ActivityState.PUBLISHED)


def _values(form: QuestionForm, request: HttpRequest, current: Question | None = None) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    lines = [line.strip() for line in (data.pop("options") or "").splitlines() if line.strip()]
    gotos = {o["label"]: o.get("goto") for o in current.options} if current else {}
    options = []
    for i, label in enumerate(lines):
        # The jump chosen on the edit page for the option in this position; otherwise
        # the jump the option with this label had before.
        goto: Any = request.POST.get(f"goto_{i}", gotos.get(label))
        options.append({"label": label, "goto": goto or None})
    data["options"] = options
    return data


def _show_error(form: QuestionForm, exc: DomainError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def manage_links(activity: Activity) -> list[tuple[str, str]]:
    return [(str(_("题目设置")), reverse("console:activity_survey_questions", args=[activity.pk]))]


def results_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    results = KIND.results(activity, for_organiser=True)
    for q in results["questions"]:
        q["rows"] = list(zip(q.get("labels", []), q.get("counts", []), strict=True))
    charts = [
        {"id": q["id"], "chart": q["chart"], "labels": q.get("labels", []), "counts": q.get("counts", [])}
        for q in results["questions"]
        if q["chart"] != "list"
    ]
    return {
        **results,
        "charts": charts,
        "questions_url": reverse("console:activity_survey_questions", args=[activity.pk]),
    }


def _question_rows(questions: list[Question]) -> list[dict[str, Any]]:
    number = {q.pk: q.order for q in questions}
    rows = []
    for q in questions:
        options = []
        for o in q.options:
            goto = o.get("goto")
            jump = ""
            if goto == GOTO_END:
                jump = str(_("结束问卷"))
            elif goto in number:
                jump = str(_("跳到第 %(n)s 题") % {"n": number[goto]})
            options.append({"label": o["label"], "jump": jump})
        rows.append({"q": q, "options": options, "kind_label": QuestionKind(q.kind).label})
    return rows


@cadre_required
def questions(request: HttpRequest, activity_id: int) -> HttpResponse:
    """题目设置: the questions in order and a form to add one (until the survey opens)."""
    activity = _survey(request, activity_id)
    editable = _editable(request, activity)
    form = QuestionForm(request.POST or None, initial={"kind": QuestionKind.SINGLE, "required": True})
    if request.method == "POST":
        if not editable:
            raise Http404
        if form.is_valid():
            try:
                question = actions.add_question(actor=cadre(request), activity=activity, values=_values(form, request))
            except DomainError as exc:
                _show_error(form, exc)
            else:
                messages.success(request, _("已添加第 %(n)s 题。") % {"n": question.order})
                return redirect(reverse("console:activity_survey_questions", args=[activity.pk]) + f"#q-{question.pk}")
    context = {
        "activity": activity,
        "rows": _question_rows(actions.questions_of(activity)),
        "form": form,
        "editable": editable,
    }
    return page(
        request,
        "console/activities/survey/questions.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@cadre_required
def question_edit(request: HttpRequest, activity_id: int, question_id: int) -> HttpResponse:
    activity = _survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    question = _question(activity, question_id)
    if not _editable(request, activity):
        messages.error(request, _("问卷已开始，题目不能再修改。"))
        return redirect("console:activity_survey_questions", activity.pk)
    initial = {
        "kind": question.kind,
        "title": question.title,
        "help_text": question.help_text,
        "required": question.required,
        "options": "\n".join(question.labels),
        "min_value": question.min_value,
        "max_value": question.max_value,
    }
    form = QuestionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_question(actor=cadre(request), question=question, values=_values(form, request, question))
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, _("已保存第 %(n)s 题。") % {"n": question.order})
            return redirect(reverse("console:activity_survey_questions", args=[activity.pk]) + f"#q-{question.pk}")
    later = [q for q in actions.questions_of(activity) if q.order > question.order]
    targets = [("", str(_("按顺序到下一题")))]
    targets += [(str(q.pk), str(_("跳到第 %(n)s 题：%(t)s") % {"n": q.order, "t": q.title[:30]})) for q in later]
    targets.append((GOTO_END, str(_("结束问卷"))))
    jumps = [
        {"index": i, "label": o["label"], "goto": "" if o.get("goto") is None else str(o["goto"])}
        for i, o in enumerate(question.options)
    ]
    context = {
        "activity": activity,
        "question": question,
        "form": form,
        "jumps": jumps if question.kind == QuestionKind.SINGLE else [],
        "targets": targets,
        "choice_kinds": [str(k) for k in CHOICE_KINDS],
    }
    return page(
        request,
        "console/activities/survey/question_edit.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@require_POST
@cadre_required
def question_move(request: HttpRequest, activity_id: int, question_id: int) -> HttpResponse:
    activity = _survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    question = _question(activity, question_id)
    offset = -1 if request.POST.get("direction") == "up" else 1
    try:
        actions.move_question(actor=cadre(request), question=question, offset=offset)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("console:activity_survey_questions", args=[activity.pk]) + f"#q-{question.pk}")


@require_POST
@cadre_required
def question_delete(request: HttpRequest, activity_id: int, question_id: int) -> HttpResponse:
    activity = _survey(request, activity_id, Perm.ACTIVITY_MANAGE)
    question = _question(activity, question_id)
    return perform(
        request,
        lambda: actions.delete_question(actor=cadre(request), question=question),
        _("已删除题目：%(t)s") % {"t": question.title},
        resolve_url("console:activity_survey_questions", activity.pk),
    )


urlpatterns = [
    path("activities/<int:activity_id>/survey/questions/", questions, name="activity_survey_questions"),
    path(
        "activities/<int:activity_id>/survey/questions/<int:question_id>/edit/",
        question_edit,
        name="activity_survey_question_edit",
    ),
    path(
        "activities/<int:activity_id>/survey/questions/<int:question_id>/move/",
        question_move,
        name="activity_survey_question_move",
    ),
    path(
        "activities/<int:activity_id>/survey/questions/<int:question_id>/delete/",
        question_delete,
        name="activity_survey_question_delete",
    ),
]
