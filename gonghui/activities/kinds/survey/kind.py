"""问卷 (survey): the kind's registration with the Activity component."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gonghui.activities.registry import ActivityKind
from gonghui.core.errors import Conflict

if TYPE_CHECKING:
    from gonghui.activities.eligibility import Eligibility
    from gonghui.activities.kinds.survey.models import Question
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member

TEXT_SAMPLE = 50
HISTOGRAM_BINS = 10


class SurveySettingsForm(forms.Form):
    anonymous = forms.BooleanField(
        label=_("匿名问卷"),
        required=False,
        help_text=_("答卷不关联会员，只保留提交日期；导出时不含姓名。开始后不能更改。"),
    )
    results_public = forms.BooleanField(
        label=_("结束后向会员公布统计结果"),
        required=False,
        help_text=_("只公布选择题、评分和数字题的统计图，不公布填空内容。"),
    )


class SurveyKind(ActivityKind):
    key = "survey"
    label = _("问卷")
    description = _("问卷调查：多种题型、跳题、匿名选项与图表统计。")
    settings_form = SurveySettingsForm
    once_per_member = True

    def check_publish(self, activity: Activity) -> None:
        from gonghui.activities.kinds.survey.actions import check_structure, questions_of

        questions = questions_of(activity)
        if not questions:
            raise Conflict("SURVEY_NO_QUESTIONS", "问卷还没有题目，请先添加题目。")
        check_structure(questions)

    def on_close(self, activity: Activity) -> None:
        from gonghui.activities.kinds.survey.actions import is_anonymous, mix_anonymous_responses

        if is_anonymous(activity):
            mix_anonymous_responses(activity)

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        from gonghui.activities.eligibility import Eligibility
        from gonghui.activities.models import Participation

        if Participation.objects.filter(activity=activity, member=member).exists():
            return Eligibility(False, "SURVEY_ALREADY_SUBMITTED", "您已提交过这份问卷，感谢参与。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        """Per question: how many answered it and its chart (bars, histogram or texts)."""
        from gonghui.activities.kinds.survey.actions import is_anonymous, questions_of
        from gonghui.activities.kinds.survey.models import Answer, QuestionKind, Response

        if not for_organiser and not activity.setting("results_public", False):
            return {"hidden": True, "questions": []}
        questions = questions_of(activity)
        values: dict[int, list[Any]] = {q.pk: [] for q in questions}
        answers = Answer.objects.filter(response__activity=activity).values_list("question_id", "value")
        for question_id, value in answers.iterator(chunk_size=5000):
            values.setdefault(question_id, []).append(value)
        total = Response.objects.filter(activity=activity).count()
        items = []
        for question in questions:
            given = values[question.pk]
            item: dict[str, Any] = {
                "id": question.pk,
                "order": question.order,
                "title": question.title,
                "kind": question.kind,
                "kind_label": str(QuestionKind(question.kind).label),
                "answered": len(given),
            }
            if question.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
                counts: Counter[str] = Counter()
                for value in given:
                    counts.update(value if isinstance(value, list) else [value])
                item["chart"] = "bar"
                item["labels"] = question.labels
                item["counts"] = [counts.get(label, 0) for label in question.labels]
            elif question.kind == QuestionKind.RATING:
                low, high = question.scale()
                scores = Counter(int(v) for v in given)
                item["chart"] = "histogram"
                item["labels"] = [str(n) for n in range(low, high + 1)]
                item["counts"] = [scores.get(n, 0) for n in range(low, high + 1)]
                item["average"] = round(sum(int(v) for v in given) / len(given), 2) if given else None
            elif question.kind == QuestionKind.NUMBER:
                item.update(_histogram([float(v) for v in given]))
            elif question.kind == QuestionKind.DATE:
                days = Counter(str(v) for v in given)
                item["chart"] = "bar"
                item["labels"] = sorted(days)
                item["counts"] = [days[d] for d in item["labels"]]
            else:
                item["chart"] = "list"
                if for_organiser:
                    # Anonymous: the keys are random, so this sample says nothing about who.
                    item["texts"] = [str(v) for v in given if str(v).strip()][-TEXT_SAMPLE:][::-1]
                else:
                    item["texts"] = []
            items.append(item)
        return {"hidden": False, "responses": total, "anonymous": is_anonymous(activity), "questions": items}

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        from gonghui.activities.kinds.survey.actions import is_anonymous, questions_of

        questions = questions_of(activity)
        anonymous = is_anonymous(activity)
        titles = [f"{q.order}. {q.title}" for q in questions]
        headers = (["答卷编号"] if anonymous else ["姓名", "所在工会", "提交时间"]) + titles
        return headers, _export_rows(activity, questions, anonymous)


def _histogram(numbers: list[float]) -> dict[str, Any]:
    if not numbers:
        return {"chart": "histogram", "labels": [], "counts": [], "average": None}
    low, high = min(numbers), max(numbers)
    average = round(sum(numbers) / len(numbers), 2)
    if low == high:
        return {"chart": "histogram", "labels": [_fmt(low)], "counts": [len(numbers)], "average": average}
    integers = all(n == int(n) for n in numbers)
    bins = min(HISTOGRAM_BINS, int(high - low) + 1) if integers else HISTOGRAM_BINS
    width = (high - low) / bins
    if integers:
        width = max(1.0, float(-(-(high - low + 1) // bins)))
    counts = [0] * bins
    for n in numbers:
        counts[min(bins - 1, int((n - low) // width))] += 1
    labels = []
    for i in range(bins):
        start, end = low + i * width, low + (i + 1) * width
        labels.append(_fmt(start) if integers and width == 1 else f"{_fmt(start)}–{_fmt(end - (1 if integers else 0))}")
    while counts and counts[-1] == 0:  # integer bins may overshoot the top
        counts.pop()
        labels.pop()
    return {"chart": "histogram", "labels": labels, "counts": counts, "average": average}


def _fmt(n: float) -> str:
    return str(int(n)) if n == int(n) else f"{n:.2f}".rstrip("0").rstrip(".")


def _export_rows(activity: Activity, questions: list[Question], anonymous: bool) -> Iterator[list[Any]]:
    from django.utils import timezone

    from gonghui.activities.kinds.survey.models import Answer, Response
    from gonghui.core.pii import mask_name
    from gonghui.orgs.models import Org

    responses = Response.objects.filter(activity=activity).select_related("member")
    # Anonymous: ordered by the random key, i.e. in no order that says when or who.
    responses = responses.order_by("id") if anonymous else responses.order_by("submitted_at", "id")
    names: dict[str, str] = {}
    if not anonymous:
        paths = set(responses.values_list("org_path", flat=True))
        names = dict(Org.objects.filter(path__in=paths).values_list("path", "name"))
    chunk = 1000
    batch: list[Any] = []

    def flush(batch: list[Any]) -> Iterator[list[Any]]:
        by_response: dict[Any, dict[int, Any]] = {}
        for response_id, question_id, value in Answer.objects.filter(response_id__in=[r.pk for r in batch]).values_list(
            "response_id", "question_id", "value"
        ):
            by_response.setdefault(response_id, {})[question_id] = value
        for response in batch:
            got = by_response.get(response.pk, {})
            cells = ["、".join(v) if isinstance(v := got.get(q.pk), list) else v for q in questions]
            if anonymous:
                yield [str(response.pk)[:8], *cells]
            else:
                name = mask_name(response.member.name) if response.member else ""
                at = (
                    timezone.localtime(response.submitted_at).strftime("%Y-%m-%d %H:%M")
                    if response.submitted_at
                    else ""
                )
                yield [name, names.get(response.org_path, ""), at, *cells]

    for response in responses.iterator(chunk_size=chunk):
        batch.append(response)
        if len(batch) >= chunk:
            yield from flush(batch)
            batch = []
    if batch:
        yield from flush(batch)


KIND = SurveyKind()
