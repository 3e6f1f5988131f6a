"""Acceptance on PostgreSQL: one member casting from many connections at once.

Every thread passes the Python checks (no ballot yet today) before any commits, so only
the database stops the duplicates: the unique (activity, member, day, seq) constraint on
ballots, the once-a-day-per-candidate constraint on choices, and the participation row
for a secret ballot. With those removed these tests fail (checked by dropping them).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gonghui.activities.kinds.vote import actions, selectors
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice, SecretBallot, StagedBallot
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.models import Participation
from gonghui.conftest import Tree
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.testing.concurrency import on_postgres_only, race, tally

pytestmark = [
    pytest.mark.postgres_only,
    on_postgres_only,
    pytest.mark.django_db(transaction=True),
]

THREADS = 8


def caster(activity_id: int, member: Member, ids: list[int]) -> Any:
    return lambda: actions.cast_ballot(activity_id=activity_id, member=member, candidate_ids=ids)


def outcome(results: list[Any]) -> Counter[str]:
    unexpected = [r for r in results if not isinstance(r, actions.CastResult | DomainError)]
    assert not unexpected, unexpected
    return tally(results)


def test_one_member_racing_an_election_gets_exactly_one_ballot(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe, candidates=THREADS)
    ids = candidate_ids(vote)
    selectors.snapshot(vote.pk)
    counts = outcome(race(*[caster(vote.pk, frank, [ids[i]]) for i in range(THREADS)]))
    assert counts["ok"] == 1, counts
    assert set(counts) <= {"ok", "ALREADY_VOTED", "VOTE_BUSY"}, counts
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 1
    assert BallotChoice.objects.filter(activity=vote, member=frank).count() == 1
    assert Participation.objects.filter(activity=vote, member=frank).count() == 1


def test_one_member_racing_a_contest_gets_at_most_the_daily_allowance(tree: Tree, frank: Member) -> None:
    allowance = 3
    vote = make_vote(tree.tianhe, candidates=4, daily_allowance=allowance)
    # Four candidates, eight threads, two for each: distinct candidates compete for the
    # allowance, the same candidate for its once-a-day vote.
    ids = candidate_ids(vote) * 2
    selectors.snapshot(vote.pk)
    counts = outcome(race(*[caster(vote.pk, frank, [ids[i]]) for i in range(THREADS)]))
    ballots = list(Ballot.objects.filter(activity=vote, member=frank).order_by("seq"))
    assert counts["ok"] == len(ballots)
    assert 1 <= len(ballots) <= allowance, counts
    assert [b.seq for b in ballots] == list(range(1, len(ballots) + 1))
    chosen = list(BallotChoice.objects.filter(activity=vote, member=frank).values_list("candidate_id", flat=True))
    assert len(chosen) == len(set(chosen)) == len(ballots)
    assert Participation.objects.filter(activity=vote, member=frank).count() == 1
    # Afterwards the allowance is exactly the limit, whatever the race left.
    while Ballot.objects.filter(activity=vote, member=frank).count() < allowance:
        free = [c for c in candidate_ids(vote) if c not in chosen]
        actions.cast_ballot(activity_id=vote.pk, member=frank, candidate_ids=[free[0]])
        chosen.append(free[0])
    with pytest.raises(DomainError) as info:
        actions.cast_ballot(
            activity_id=vote.pk, member=frank, candidate_ids=[c for c in candidate_ids(vote) if c not in chosen][:1]
        )
    assert info.value.code == "VOTE_DAILY_LIMIT"


def test_one_member_racing_the_same_candidate_in_a_contest_votes_once(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe, candidates=2, daily_allowance=5)
    target = candidate_ids(vote)[0]
    selectors.snapshot(vote.pk)
    counts = outcome(race(*[caster(vote.pk, frank, [target]) for _ in range(THREADS)]))
    assert counts["ok"] == 1, counts
    assert BallotChoice.objects.filter(activity=vote, member=frank, candidate_id=target).count() == 1


def test_one_member_racing_a_secret_ballot_casts_one(tree: Tree, frank: Member, settings: Any) -> None:
    settings.SECRET_BALLOT_MIX_BATCH = 1000
    vote = make_vote(tree.tianhe, candidates=THREADS, secret=True)
    ids = candidate_ids(vote)
    selectors.snapshot(vote.pk)
    counts = outcome(race(*[caster(vote.pk, frank, [ids[i]]) for i in range(THREADS)]))
    assert counts["ok"] == 1 and counts["ALREADY_VOTED"] == THREADS - 1, counts
    assert Participation.objects.filter(activity=vote, member=frank).count() == 1
    assert StagedBallot.objects.filter(activity=vote).count() + SecretBallot.objects.filter(activity=vote).count() == 1
