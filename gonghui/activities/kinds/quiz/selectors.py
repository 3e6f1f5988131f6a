"""Reads of the quiz: what a member is shown (never the answers before submitting), the
review after submitting, the leaderboard, the organiser's statistics and export."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Avg, Count, Q
from django.utils import timezone

from gonghui.activities.kinds.quiz.kind import QuizRules
from gonghui.activities.kinds.quiz.models import Attempt, QuizQuestion, QuizQuestionKind
from gonghui.activities.models import Activity
from gonghui.core.pii import mask_name
from gonghui.members.models import Member

LEADERBOARD_SIZE = 20


def letters(indexes: Iterable[int]) -> str:
    return "".join(chr(ord("A") + i) for i in sorted(indexes))


def paper(attempt: Attempt) -> list[dict[str, Any]]:
    """The questions of an attempt as shown while answering: text and options only."""
    questions = QuizQuestion.objects.in_bulk(attempt.question_ids)
    items = []
    for n, qid in enumerate(attempt.question_ids, start=1):
        q = questions.get(qid)
        if q is None:
            continue
        items.append(
            {
                "id": q.pk,
                "number": n,
                "kind": q.kind,
                "kind_label": str(QuizQuestionKind(q.kind).label),
                "text": q.text,
                "options": [{"index": i, "letter": chr(65 + i), "label": o} for i, o in enumerate(q.options)],
            }
        )
    return items


def review(attempt: Attempt) -> list[dict[str, Any]]:
    """After submitting: each question with the member's answer, the correct one and why."""
    if attempt.submitted_at is None:
        raise ValueError("an attempt is reviewed only after it is submitted")
    questions = QuizQuestion.objects.in_bulk(attempt.question_ids)
    items = []
    for n, qid in enumerate(attempt.question_ids, start=1):
        q = questions.get(qid)
        if q is None:
            continue
        chosen = attempt.answers.get(str(qid), [])
        correct = sorted(q.correct)
        items.append(
            {
                "id": q.pk,
                "number": n,
                "kind_label": str(QuizQuestionKind(q.kind).label),
                "text": q.text,
                "options": [
                    {
                        "index": i,
                        "letter": chr(65 + i),
                        "label": o,
                        "chosen": i in chosen,
                        "correct": i in correct,
                    }
                    for i, o in enumerate(q.options)
                ],
                "chosen": letters(chosen),
                "correct": letters(correct),
                "right": bool(chosen) and chosen == correct,
                "explanation": q.explanation,
            }
        )
    return items


def attempts_of(activity: Activity, member: Member) -> list[Attempt]:
    return list(Attempt.objects.filter(activity=activity, member=member).order_by("number"))


def leaderboard(activity: Activity, *, limit: int = LEADERBOARD_SIZE) -> list[dict[str, Any]]:
    """Each member's best attempt (highest score, then shortest time), best first, with
    masked names. Reads down the ranking index until ``limit`` members are found."""
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    ranked = (
        Attempt.objects.filter(activity=activity, submitted_at__isnull=False)
        .select_related("member", "member__org")
        .order_by("-score", "duration_ms", "submitted_at", "pk")
    )
    for attempt in ranked.iterator(chunk_size=200):
        if attempt.member_id in seen:
            continue
        seen.add(attempt.member_id)
        rows.append(
            {
                "rank": len(rows) + 1,
                "name": mask_name(attempt.member.name),
                "org": attempt.member.org.name,
                "score": attempt.score,
                "seconds": round((attempt.duration_ms or 0) / 1000, 1),
                "member_id": attempt.member_id,
            }
        )
        if len(rows) >= limit:
            break
    return rows


def results(activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
    rules = QuizRules.of(activity)
    done = Attempt.objects.filter(activity=activity, submitted_at__isnull=False)
    totals = done.aggregate(
        attempts=Count("id"),
        members=Count("member", distinct=True),
        passed=Count("id", filter=Q(passed=True)),
        average=Avg("score"),
    )
    passed_members = done.filter(passed=True).values("member").distinct().count()
    result: dict[str, Any] = {
        "attempts": totals["attempts"],
        "members": totals["members"],
        "passed_members": passed_members,
        "average": round(totals["average"], 1) if totals["average"] is not None else None,
        "pass_score": rules.pass_score,
        "leaderboard": leaderboard(activity) if rules.leaderboard or for_organiser else [],
    }
    for row in result["leaderboard"]:
        row.pop("member_id", None)
    if for_organiser:
        bands: Counter[int] = Counter()
        for score in done.values_list("score", flat=True).iterator(chunk_size=5000):
            bands[min(9, (score or 0) // 10)] += 1
        result["score_bands"] = {
            "labels": [f"{10 * i}–{10 * i + 9}" if i < 9 else "90–100" for i in range(10)],
            "counts": [bands.get(i, 0) for i in range(10)],
        }
        result["questions"] = _question_rates(activity, done)
    return result


def _question_rates(activity: Activity, done: Any) -> list[dict[str, Any]]:
    """How often each drawn question was answered right (hardest first, top 20)."""
    shown: Counter[int] = Counter()
    right: Counter[int] = Counter()
    keys: dict[int, list[int]] = {}
    for answers, ids in done.values_list("answers", "question_ids").iterator(chunk_size=2000):
        missing = [qid for qid in ids if qid not in keys]
        if missing:
            for pk, correct in QuizQuestion.objects.filter(pk__in=missing).values_list("pk", "correct"):
                keys[pk] = sorted(correct)
        for qid in ids:
            shown[qid] += 1
            if (answers or {}).get(str(qid)) == keys.get(qid):
                right[qid] += 1
    texts = dict(QuizQuestion.objects.filter(pk__in=list(shown)).values_list("pk", "text"))
    ranked = sorted(shown.items(), key=lambda item: (right[item[0]] / item[1], -item[1]))
    return [
        {"id": qid, "text": texts.get(qid, ""), "shown": n, "rate": round(100 * right[qid] / n)}
        for qid, n in ranked[:20]
    ]


def export(activity: Activity) -> tuple[list[str], Iterator[list[Any]]]:
    headers = [
        "姓名",
        "所在工会",
        "第几次",
        "开始时间",
        "交卷时间",
        "用时（秒）",
        "答对题数",
        "题数",
        "得分",
        "是否及格",
        "超时",
    ]

    def rows() -> Iterator[list[Any]]:
        qs = (
            Attempt.objects.filter(activity=activity)
            .select_related("member", "member__org")
            .order_by("member__org_path", "member_id", "number")
        )
        for a in qs.iterator(chunk_size=1000):
            yield [
                mask_name(a.member.name),
                a.member.org.name,
                a.number,
                timezone.localtime(a.started_at),
                timezone.localtime(a.submitted_at) if a.submitted_at else "",
                round((a.duration_ms or 0) / 1000, 1) if a.submitted_at else "",
                a.correct_count if a.correct_count is not None else "",
                len(a.question_ids),
                a.score if a.score is not None else "",
                "" if a.passed is None else ("是" if a.passed else "否"),
                "是" if a.timed_out else "",
            ]

    return headers, rows()
