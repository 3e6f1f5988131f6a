"""答题 in the console: each union's question bank (add, edit, stop, import from xlsx) and
the results card of a quiz (score distribution, hardest questions, leaderboard).

The bank belongs to a union, not to one quiz, so its pages are addressed by the union
(``activities/quiz/bank/<org_id>/…``) and scoped like every org page: another subtree's
bank is the console's 404. A quiz's page links to its organiser's bank.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import NamedTemporaryFile
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gonghui.activities.kinds.quiz import actions, selectors
from gonghui.activities.kinds.quiz.models import QuizQuestion, QuizQuestionKind
from gonghui.activities.models import Activity
from gonghui.console.forms import ConsoleForm
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.orgs.models import Org

PER_PAGE = 50
IMPORT_MAX_BYTES = 5 * 1024 * 1024


class BankQuestionForm(ConsoleForm):
    kind = forms.ChoiceField(label=_("题型"), choices=QuizQuestionKind.choices)
    text = forms.CharField(label=_("题目"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    options = forms.CharField(
        label=_("选项"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("每行一个，依次为 A、B、C…；判断题不用填。"),
    )
    correct = forms.CharField(
        label=_("正确答案"), max_length=20, help_text=_("填字母，如 B 或 ACD；判断题填“对”或“错”。")
    )
    explanation = forms.CharField(
        label=_("解析"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    tags = forms.CharField(
        label=_("标签"), required=False, max_length=200, help_text=_("用顿号分隔，如：劳动法、安全生产")
    )


class ImportForm(ConsoleForm):
    file = forms.FileField(label=_("题库文件（xlsx）"), widget=forms.FileInput(attrs={"accept": ".xlsx"}))


def _org(request: HttpRequest, org_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Org:
    org: Org = access.get_object_or_404(cadre(request), Org.objects.all(), perm, pk=org_id)
    return org


def _bank_question(org: Org, question_id: int) -> QuizQuestion:
    question = QuizQuestion.objects.select_related("org").filter(pk=question_id, org=org).first()
    if question is None:
        raise Http404
    return question


def _show_error(form: forms.Form, exc: DomainError) -> None:
    field = exc.details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


def manage_links(activity: Activity) -> list[tuple[str, str]]:
    return [
        (
            str(_("题库（%(org)s）") % {"org": activity.org.name}),
            reverse("console:activity_quiz_bank", args=[activity.org_id]),
        )
    ]


def results_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    results = selectors.results(activity, for_organiser=True)
    return {
        **results,
        "chart": results["score_bands"],
        "bank_url": reverse("console:activity_quiz_bank", args=[activity.org_id]),
    }


@cadre_required
def bank(request: HttpRequest, org_id: int) -> HttpResponse:
    """题库: the union's questions, newest first, and a form to add one."""
    org = _org(request, org_id)
    user = cadre(request)
    can_manage = access.can(user, Perm.ACTIVITY_MANAGE, org.path)
    form = BankQuestionForm(request.POST or None, initial={"kind": QuizQuestionKind.SINGLE})
    if request.method == "POST":
        if not can_manage:
            raise Http404
        if form.is_valid():
            try:
                question = actions.add_bank_question(actor=user, org=org, values=dict(form.cleaned_data))
            except DomainError as exc:
                _show_error(form, exc)
            else:
                messages.success(request, _("已添加题目：%(t)s") % {"t": question.text[:30]})
                return redirect("console:activity_quiz_bank", org.pk)
    qs = QuizQuestion.objects.filter(org=org).order_by("-is_active", "-pk")
    tag = (request.GET.get("tag") or "").strip()
    rows = [q for q in qs if not tag or tag in (q.tags or [])] if tag else None
    paginator = Paginator(rows if rows is not None else qs, PER_PAGE)
    current = paginator.get_page(request.GET.get("page"))
    items = [
        {
            "q": q,
            "kind_label": QuizQuestionKind(q.kind).label,
            "correct": selectors.letters(q.correct),
            "options": [f"{chr(65 + i)}. {o}" for i, o in enumerate(q.options)],
        }
        for q in current.object_list
    ]
    context = {
        "org": org,
        "items": items,
        "page_obj": current,
        "total": qs.count(),
        "active": qs.filter(is_active=True).count(),
        "tag": tag,
        "form": form,
        "import_form": ImportForm(),
        "can_manage": can_manage,
        "headers": actions.IMPORT_HEADERS,
    }
    return page(
        request, "console/activities/quiz/bank.html", context, section="activities", status=400 if form.errors else 200
    )


