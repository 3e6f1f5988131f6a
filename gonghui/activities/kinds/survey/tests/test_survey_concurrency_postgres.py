"""One response per member when the same member submits from several devices at once.

Every thread passes the eligibility check before any of them writes (a barrier holds them
after it), so only the participation row's unique constraint inside the transaction can
stop the duplicates. Anonymous survey: the response table has no member to be unique on.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gonghui.activities.kinds.survey import actions, answers
from gonghui.activities.kinds.survey.models import Response
from gonghui.activities.kinds.survey.tests.helpers import branching_survey, publish
from gonghui.activities.models import Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = [
    pytest.mark.postgres_only,
    on_postgres_only,
    pytest.mark.django_db(transaction=True),
]

THREADS = 6


@pytest.mark.parametrize("anonymous", [True, False], ids=["anonymous", "named"])
def test_parallel_submits_of_one_member_store_one_response(
    tree: Tree, monkeypatch: pytest.MonkeyPatch, anonymous: bool
) -> None:
    survey, (q1, _q2, q3, _q4, q5, _q6) = branching_survey(tree.tianhe, anonymous=anonymous)
    publish(survey)
    member = make_member(tree.tianhe_union, "并发")
    raw = {q1.pk: "没参加过", q3.pk: 10, q5.pk: ["法律援助"]}
    barrier = threading.Barrier(THREADS, timeout=20)
    real_check = answers.check

    def check_after_everyone_passed_eligibility(*args: Any, **kwargs: Any) -> answers.Checked:
        barrier.wait()
        return real_check(*args, **kwargs)

    monkeypatch.setattr(answers, "check", check_after_everyone_passed_eligibility)

    def submit() -> Response:
        return actions.submit_response(activity=survey, member=member, answers_raw=raw)

    results = race(*[submit] * THREADS)
    stored = [r for r in results if isinstance(r, Response)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(stored) == 1, results
    assert len(refused) == THREADS - 1 and all(r.code == "SURVEY_ALREADY_SUBMITTED" for r in refused), results
    assert Response.objects.filter(activity=survey).count() == 1
    assert Participation.objects.filter(activity=survey, member=member).count() == 1
