"""Checking a member's answers against the questions: types, ranges, required, branching.

The same walk decides which questions a member sees (the portal's script mirrors it) and
which ones the server accepts: start at the first question; after a single-choice
question whose chosen option jumps (跳题), continue at the target or stop at "end";
otherwise continue with the next question. Questions on the walk must be answered when
required; questions off the walk (skipped by a branch) must be empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from gonghui.activities.kinds.survey.models import GOTO_END, Question, QuestionKind

TEXT_MAX = 2000


@dataclass
class Checked:
    values: dict[int, Any] = field(default_factory=dict)  # question id → clean value
    errors: dict[int, str] = field(default_factory=dict)  # question id → Chinese message
    path: list[int] = field(default_factory=list)  # question ids on the member's walk

    @property
    def ok(self) -> bool:
        return not self.errors


def _empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return not raw.strip()
    if isinstance(raw, list | tuple):
        return not [r for r in raw if not _empty(r)]
    return False


def _as_list(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [str(r).strip() for r in raw if not _empty(r)]
    return [str(raw).strip()]


def parse(question: Question, raw: Any) -> Any:
    """The clean value of one non-empty answer, or ``ValueError`` with a Chinese message."""
    kind = question.kind
    if kind == QuestionKind.SINGLE:
        if isinstance(raw, list | tuple):
            if len(raw) != 1:
                raise ValueError("此题只能选一项。")
            raw = raw[0]
        label = str(raw).strip()
        if label not in question.labels:
            raise ValueError("请从给出的选项中选择。")
        return label
    if kind == QuestionKind.MULTIPLE:
        labels = _as_list(raw)
        unknown = [label for label in labels if label not in question.labels]
        if unknown:
            raise ValueError("请从给出的选项中选择。")
        chosen = [label for label in question.labels if label in set(labels)]  # the options' order
        low, high = question.min_value, question.max_value
        if low is not None and len(chosen) < low:
            raise ValueError(f"请至少选择 {low} 项。")
        if high is not None and len(chosen) > high:
            raise ValueError(f"最多只能选择 {high} 项。")
        return chosen
    if isinstance(raw, list | tuple):
        raise ValueError("答案格式不正确。")
    if kind == QuestionKind.TEXT:
        text = str(raw).strip()
        if len(text) > TEXT_MAX:
            raise ValueError(f"请不要超过 {TEXT_MAX} 个字。")
        return text
    if kind == QuestionKind.NUMBER:
        try:
            number = Decimal(str(raw).strip().replace("，", "").replace(",", ""))
        except InvalidOperation:
            raise ValueError("请填写数字。") from None
        if not number.is_finite():
            raise ValueError("请填写数字。")
        low, high = question.min_value, question.max_value
        if low is not None and number < low:
            raise ValueError(f"不能小于 {low}。")
        if high is not None and number > high:
            raise ValueError(f"不能大于 {high}。")
        if number == number.to_integral_value():
            return int(number)
        value = float(number)
        if not math.isfinite(value):
            raise ValueError("请填写数字。")
        return round(value, 4)
    if kind == QuestionKind.RATING:
        try:
            score = int(str(raw).strip())
        except ValueError:
            raise ValueError("请选择评分。") from None
        low, high = question.scale()
        if not low <= score <= high:
            raise ValueError(f"评分应在 {low}–{high} 之间。")
        return score
    if kind == QuestionKind.DATE:
        try:
            return date.fromisoformat(str(raw).strip()).isoformat()
        except ValueError:
            raise ValueError("请填写有效的日期（如 2026-05-01）。") from None
    raise ValueError("未知题型。")


def walk(questions: list[Question], values: Mapping[int, Any]) -> list[int]:
    """The ids of the questions a member with these answers is asked, in order."""
    index = {q.pk: i for i, q in enumerate(questions)}
    path: list[int] = []
    i = 0
    while i < len(questions):
        question = questions[i]
        path.append(question.pk)
        goto = jump_of(question, values.get(question.pk))
        if goto == GOTO_END:
            break
        if isinstance(goto, int) and index.get(goto, -1) > i:
            i = index[goto]
            continue
        i += 1
    return path


def jump_of(question: Question, value: Any) -> int | str | None:
    """Where a single-choice answer sends the member (a question id, "end" or nowhere)."""
    if question.kind != QuestionKind.SINGLE or value is None:
        return None
    for option in question.options:
        if option.get("label") == value:
            goto = option.get("goto")
            return goto if goto == GOTO_END or isinstance(goto, int) else None
    return None


def check(questions: Iterable[Question], raw: Mapping[Any, Any]) -> Checked:
    """Parse and check a whole submission (``raw`` keyed by question id, int or str)."""
    ordered = sorted(questions, key=lambda q: q.order)
    given = {int(k): v for k, v in raw.items() if str(k).isdigit()}
    result = Checked()
    for question in ordered:
        value = given.get(question.pk)
        if _empty(value):
            continue
        try:
            result.values[question.pk] = parse(question, value)
        except ValueError as exc:
            result.errors[question.pk] = str(exc)
    result.path = walk(ordered, result.values)
    on_path = set(result.path)
    for question in ordered:
        if question.pk in on_path:
            if question.required and question.pk not in result.values and question.pk not in result.errors:
                result.errors[question.pk] = "此题为必答题。"
        elif question.pk in result.values or question.pk in result.errors:
            result.errors[question.pk] = "根据前面的选择，此题应跳过，请不要作答。"
            result.values.pop(question.pk, None)
    unknown = set(given) - {q.pk for q in ordered}
    if unknown:
        result.errors[min(unknown)] = "问卷中没有这道题。"
    return result
