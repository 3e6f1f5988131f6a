"""A campaign's per-voter rows point at the activity and the candidates without a
database constraint (``activities.models.HOT_PARENT``): the schema says so, the per-voter
parents keep theirs, and Django's collector still guards them: a vote that has
ballots cannot be deleted (its candidates are protected by the choices)."""

from __future__ import annotations

import pytest
from django.db import connection, models
from django.db.models.deletion import ProtectedError

from gonghui.activities.kinds.vote import actions
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice, Candidate
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.models import Activity, Participation
from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def _foreign_keys(model: type[models.Model]) -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {column for c in constraints.values() if c["foreign_key"] for column in c["columns"]}


def test_the_shared_parents_are_not_checked_by_the_database() -> None:
    assert _foreign_keys(Ballot) == {"member_id"}
    assert _foreign_keys(BallotChoice) == {"ballot_id", "member_id"}
    assert _foreign_keys(Participation) == {"member_id"}


def test_a_vote_with_ballots_cannot_be_deleted(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob, daily_allowance=2)
    ids = candidate_ids(vote)
    actions.cast_ballot(activity_id=vote.pk, member=frank, candidate_ids=[ids[0]])
    actions.cast_ballot(activity_id=vote.pk, member=frank, candidate_ids=[ids[1]])
    with pytest.raises(ProtectedError):
        Activity.objects.filter(pk=vote.pk).delete()
    assert Ballot.objects.filter(activity_id=vote.pk).count() == 2
    assert BallotChoice.objects.filter(activity_id=vote.pk).count() == 2
    assert Participation.objects.filter(activity_id=vote.pk).count() == 1
    assert Candidate.objects.filter(activity_id=vote.pk).count() == 3
