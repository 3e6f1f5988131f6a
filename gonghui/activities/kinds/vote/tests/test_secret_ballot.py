"""Acceptance: the secret ballot (无记名投票).

After the votes are cast and mixed, a reader of the whole database — every table and
column of the vote app and the activities app, and on PostgreSQL the transaction id
(``xmin``) and physical position (``ctid``) of each row — finds nothing that joins a
ballot to a member; every voter's receipt is on the published list with the choices
they made; the tally equals the ballots equals the participants. Each cast commits on
its own (``transaction=True``) so the transaction ids are the real ones.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.vote import actions, selectors
from gonghui.activities.kinds.vote.models import (
    Ballot,
    BallotChoice,
    SecretBallot,
    SecretChoice,
    StagedBallot,
)
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.models import Activity, Participation
from gonghui.conftest import Tree, make_cadre, make_member
from gonghui.core.access import RoleKind
from gonghui.core.errors import DomainError
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db(transaction=True)

VOTERS = 23
BATCH = 5


def table_rows(model: type[models.Model]) -> list[dict[str, Any]]:
    return list(model.objects.values())


def xmins(model: type[models.Model], activity: Activity) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT xmin::text FROM {model._meta.db_table} WHERE activity_id = %s ORDER BY ctid",  # noqa: S608
            [activity.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def physical_receipts(activity: Activity) -> list[str]:
    """Receipts in the order the database stores them (ctid on PostgreSQL, rowid on SQLite)."""
    order = "ctid" if connection.vendor == "postgresql" else "rowid"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT receipt FROM {SecretBallot._meta.db_table} WHERE activity_id = %s ORDER BY {order}",  # noqa: S608
            [activity.pk],
        )
        return [row[0] for row in cursor.fetchall()]


def test_no_ballot_can_be_joined_to_its_voter_and_every_receipt_is_published(tree: Tree, settings: Any) -> None:
    settings.SECRET_BALLOT_MIX_BATCH = BATCH
    organiser = make_cadre("zhuxi", "主席", tree.tianhe, RoleKind.ADMIN)
    vote = make_vote(
        tree.tianhe, actor=organiser, candidates=4, secret=True, mode="multiple", min_choices=1, max_choices=2
    )
    ids = candidate_ids(vote)
    members = [make_member(tree.tianhe_union, f"职工{i:02d}") for i in range(VOTERS)]
    cast: list[tuple[Member, str, list[int]]] = []
    for i, member in enumerate(members):
        choice = [ids[i % 4]] if i % 3 else [ids[i % 4], ids[(i + 1) % 4]]
        result = actions.cast_ballot(activity_id=vote.pk, member=member, candidate_ids=choice)
        assert len(result.receipt) == 12 and result.ballot_id is None
        cast.append((member, result.receipt, sorted(choice)))
    # A second ballot is refused by the participation row alone.
    with pytest.raises(DomainError) as info:
        actions.cast_ballot(activity_id=vote.pk, member=members[0], candidate_ids=[ids[0]])
    assert info.value.code == "ALREADY_VOTED"

    # While the vote runs: whole batches were mixed, the rest waits, encrypted.
    assert SecretBallot.objects.filter(activity=vote).count() == VOTERS // BATCH * BATCH
    staged = list(StagedBallot.objects.filter(activity=vote))
    assert len(staged) == VOTERS % BATCH
    for row in staged:
        assert not any(r.encode() in bytes(row.payload) for _, r, _ in cast)
    if connection.vendor == "postgresql":
        voter_txids = set(xmins(Participation, vote))
        assert len(voter_txids) == VOTERS  # one transaction per voter
        mixed = xmins(SecretBallot, vote)
        assert len(set(mixed)) == VOTERS // BATCH and not set(mixed) & voter_txids
    assert selectors.results(vote, for_organiser=True)["visible"] is False

    activity_actions.close_activity(actor=organiser, activity=vote)
    vote.refresh_from_db()

    # --- the database alone ------------------------------------------------------------
    assert not StagedBallot.objects.exists()
    assert not Ballot.objects.filter(activity=vote).exists()
    assert not BallotChoice.objects.filter(activity=vote).exists()
    # No table that holds a secret ballot has a column naming a member, a user, a time
    # or anything ordered; its keys are random.
    for model in (StagedBallot, SecretBallot, SecretChoice):
        for f in model._meta.concrete_fields:
            assert not isinstance(f, models.DateField | models.DateTimeField | models.TimeField), f
            assert not (f.is_relation and f.related_model not in (Activity, SecretBallot) and f.name != "candidate"), f
        assert isinstance(model._meta.pk, models.UUIDField)
    # Participation (the one-per-member guard) says nothing about the ballot: no
    # reference to any vote table, a date and not a time.
    for f in Participation._meta.concrete_fields:
        assert not isinstance(f, models.DateTimeField) and f.related_model in (None, Activity, Member), f
    # Every value of every row in both apps: the ballot rows share none with the rows
    # that name members, beyond the activity and the candidates everyone shares.
    ballot_values: set[str] = set()
    for model in (SecretBallot, SecretChoice):
        for row in table_rows(model):
            ballot_values |= {str(v) for k, v in row.items() if k not in ("activity_id", "candidate_id")}
    member_values: set[str] = set()
    for config in (apps.get_app_config("activities"), apps.get_app_config("activity_vote")):
        for model in config.get_models():
            if model in (SecretBallot, SecretChoice):
                continue
            for row in table_rows(model):
                member_values |= {str(v) for v in row.values() if v not in (None, "")}
    for member in members:
        member_values |= {str(v) for v in Member.objects.filter(pk=member.pk).values().first().values()}  # type: ignore[union-attr]
    assert not ballot_values & member_values
    # One crowd: every published ballot row carries the mixer's transaction (not any
    # voter's) and sits in an order that is not the order of voting.
    voting_order = [r for _, r, _ in cast]
    assert physical_receipts(vote) != voting_order
    assert sorted(physical_receipts(vote)) == sorted(voting_order)
    if connection.vendor == "postgresql":
        final = xmins(SecretBallot, vote)
        assert len(set(final)) == 1 and not set(final) & voter_txids
        assert set(xmins(SecretChoice, vote)) == set(final)

    # --- published list, tally ---------------------------------------------------------
    assert selectors.receipts_published(vote)
    published = dict(selectors.receipt_rows(vote))
    names = dict(vote.vote_candidates.values_list("pk", "name"))
    for _, receipt, choice in cast:
        assert published[receipt] == sorted(names[c] for c in choice)
        assert selectors.find_receipt(vote, selectors.format_receipt(receipt).lower()) == published[receipt]
    assert selectors.find_receipt(vote, "AAAA-BBBB-CCCC") is None
    results = selectors.results(vote, for_organiser=False)
    assert results["visible"] and results["final"]
    participants = Participation.objects.filter(activity=vote).count()
    assert results["ballots"] == len(published) == participants == VOTERS
    assert results["votes"] == sum(len(c) for _, _, c in cast)
    expected = {c: sum(c in choice for _, _, choice in cast) for c in ids}
    assert {row["id"]: row["votes"] for row in results["candidates"]} == expected


def test_a_straggler_after_close_is_mixed_into_the_crowd(tree: Tree, settings: Any) -> None:
    """A ballot whose transaction read "open" just before an early close commits after the
    close mixed: the sweep (cron) re-mixes the whole vote with it."""
    settings.SECRET_BALLOT_MIX_BATCH = 100
    vote = make_vote(tree.tianhe, candidates=2, secret=True)
    ids = candidate_ids(vote)
    members = [make_member(tree.tianhe_union, f"职工{i}") for i in range(4)]
    for m in members[:3]:
        actions.cast_ballot(activity_id=vote.pk, member=m, candidate_ids=[ids[0]])
    activity_actions.close_activity(actor=None, activity=vote)
    assert SecretBallot.objects.filter(activity=vote).count() == 3
    # The straggler, as if its transaction had passed the open check before the close.
    Participation.objects.create(activity=vote, member=members[3], org_path=members[3].org_path, on_date=date.today())
    from gonghui.core import pii

    StagedBallot.objects.create(activity=vote, payload=pii.encrypt(f'{{"c":[{ids[1]}],"r":"STRAGGLER000"}}'))
    vote.refresh_from_db()
    assert not selectors.receipts_published(vote)
    from django.core.management import call_command

    call_command("mix_secret_ballots", verbosity=0)
    assert selectors.receipts_published(vote)
    participants = Participation.objects.filter(activity=vote).count()
    assert SecretBallot.objects.filter(activity=vote).count() == 4 == participants
    if connection.vendor == "postgresql":
        assert len(set(xmins(SecretBallot, vote))) == 1