@cadre_required
def bank_edit(request: HttpRequest, org_id: int, question_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ACTIVITY_MANAGE)
    question = _bank_question(org, question_id)
    initial = {
        "kind": question.kind,
        "text": question.text,
        "options": "\n".join(question.options),
        "correct": selectors.letters(question.correct),
        "explanation": question.explanation,
        "tags": "、".join(question.tags or []),
    }
    form = BankQuestionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_bank_question(actor=cadre(request), question=question, values=dict(form.cleaned_data))
        except DomainError as exc:
            _show_error(form, exc)
        else:
            messages.success(request, _("已保存题目。"))
            return redirect("console:activity_quiz_bank", org.pk)
    context = {"org": org, "question": question, "form": form}
    return page(
        request,
        "console/activities/quiz/bank_edit.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@require_POST
@cadre_required
def bank_toggle(request: HttpRequest, org_id: int, question_id: int) -> HttpResponse:
    org = _org(request, org_id, Perm.ACTIVITY_MANAGE)
    question = _bank_question(org, question_id)
    active = request.POST.get("active") == "1"
    actions.set_bank_question_active(actor=cadre(request), question=question, active=active)
    messages.success(request, _("已启用题目。") if active else _("已停用题目：以后不再抽到它。"))
    return redirect("console:activity_quiz_bank", org.pk)


@require_POST
@cadre_required
def bank_import(request: HttpRequest, org_id: int) -> HttpResponse:
    """Questions from an xlsx sheet (the headers shown on the bank page); all or nothing."""
    from gonghui.core.sheets import SheetError, read_xlsx

    org = _org(request, org_id, Perm.ACTIVITY_MANAGE)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("请选择 xlsx 文件。"))
        return redirect("console:activity_quiz_bank", org.pk)
    upload = form.cleaned_data["file"]
    if upload.size > IMPORT_MAX_BYTES:
        messages.error(request, _("文件不能超过 5 MB。"))
        return redirect("console:activity_quiz_bank", org.pk)
    with NamedTemporaryFile(suffix=".xlsx") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        try:
            sheet = read_xlsx(Path(handle.name), "QUIZ_IMPORT")
        except (SheetError, DomainError) as exc:
            messages.error(request, getattr(exc, "message", str(exc)))
            return redirect("console:activity_quiz_bank", org.pk)
    added, errors = actions.import_bank_rows(actor=cadre(request), org=org, rows=_rows(sheet))
    if errors:
        shown = "；".join(errors[:5]) + ("…" if len(errors) > 5 else "")
        messages.error(request, _("没有导入任何题目，请修改后重新上传：%(e)s") % {"e": shown})
    else:
        messages.success(request, _("已导入 %(n)s 道题目。") % {"n": added})
    return redirect("console:activity_quiz_bank", org.pk)


def _rows(sheet: Any) -> list[tuple[int, list[Any]]]:
    """The data rows: the header row (starting 题型) is skipped."""
    rows = [(number, list(cells)) for number, cells in sheet.rows]
    if rows and rows[0][1] and str(rows[0][1][0]).strip() == "题型":
        rows = rows[1:]
    return rows


urlpatterns = [
    path("activities/quiz/bank/<int:org_id>/", bank, name="activity_quiz_bank"),
    path("activities/quiz/bank/<int:org_id>/import/", bank_import, name="activity_quiz_bank_import"),
    path("activities/quiz/bank/<int:org_id>/<int:question_id>/edit/", bank_edit, name="activity_quiz_bank_edit"),
    path("activities/quiz/bank/<int:org_id>/<int:question_id>/toggle/", bank_toggle, name="activity_quiz_bank_toggle"),
]
