"""The attempts limit holds when one member starts from several devices at once.

The member has used one of two attempts. Six starts run together; a barrier holds every
one of them inside its transaction until all have passed the eligibility check, so each
would read "1 attempt used" without the lock on the participation row (and, behind it,
the unique attempt number).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gonghui.activities.kinds.quiz import actions
from gonghui.activities.kinds.quiz.models import Attempt
from gonghui.activities.kinds.quiz.tests.helpers import fill_bank, make_quiz
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = [
    pytest.mark.postgres_only,
    on_postgres_only,
    pytest.mark.django_db(transaction=True),
]

THREADS = 6


def test_parallel_starts_never_exceed_the_attempts_limit(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> None:
    fill_bank(tree.tianhe, 6)
    quiz = make_quiz(tree.tianhe, max_attempts=2)
    member = make_member(tree.tianhe_union, "并发")
    first = actions.start_attempt(activity=quiz, member=member)
    actions.submit_attempt(attempt=first, member=member, answers={})

    barrier = threading.Barrier(THREADS, timeout=20)
    real = actions.record_participation

    def participation_after_everyone_arrived(*args: Any, **kwargs: Any) -> bool:
        barrier.wait()
        return real(*args, **kwargs)

    monkeypatch.setattr(actions, "record_participation", participation_after_everyone_arrived)

    def start() -> Attempt:
        return actions.start_attempt(activity=quiz, member=member)

    results = race(*[start] * THREADS)
    started = [r for r in results if isinstance(r, Attempt)]
    assert not [r for r in results if not isinstance(r, Attempt | DomainError)], results
    # Every start got the one second attempt (the others resumed it) and no third exists.
    assert Attempt.objects.filter(activity=quiz, member=member).count() == 2
    assert {a.number for a in started} == {2}
    assert len({a.pk for a in started}) == 1
