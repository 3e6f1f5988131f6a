"""Every change a quiz sees: the union's question bank, a member's attempts (start, submit),
and closing attempts whose time ran out.

Time: an attempt's deadline is its start plus the time limit (never later than the end of
the activity). The portal submits by itself when the countdown reaches zero; a submission
that reaches the server more than ``GRACE`` after the deadline is refused — its answers
are discarded and the attempt is recorded as handed in at the deadline with every
question wrong (``timed_out``), exactly like an attempt that was never handed in.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from gonghui.activities import eligibility
from gonghui.activities.actions import record_participation
from gonghui.activities.kinds.quiz.kind import QuizRules, split_tags
from gonghui.activities.kinds.quiz.models import TRUE_FALSE_OPTIONS, Attempt, QuizQuestion, QuizQuestionKind
from gonghui.activities.models import Activity, ActivityState, Participation
from gonghui.core import audit
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.members.models import Member
from gonghui.orgs.models import Org

GRACE = timedelta(seconds=10)
MAX_OPTIONS = 8
_random = random.SystemRandom()


class QuizClosed(DomainError):
    """The answers came too late: the attempt was closed at its deadline instead."""

    code = "QUIZ_TIME_UP"
    status = 409


# --- the question bank ------------------------------------------------------------------


def _clean_question(values: dict[str, Any], *, current: QuizQuestion | None = None) -> dict[str, Any]:
    def pick(key: str, default: Any) -> Any:
        return values[key] if key in values else (getattr(current, key) if current else default)

    kind = str(pick("kind", ""))
    if kind not in QuizQuestionKind.values:
        raise InvalidValue("QUIZ_QUESTION_KIND", "请选择题型。", field="kind")
    text = str(pick("text", "") or "").strip()
    if not text:
        raise InvalidValue("QUIZ_QUESTION_TEXT", "请填写题目。", field="text")
    if len(text) > 500:
        raise InvalidValue("QUIZ_QUESTION_TEXT", "题目不能超过 500 个字。", field="text")
    if kind == QuizQuestionKind.TRUE_FALSE:
        options = list(TRUE_FALSE_OPTIONS)
    else:
        raw = pick("options", [])
        if isinstance(raw, str):
            raw = raw.splitlines()
        options = [str(o).strip() for o in raw if str(o).strip()]
        if len(options) < 2:
            raise InvalidValue("QUIZ_OPTIONS_TOO_FEW", "至少需要两个选项。", field="options")
        if len(options) > MAX_OPTIONS:
            raise InvalidValue("QUIZ_OPTIONS_TOO_MANY", f"选项不能超过 {MAX_OPTIONS} 个。", field="options")
        if len(set(options)) != len(options):
            raise InvalidValue("QUIZ_OPTION_DUPLICATE", "选项不能重复。", field="options")
        if any(len(o) > 200 for o in options):
            raise InvalidValue("QUIZ_OPTION_TOO_LONG", "选项不能超过 200 个字。", field="options")
    correct = _clean_correct(pick("correct", []), options)
    if kind in (QuizQuestionKind.SINGLE, QuizQuestionKind.TRUE_FALSE) and len(correct) != 1:
        raise InvalidValue("QUIZ_CORRECT_ONE", "单选题和判断题只能有一个正确答案。", field="correct")
    if not correct:
        raise InvalidValue("QUIZ_CORRECT_REQUIRED", "请指定正确答案。", field="correct")
    return {
        "kind": kind,
        "text": text,
        "options": options,
        "correct": correct,
        "explanation": str(pick("explanation", "") or "").strip()[:2000],
        "tags": split_tags(pick("tags", [])),
    }


def _clean_correct(raw: Any, options: list[str]) -> list[int]:
    """Correct answers as option indexes; accepts indexes, letters (A, BD) or option labels."""
    if isinstance(raw, str):
        text = raw.strip().upper().replace(",", "").replace("，", "").replace(" ", "").replace("、", "")
        if text in ("对", "√", "正确", "TRUE", "T"):
            raw = [0]
        elif text in ("错", "×", "错误", "FALSE", "F"):
            raw = [1]
        else:
            raw = list(text)
    if isinstance(raw, int):
        raw = [raw]
    indexes: set[int] = set()
    for item in raw or []:
        if isinstance(item, int) and 0 <= item < len(options):
            indexes.add(item)
        elif isinstance(item, str) and len(item) == 1 and "A" <= item.upper() <= "Z":
            index = ord(item.upper()) - ord("A")
            if index >= len(options):
                raise InvalidValue("QUIZ_CORRECT_INVALID", f"正确答案 {item} 超出了选项范围。", field="correct")
            indexes.add(index)
        elif isinstance(item, str) and item in options:
            indexes.add(options.index(item))
        else:
            raise InvalidValue("QUIZ_CORRECT_INVALID", "正确答案无效。", field="correct")
    return sorted(indexes)


def _check_not_in_use(org: Org) -> None:
    """Changing a question under a running quiz of this union would change its scoring."""
    running = Activity.objects.filter(org=org, kind="quiz", status="published")
    if any(a.state == ActivityState.OPEN for a in running):
        raise Conflict("QUIZ_BANK_IN_USE", "本工会有正在进行的答题活动，题库中的题目暂不能修改（可以新增或停用）。")


@transaction.atomic
def add_bank_question(*, actor: Any, org: Org, values: dict[str, Any]) -> QuizQuestion:
    clean = _clean_question(values)
    question = QuizQuestion.objects.create(
        org=org, org_path=org.path, created_by=actor if getattr(actor, "pk", None) else None, **clean
    )
    audit.record("activity_quiz.question_add", actor=actor, obj=question, org=org, details={"kind": question.kind})
    return question


@transaction.atomic
def update_bank_question(*, actor: Any, question: QuizQuestion, values: dict[str, Any]) -> QuizQuestion:
    locked = QuizQuestion.objects.select_for_update().select_related("org").get(pk=question.pk)
    clean = _clean_question(values, current=locked)
    changed = [k for k, v in clean.items() if getattr(locked, k) != v]
    if not changed:
        return locked
    if set(changed) - {"tags", "explanation"}:
        _check_not_in_use(locked.org)
    for key in changed:
        setattr(locked, key, clean[key])
    locked.save(update_fields=[*changed, "updated_at"])
    audit.record("activity_quiz.question_update", actor=actor, obj=locked, org=locked.org, details={"fields": changed})
    return locked


@transaction.atomic
def set_bank_question_active(*, actor: Any, question: QuizQuestion, active: bool) -> QuizQuestion:
    """Stop (or resume) drawing a question. Attempts that already drew it keep it."""
    locked = QuizQuestion.objects.select_for_update().select_related("org").get(pk=question.pk)
    if locked.is_active != active:
        locked.is_active = active
        locked.save(update_fields=["is_active", "updated_at"])
        action = "activity_quiz.question_enable" if active else "activity_quiz.question_disable"
        audit.record(action, actor=actor, obj=locked, org=locked.org)
    return locked


IMPORT_HEADERS = ["题型", "题目", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "正确答案", "解析", "标签"]
KIND_NAMES = {"单选": QuizQuestionKind.SINGLE, "多选": QuizQuestionKind.MULTIPLE, "判断": QuizQuestionKind.TRUE_FALSE}


def import_bank_rows(*, actor: Any, org: Org, rows: Iterable[tuple[int, list[Any]]]) -> tuple[int, list[str]]:
    """Add questions from sheet rows (header row already read). All or nothing: any bad
    row is reported by its row number and nothing is added."""
    from gonghui.core.sheets import cell_text

    cleaned: list[dict[str, Any]] = []
    errors: list[str] = []
    for number, row in rows:
        cells = [cell_text(c) for c in row] + [""] * len(IMPORT_HEADERS)
        if not any(cells[: len(IMPORT_HEADERS)]):
            continue
        kind = KIND_NAMES.get(cells[0].strip())
        if kind is None:
            errors.append(f"第 {number} 行：题型应为 单选、多选 或 判断。")
            continue
        try:
            cleaned.append(
                _clean_question(
                    {
                        "kind": kind,
                        "text": cells[1],
                        "options": cells[2:8],
                        "correct": cells[8],
                        "explanation": cells[9],
                        "tags": cells[10],
                    }
                )
            )
        except InvalidValue as exc:
            errors.append(f"第 {number} 行：{exc.message}")
    if errors:
        return 0, errors
    with transaction.atomic():
        QuizQuestion.objects.bulk_create(
            [
                QuizQuestion(org=org, org_path=org.path, created_by=actor if getattr(actor, "pk", None) else None, **c)
                for c in cleaned
            ]
        )
        audit.record("activity_quiz.bank_import", actor=actor, obj=org, org=org, details={"questions": len(cleaned)})
    return len(cleaned), []


# --- attempts ---------------------------------------------------------------------------------


def pool_ids(activity: Activity) -> list[int]:
    """Ids of the active bank questions this quiz may draw (the organiser's bank, by tags)."""
    rules = QuizRules.of(activity)
    rows = QuizQuestion.objects.filter(org_id=activity.org_id, is_active=True).values_list("pk", "tags")
    wanted = set(rules.tags)
    return sorted(pk for pk, tags in rows if not wanted or wanted & set(tags or []))


def _close_overdue(qs: Any, now: Any) -> int:
    """Hand in, at their deadline and with no answers, attempts whose time (and grace) ran out."""
    closed = 0
    real_now = timezone.now()
    for attempt in qs.filter(submitted_at__isnull=True, deadline__lt=now - GRACE).select_for_update():
        # At an early close the deadline may still lie ahead: hand in at the close.
        _score(attempt, {}, submitted_at=min(attempt.deadline, real_now), timed_out=True)
        closed += 1
    return closed


def close_overdue_attempts(activity: Activity, *, force: bool = False) -> int:
    """At close (``force``): every attempt still open is handed in at its deadline."""
    now = timezone.now() + (timedelta(days=3650) if force else timedelta(0))
    with transaction.atomic():
        return _close_overdue(Attempt.objects.filter(activity=activity), now)


def start_attempt(*, activity: Activity, member: Member | None) -> Attempt:
    """The member's attempt in progress, or a new one with freshly drawn questions.

    Starts by one member serialise on their participation row (locked for the rest of the
    transaction), so the count of attempts read under it is the truth; the unique
    (activity, member, number) constraint is the last line behind it.
    """
    member = eligibility.require(activity, member)
    rules = QuizRules.of(activity)
    try:
        with transaction.atomic():
            record_participation(activity, member)  # the first attempt; later ones find it
            Participation.objects.select_for_update().get(activity=activity, member=member)
            now = timezone.now()
            mine = Attempt.objects.filter(activity=activity, member=member)
            _close_overdue(mine, now)
            current = mine.filter(submitted_at__isnull=True).order_by("-number").first()
            if current is not None:
                return current
            used = mine.count()
            if used >= rules.max_attempts:
                raise Conflict("QUIZ_NO_ATTEMPTS_LEFT", f"您的 {rules.max_attempts} 次答题机会已用完。")
            pool = pool_ids(activity)
            if len(pool) < rules.question_count:
                raise Conflict("QUIZ_BANK_TOO_SMALL", "题库题目不足，请联系主办方。")
            deadline = activity.ends_at
            if rules.time_limit_seconds:
                deadline = min(deadline, now + timedelta(seconds=rules.time_limit_seconds))
            return Attempt.objects.create(
                activity=activity,
                member=member,
                number=used + 1,
                question_ids=_random.sample(pool, rules.question_count),
                started_at=now,
                deadline=deadline,
            )
    except IntegrityError:
        raise Conflict("QUIZ_ATTEMPT_BUSY", "答题正在开始，请刷新页面。") from None


def _normalise(raw: Any, question: QuizQuestion) -> list[int]:
    values = raw if isinstance(raw, list | tuple) else [raw]
    chosen: set[int] = set()
    for value in values:
        if value is None or value == "":
            continue
        try:
            index = int(value)
        except (TypeError, ValueError):
            continue
        if 0 <= index < len(question.options):
            chosen.add(index)
    if question.kind != QuizQuestionKind.MULTIPLE and len(chosen) > 1:
        return []  # two ticks on a single choice: not an answer
    return sorted(chosen)


def _score(attempt: Attempt, raw: dict[Any, Any], *, submitted_at: Any, timed_out: bool = False) -> Attempt:
    """Score ``raw`` (question id → option indexes) and hand the attempt in."""
    questions = QuizQuestion.objects.in_bulk(attempt.question_ids)
    given = {str(k): v for k, v in raw.items()}
    answers: dict[str, list[int]] = {}
    correct = 0
    for qid in attempt.question_ids:
        question = questions.get(qid)
        if question is None:
            continue
        chosen = _normalise(given.get(str(qid)), question)
        if chosen:
            answers[str(qid)] = chosen
        if chosen and chosen == sorted(question.correct):
            correct += 1
    total = len(attempt.question_ids) or 1
    rules = QuizRules.of(attempt.activity)
    attempt.answers = answers
    attempt.correct_count = correct
    attempt.score = round(100 * correct / total)
    attempt.passed = attempt.score >= rules.pass_score
    attempt.submitted_at = submitted_at
    attempt.duration_ms = max(0, int((min(submitted_at, attempt.deadline) - attempt.started_at).total_seconds() * 1000))
    attempt.timed_out = timed_out
    attempt.save(
        update_fields=["answers", "correct_count", "score", "passed", "submitted_at", "duration_ms", "timed_out"]
    )
    return attempt


def submit_attempt(*, attempt: Attempt, member: Member | None, answers: dict[Any, Any]) -> Attempt:
    """Score the member's answers on the server. Too late (beyond deadline + grace): the
    answers are discarded, the attempt is closed at its deadline, ``QuizClosed`` is raised."""
    if member is None or attempt.member_id != member.pk:
        raise Conflict("QUIZ_NOT_YOURS", "这不是您的答题记录。")
    with transaction.atomic():
        locked = Attempt.objects.select_for_update().select_related("activity").get(pk=attempt.pk)
        if locked.submitted_at is not None:
            raise Conflict("QUIZ_ALREADY_SUBMITTED", "这次答题已经交卷。")
        now = timezone.now()
        if now > locked.deadline + GRACE:
            _score(locked, {}, submitted_at=locked.deadline, timed_out=True)
            late = True
        else:
            _score(locked, answers, submitted_at=min(now, locked.deadline))
            late = False
    if late:
        raise QuizClosed(message="答题时间已到，超时提交的答案不计分；本次答题按截止时未作答计。")
    return locked


def close_if_overdue(attempt: Attempt) -> Attempt:
    """An attempt whose time and grace ran out, handed in at its deadline (as unanswered)."""
    if attempt.submitted_at is not None or timezone.now() <= attempt.deadline + GRACE:
        return attempt
    with transaction.atomic():
        _close_overdue(Attempt.objects.filter(pk=attempt.pk), timezone.now())
    attempt.refresh_from_db()
    return attempt
