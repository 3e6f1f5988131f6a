"""Drawing, scoring, the attempts limit, the deadline, and answers kept from the member."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gonghui.activities.kinds.quiz import actions, selectors
from gonghui.activities.kinds.quiz.kind import KIND
from gonghui.activities.kinds.quiz.models import Attempt, QuizQuestion
from gonghui.activities.kinds.quiz.tests.helpers import SECRET, fill_bank, make_quiz, right_answers
from gonghui.activities.models import Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, InvalidValue

pytestmark = pytest.mark.django_db


def test_questions_are_drawn_from_the_organisers_bank_by_tag(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6, tag="劳动法")
    safety = fill_bank(tree.tianhe, 3, tag="安全生产")
    fill_bank(tree.nanshan, 6, tag="安全生产")  # another union's bank is never drawn
    quiz = make_quiz(tree.tianhe, tags="安全生产", question_count=3)
    attempt = actions.start_attempt(activity=quiz, member=make_member(tree.tianhe_union, "王一"))
    assert sorted(attempt.question_ids) == sorted(q.pk for q in safety)
    assert attempt.number == 1 and attempt.deadline == attempt.started_at + timedelta(seconds=120)


def test_a_quiz_cannot_be_published_with_too_few_questions(tree: Tree) -> None:
    fill_bank(tree.tianhe, 2)
    with pytest.raises(Conflict) as caught:
        make_quiz(tree.tianhe, question_count=3)
    assert caught.value.code == "QUIZ_BANK_TOO_SMALL"


def test_scoring_counts_exact_answers_and_the_pass_mark(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe, question_count=3, pass_score=60)
    member = make_member(tree.tianhe_union, "王二")
    attempt = actions.start_attempt(activity=quiz, member=member)
    key = right_answers(attempt.question_ids)
    first, second, third = attempt.question_ids
    answers = {
        str(first): key[str(first)],
        str(second): key[str(second)],
        str(third): [0, 1, 2, 3][:1] if key[str(third)] != [0] else [1],
    }
    done = actions.submit_attempt(attempt=attempt, member=member, answers=answers)
    assert (done.correct_count, done.score, done.passed) == (2, 67, True)
    assert done.submitted_at is not None and not done.timed_out
    # A partial answer to a multiple choice is wrong; so are two ticks on a single choice.
    again = actions.start_attempt(activity=quiz, member=member)
    wrong = {}
    for q in QuizQuestion.objects.filter(pk__in=again.question_ids):
        wrong[str(q.pk)] = q.correct[:1] + [i for i in range(len(q.options)) if i not in q.correct][:1]
    done = actions.submit_attempt(attempt=again, member=member, answers=wrong)
    assert (done.correct_count, done.score, done.passed) == (0, 0, False)
    assert Participation.objects.filter(activity=quiz, member=member).count() == 1


def test_attempts_are_limited_and_an_unfinished_one_is_resumed(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe, max_attempts=2)
    member = make_member(tree.tianhe_union, "王三")
    first = actions.start_attempt(activity=quiz, member=member)
    assert actions.start_attempt(activity=quiz, member=member).pk == first.pk  # a reload resumes it
    actions.submit_attempt(attempt=first, member=member, answers={})
    second = actions.start_attempt(activity=quiz, member=member)
    assert second.number == 2
    actions.submit_attempt(attempt=second, member=member, answers={})
    with pytest.raises(Exception) as caught:
        actions.start_attempt(activity=quiz, member=member)
    assert getattr(caught.value, "code", "") == "QUIZ_NO_ATTEMPTS_LEFT"
    assert KIND.member_check(quiz, member) is not None
    with pytest.raises(Conflict) as twice:
        actions.submit_attempt(attempt=second, member=member, answers={})
    assert twice.value.code == "QUIZ_ALREADY_SUBMITTED"


def test_a_submit_after_the_deadline_and_grace_is_refused_and_scored_as_unanswered(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe)
    member = make_member(tree.tianhe_union, "王四")
    attempt = actions.start_attempt(activity=quiz, member=member)
    key = right_answers(attempt.question_ids)
    # Within the grace: accepted, timed at the deadline.
    Attempt.objects.filter(pk=attempt.pk).update(deadline=timezone.now() - timedelta(seconds=3))
    attempt.refresh_from_db()
    done = actions.submit_attempt(attempt=attempt, member=member, answers=key)
    assert done.score == 100 and done.submitted_at == done.deadline
    # Beyond it: the answers are discarded.
    late = actions.start_attempt(activity=quiz, member=member)
    Attempt.objects.filter(pk=late.pk).update(deadline=timezone.now() - actions.GRACE - timedelta(seconds=1))
    late.refresh_from_db()
    with pytest.raises(actions.QuizClosed):
        actions.submit_attempt(attempt=late, member=member, answers=right_answers(late.question_ids))
    late.refresh_from_db()
    assert late.timed_out and late.score == 0 and late.submitted_at == late.deadline and late.answers == {}


def test_an_abandoned_attempt_is_closed_at_its_deadline(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe, max_attempts=3)
    member = make_member(tree.tianhe_union, "王五")
    abandoned = actions.start_attempt(activity=quiz, member=member)
    Attempt.objects.filter(pk=abandoned.pk).update(deadline=timezone.now() - timedelta(minutes=5))
    fresh = actions.start_attempt(activity=quiz, member=member)
    abandoned.refresh_from_db()
    assert abandoned.timed_out and abandoned.score == 0 and fresh.number == 2


def test_the_paper_carries_no_answers_and_the_review_only_after_submitting(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe)
    member = make_member(tree.tianhe_union, "王六")
    attempt = actions.start_attempt(activity=quiz, member=member)
    paper = selectors.paper(attempt)
    assert SECRET not in str(paper) and "correct" not in str(paper) and "explanation" not in str(paper)
    with pytest.raises(ValueError):
        selectors.review(attempt)
    done = actions.submit_attempt(attempt=attempt, member=member, answers={})
    review = selectors.review(done)
    assert all(SECRET in item["explanation"] and item["correct"] for item in review)


def test_leaderboard_takes_each_members_best_score_then_shortest_time(tree: Tree) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe, max_attempts=3)
    people = [make_member(tree.tianhe_union, name) for name in ("赵甲", "钱乙", "孙丙")]
    plans = {people[0]: [0, 3], people[1]: [3], people[2]: [3]}  # right answers per attempt
    for member, rights in plans.items():
        for n in rights:
            attempt = actions.start_attempt(activity=quiz, member=member)
            key = right_answers(attempt.question_ids)
            answers = dict(list(key.items())[:n])
            actions.submit_attempt(attempt=attempt, member=member, answers=answers)
    # Equal scores: the shorter time ranks first.
    Attempt.objects.filter(member=people[2], score=100).update(duration_ms=5_000)
    Attempt.objects.filter(member=people[1], score=100).update(duration_ms=9_000)
    Attempt.objects.filter(member=people[0], score=100).update(duration_ms=7_000)
    board = selectors.leaderboard(quiz)
    assert [(r["name"], r["score"], r["seconds"]) for r in board] == [
        ("孙*", 100, 5.0),
        ("赵*", 100, 7.0),
        ("钱*", 100, 9.0),
    ]
    assert KIND.results(quiz, for_organiser=False)["leaderboard"][0] == {
        "rank": 1,
        "name": "孙*",
        "org": tree.tianhe_union.name,
        "score": 100,
        "seconds": 5.0,
    }


def test_bank_questions_are_validated_and_frozen_while_a_quiz_runs(tree: Tree) -> None:
    with pytest.raises(InvalidValue) as caught:
        actions.add_bank_question(
            actor=None,
            org=tree.tianhe,
            values={"kind": "single", "text": "题", "options": ["甲", "乙"], "correct": "AB"},
        )
    assert caught.value.code == "QUIZ_CORRECT_ONE"
    with pytest.raises(InvalidValue) as caught:
        actions.add_bank_question(
            actor=None,
            org=tree.tianhe,
            values={"kind": "single", "text": "题", "options": ["甲", "乙"], "correct": "D"},
        )
    assert caught.value.code == "QUIZ_CORRECT_INVALID"
    bank = fill_bank(tree.tianhe, 3)
    make_quiz(tree.tianhe)
    with pytest.raises(Conflict) as frozen:
        actions.update_bank_question(actor=None, question=bank[1], values={"correct": "A"})
    assert frozen.value.code == "QUIZ_BANK_IN_USE"
    # Explanations and tags may still be improved; a question can be stopped.
    actions.update_bank_question(actor=None, question=bank[1], values={"explanation": "更清楚的解析"})
    assert not actions.set_bank_question_active(actor=None, question=bank[1], active=False).is_active


def test_closing_the_quiz_early_hands_in_open_attempts_at_the_close(tree: Tree) -> None:
    from gonghui.activities import actions as activity_actions

    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe)
    member = make_member(tree.tianhe_union, "王七")
    attempt = actions.start_attempt(activity=quiz, member=member)
    activity_actions.close_activity(actor=None, activity=quiz, reason="提前结束")
    attempt.refresh_from_db()
    assert attempt.timed_out and attempt.score == 0
    assert attempt.submitted_at is not None and attempt.submitted_at <= timezone.now() < attempt.deadline
