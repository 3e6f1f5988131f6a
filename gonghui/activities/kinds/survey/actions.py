"""Every change a survey sees: the organiser's questions, a member's response, and the
rewrite of an anonymous survey's rows at close. (The export is the generic activity export
of ``SurveyKind.export``, audited by ``activities.actions.export_activity``.)"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from gonghui.activities import eligibility
from gonghui.activities.actions import lock, record_participation
from gonghui.activities.kinds.survey import answers
from gonghui.activities.kinds.survey.models import (
    CHOICE_KINDS,
    GOTO_END,
    Answer,
    Question,
    QuestionKind,
    Response,
)
from gonghui.activities.models import Activity, ActivityState
from gonghui.core import audit
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members.models import Member

KIND = "survey"
MAX_QUESTIONS = 100
MAX_OPTIONS = 30
OPTION_MAX = 100


class AnswersInvalid(InvalidValue):
    """A submission failed; ``details["errors"]`` maps question ids to Chinese messages."""

    code = "SURVEY_ANSWERS_INVALID"


def is_anonymous(activity: Activity) -> bool:
    return bool(activity.setting("anonymous", False))


def questions_of(activity: Activity) -> list[Question]:
    return list(Question.objects.filter(activity=activity).order_by("order"))


# --- the organiser's questions ----------------------------------------------------------


def _editable(activity: Activity) -> Activity:
    """The survey, locked, while its questions may still change (before it opens)."""
    locked = lock(activity)
    if locked.kind != KIND:
        raise InvalidValue("SURVEY_WRONG_KIND", "这不是问卷活动。")
    if locked.state not in (ActivityState.DRAFT, ActivityState.PUBLISHED):
        raise Conflict("SURVEY_QUESTIONS_FROZEN", "问卷已开始，题目不能再修改。")
    return locked


def _clean_question(values: dict[str, Any], *, current: Question | None = None) -> dict[str, Any]:
    kind = str(values.get("kind") or (current.kind if current else ""))
    if kind not in QuestionKind.values:
        raise InvalidValue("SURVEY_QUESTION_KIND", "请选择题型。", field="kind")
    title = str(values.get("title", current.title if current else "") or "").strip()
    if not title:
        raise InvalidValue("SURVEY_QUESTION_TITLE", "请填写题目。", field="title")
    if len(title) > 300:
        raise InvalidValue("SURVEY_QUESTION_TITLE", "题目不能超过 300 个字。", field="title")
    clean: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "help_text": str(values.get("help_text", current.help_text if current else "") or "").strip()[:300],
        "required": bool(values.get("required", current.required if current else True)),
        "min_value": _int_or_none(values.get("min_value", current.min_value if current else None), "min_value"),
        "max_value": _int_or_none(values.get("max_value", current.max_value if current else None), "max_value"),
        "options": [],
    }
    if kind in CHOICE_KINDS:
        raw_options = values.get("options", current.options if current else [])
        options = _clean_options(raw_options, single=kind == QuestionKind.SINGLE)
        if len(options) < 2:
            raise InvalidValue("SURVEY_OPTIONS_TOO_FEW", "选择题至少需要两个选项。", field="options")
        clean["options"] = options
    low, high = clean["min_value"], clean["max_value"]
    if kind == QuestionKind.RATING:
        low = 1 if low is None else low
        high = 5 if high is None else high
        if not (0 <= low < high <= 10):
            raise InvalidValue("SURVEY_RATING_SCALE", "评分范围应在 0–10 之间，且最小值小于最大值。", field="max_value")
        clean["min_value"], clean["max_value"] = low, high
    elif kind == QuestionKind.MULTIPLE:
        count = len(clean["options"])
        if (low is not None and not 0 <= low <= count) or (high is not None and not 1 <= high <= count):
            raise InvalidValue("SURVEY_CHOICE_LIMIT", "最少/最多选择项数应在选项数量之内。", field="max_value")
    elif kind != QuestionKind.NUMBER:
        clean["min_value"] = clean["max_value"] = None
    if clean["min_value"] is not None and clean["max_value"] is not None and clean["min_value"] > clean["max_value"]:
        raise InvalidValue("SURVEY_RANGE_ORDER", "最小值不能大于最大值。", field="min_value")
    return clean


def _int_or_none(value: Any, field: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise InvalidValue("SURVEY_NOT_A_NUMBER", "请填写整数。", field=field) from None


def _clean_options(raw: Any, *, single: bool) -> list[dict[str, Any]]:
    """Options from a list of labels, of ``{"label", "goto"}`` dicts, or lines of text."""
    if isinstance(raw, str):
        raw = raw.splitlines()
    options: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw or []:
        label = str(item.get("label", "") if isinstance(item, dict) else item).strip()
        if not label:
            continue
        if len(label) > OPTION_MAX:
            raise InvalidValue(
                "SURVEY_OPTION_TOO_LONG", f"选项不能超过 {OPTION_MAX} 个字：{label[:20]}…", field="options"
            )
        if label in seen:
            raise InvalidValue("SURVEY_OPTION_DUPLICATE", f"选项重复：{label}", field="options")
        seen.add(label)
        goto = item.get("goto") if isinstance(item, dict) and single else None
        if goto not in (None, "", GOTO_END):
            try:
                goto = int(goto)
            except (TypeError, ValueError):
                raise InvalidValue("SURVEY_GOTO_INVALID", "跳转目标无效。", field="options") from None
        options.append({"label": label, "goto": goto or None})
    if len(options) > MAX_OPTIONS:
        raise InvalidValue("SURVEY_OPTIONS_TOO_MANY", f"选项不能超过 {MAX_OPTIONS} 个。", field="options")
    return options


def check_structure(questions: list[Question]) -> None:
    """Every jump goes forward to a question of the same survey (or ends it)."""
    position = {q.pk: i for i, q in enumerate(questions)}
    for i, question in enumerate(questions):
        for option in question.options:
            goto = option.get("goto")
            if goto in (None, GOTO_END):
                continue
            if goto not in position:
                raise InvalidValue(
                    "SURVEY_GOTO_MISSING", f"第 {i + 1} 题的选项「{option['label']}」跳转到的题目已不存在。"
                )
            if position[goto] <= i:
                raise InvalidValue(
                    "SURVEY_GOTO_BACKWARD", f"第 {i + 1} 题的选项「{option['label']}」只能跳转到后面的题目。"
                )


def _renumber(activity: Activity) -> list[Question]:
    """Orders 1..n after a delete or move (through a high range: the order is unique)."""
    questions = questions_of(activity)
    for offset, question in enumerate(questions, start=1):
        Question.objects.filter(pk=question.pk).update(order=10_000 + offset)
    for offset, question in enumerate(questions, start=1):
        Question.objects.filter(pk=question.pk).update(order=offset)
        question.order = offset
    return questions


@transaction.atomic
def add_question(*, actor: Any, activity: Activity, values: dict[str, Any]) -> Question:
    locked = _editable(activity)
    clean = _clean_question(values)
    last = Question.objects.filter(activity=locked).aggregate(n=Max("order"))["n"] or 0
    if Question.objects.filter(activity=locked).count() >= MAX_QUESTIONS:
        raise Conflict("SURVEY_TOO_MANY_QUESTIONS", f"一份问卷最多 {MAX_QUESTIONS} 道题。")
    question = Question.objects.create(activity=locked, order=last + 1, **clean)
    check_structure(questions_of(locked))
    audit.record(
        "activity_survey.question_add", actor=actor, obj=locked, org=locked.org, details={"question": question.pk}
    )
    return question


@transaction.atomic
def update_question(*, actor: Any, question: Question, values: dict[str, Any]) -> Question:
    locked = _editable(question.activity)
    current = Question.objects.get(pk=question.pk, activity=locked)
    clean = _clean_question(values, current=current)
    for key, value in clean.items():
        setattr(current, key, value)
    current.save(update_fields=[*clean])
    check_structure(questions_of(locked))
    audit.record(
        "activity_survey.question_update", actor=actor, obj=locked, org=locked.org, details={"question": current.pk}
    )
    return current


@transaction.atomic
def move_question(*, actor: Any, question: Question, offset: int) -> Question:
    """Move a question up (``-1``) or down (``+1``)."""
    locked = _editable(question.activity)
    questions = questions_of(locked)
    ids = [q.pk for q in questions]
    i = ids.index(question.pk)
    j = max(0, min(len(ids) - 1, i + offset))
    if i != j:
        ids[i], ids[j] = ids[j], ids[i]
        for n, pk in enumerate(ids, start=1):
            Question.objects.filter(pk=pk).update(order=10_000 + n)
        for n, pk in enumerate(ids, start=1):
            Question.objects.filter(pk=pk).update(order=n)
        check_structure(questions_of(locked))
        audit.record(
            "activity_survey.question_move", actor=actor, obj=locked, org=locked.org, details={"question": question.pk}
        )
    return Question.objects.get(pk=question.pk)


@transaction.atomic
def delete_question(*, actor: Any, question: Question) -> None:
    locked = _editable(question.activity)
    Question.objects.filter(pk=question.pk, activity=locked).delete()
    check_structure(_renumber(locked))
    audit.record(
        "activity_survey.question_delete",
        actor=actor,
        obj=locked,
        org=locked.org,
        details={"question": question.pk, "title": question.title[:100]},
    )


# --- a member's response ------------------------------------------------------------------


def submit_response(*, activity: Activity, member: Member | None, answers_raw: dict[Any, Any]) -> Response:
    """Check and store one member's answers. ``AnswersInvalid`` names each bad question.

    Validation runs before the transaction (nothing is locked while the member's errors are
    worked out); the one-response guard is the participation row, written first inside the
    transaction, with the response table's unique constraint as the last line for named
    surveys.
    """
    member = eligibility.require(activity, member)
    questions = questions_of(activity)
    checked = answers.check(questions, answers_raw)
    if not checked.ok:
        first = next(q for q in questions if q.pk in checked.errors) if questions else None
        message = f"第 {first.order} 题：{checked.errors[first.pk]}" if first else "答案有误。"
        raise AnswersInvalid(message=message, errors={str(k): v for k, v in checked.errors.items()})
    anonymous = is_anonymous(activity)
    try:
        with transaction.atomic():
            if not record_participation(activity, member):
                raise Conflict("SURVEY_ALREADY_SUBMITTED", "您已经提交过这份问卷。")
            response = Response.objects.create(
                activity=activity,
                member=None if anonymous else member,
                org_path="" if anonymous else member.org_path,
                submitted_on=timezone.localdate(),
                submitted_at=None if anonymous else timezone.now(),
            )
            Answer.objects.bulk_create(
                [
                    Answer(response=response, question_id=qid, value=checked.values[qid])
                    for qid in checked.path
                    if qid in checked.values
                ]
            )
    except IntegrityError:
        raise Conflict("SURVEY_ALREADY_SUBMITTED", "您已经提交过这份问卷。") from None
    return response


def mix_anonymous_responses(activity: Activity, *, chunk: int = 2000) -> int:
    """Rewrite an anonymous survey's rows in the order of their random keys.

    Call inside the close transaction. The new rows sit in the table in an order that has
    nothing to do with when each was submitted, and all carry the same writing transaction
    (PostgreSQL's ``xmin``) and fresh row ids (SQLite's ``rowid``): what a database reader
    could otherwise line up with the participation rows. The old row versions are gone
    once PostgreSQL vacuums the table (see docs/ACTIVITIES.md).
    """
    done = 0
    after = None
    while True:
        qs = Response.objects.filter(activity=activity, mixed=False).order_by("id")
        if after is not None:
            qs = qs.filter(id__gt=after)
        batch = list(qs[:chunk])
        if not batch:
            return done
        ids = [r.pk for r in batch]
        rows = list(Answer.objects.filter(response_id__in=ids).order_by("response_id", "question_id"))
        Answer.objects.filter(response_id__in=ids).delete()
        Response.objects.filter(pk__in=ids).delete()
        for response in batch:
            response.mixed = True
        Response.objects.bulk_create(batch)
        Answer.objects.bulk_create(rows)
        done += len(batch)
        after = ids[-1]
