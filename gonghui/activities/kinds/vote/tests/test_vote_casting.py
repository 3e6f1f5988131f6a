"""Casting ballots: the rules of single/multiple choice, the daily allowance of a contest,
eligibility, candidates frozen once open, results visibility, the export."""

from __future__ import annotations

from datetime import date
from typing import Any
from unittest.mock import patch

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gonghui.activities import actions as activity_actions
from gonghui.activities import eligibility, registry
from gonghui.activities.kinds.vote import actions, selectors
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice, Candidate
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.models import Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus

pytestmark = pytest.mark.django_db


def cast(activity: Any, member: Member, ids: list[int], **kw: Any) -> actions.CastResult:
    return actions.cast_ballot(activity_id=activity.pk, member=member, candidate_ids=ids, **kw)


def code_of(call: Any) -> str:
    with pytest.raises(DomainError) as info:
        call()
    return info.value.code


# --- settings and publishing ----------------------------------------------------------


def test_settings_are_checked_and_single_choice_means_one() -> None:
    kind = registry.get("vote")
    clean = kind.clean_settings({"mode": "single", "min_choices": 2, "max_choices": 3})
    assert clean["min_choices"] == clean["max_choices"] == 1
    assert clean["secret"] is False and clean["daily_allowance"] == 0
    with pytest.raises(InvalidValue) as info:
        kind.clean_settings({"mode": "multiple", "min_choices": 3, "max_choices": 2})
    assert info.value.details["field"] == "max_choices"
    with pytest.raises(InvalidValue) as info:
        kind.clean_settings({"secret": True, "daily_allowance": 3})
    assert info.value.details["field"] == "secret"
    with pytest.raises(InvalidValue):
        kind.clean_settings({"secret": True, "results_visibility": "live"})


def test_publishing_needs_two_candidates_and_enough_for_max_choices(tree: Tree, bob: User) -> None:
    vote = make_vote(tree.tianhe, actor=bob, candidates=1, publish=False)
    assert code_of(lambda: activity_actions.publish_activity(actor=bob, activity=vote)) == "VOTE_TOO_FEW_CANDIDATES"
    vote2 = make_vote(tree.tianhe, actor=bob, candidates=2, publish=False, mode="multiple", max_choices=3)
    assert code_of(lambda: activity_actions.publish_activity(actor=bob, activity=vote2)) == "VOTE_MAX_CHOICES"


def test_an_election_excludes_retained_members_by_the_statute(tree: Tree, bob: User, settings: Any) -> None:
    settings.RETAINED_MEMBERS_VOTE = False
    election = make_vote(tree.tianhe, actor=bob)
    assert election.exclude_retained is True
    retired = make_member(tree.tianhe_union, "退休老王")
    Member.objects.filter(pk=retired.pk).update(status=MemberStatus.RETAINED)
    retired.refresh_from_db()
    assert eligibility.check(election, retired).code == "AUDIENCE_RETAINED"
    assert code_of(lambda: cast(election, retired, candidate_ids(election)[:1])) == "AUDIENCE_RETAINED"
    # A public-choice contest keeps the organiser's choice; so does a province that lets them vote.
    contest = make_vote(tree.tianhe, actor=bob, daily_allowance=3)
    assert contest.exclude_retained is False
    assert cast(contest, retired, candidate_ids(contest)[:1]).seq == 1
    settings.RETAINED_MEMBERS_VOTE = True
    assert make_vote(tree.tianhe, actor=bob).exclude_retained is False


# --- casting ------------------------------------------------------------------------------


def test_single_choice_one_ballot_per_member(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob)
    ids = candidate_ids(vote)
    assert eligibility.check(vote, frank).ok
    result = cast(vote, frank, [ids[1]])
    assert result.ballot_id and result.seq == 1 and result.day is None and not result.receipt
    ballot = Ballot.objects.get(pk=result.ballot_id)
    assert ballot.member_id == frank.pk
    assert list(BallotChoice.objects.filter(ballot=ballot).values_list("candidate_id", flat=True)) == [ids[1]]
    assert Participation.objects.filter(activity=vote, member=frank).count() == 1
    answer = eligibility.check(vote, frank)
    assert not answer and answer.code == "ALREADY_VOTED"
    assert code_of(lambda: cast(vote, frank, [ids[0]])) == "ALREADY_VOTED"
    assert code_of(lambda: cast(vote, frank, [ids[0], ids[1]])) == "VOTE_CHOICE_COUNT"
    # Members vote without an audit row each: the ballot is the record.
    assert not AuditEvent.objects.filter(action__startswith="activity_vote.cast").exists()


def test_multiple_choice_within_min_and_max(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob, candidates=4, mode="multiple", min_choices=2, max_choices=3)
    ids = candidate_ids(vote)
    assert code_of(lambda: cast(vote, frank, ids[:1])) == "VOTE_CHOICE_COUNT"
    assert code_of(lambda: cast(vote, frank, ids)) == "VOTE_CHOICE_COUNT"
    assert code_of(lambda: cast(vote, frank, [ids[0], ids[0]])) == "VOTE_DUPLICATE_CHOICE"
    other = make_vote(tree.tianhe, actor=bob)
    assert code_of(lambda: cast(vote, frank, [ids[0], candidate_ids(other)[0]])) == "VOTE_UNKNOWN_CANDIDATE"
    result = cast(vote, frank, ids[1:4])
    assert sorted(result.candidate_ids) == sorted(ids[1:4])
    assert BallotChoice.objects.filter(ballot_id=result.ballot_id).count() == 3


def test_a_contest_allows_n_ballots_a_day_one_per_candidate(
    tree: Tree, bob: User, frank: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    vote = make_vote(tree.tianhe, actor=bob, candidates=4, daily_allowance=2)
    ids = candidate_ids(vote)
    monkeypatch.setattr(selectors, "today", lambda: date(2026, 5, 1))
    first = cast(vote, frank, [ids[0]])
    assert first.seq == 1 and first.remaining_today == 1 and first.day == date(2026, 5, 1)
    with pytest.raises(Conflict) as error:
        cast(vote, frank, [ids[0]])
    assert error.value.code == "VOTE_CANDIDATE_TODAY"
    assert cast(vote, frank, [ids[1]]).seq == 2
    assert code_of(lambda: cast(vote, frank, [ids[2]])) == "VOTE_DAILY_LIMIT"
    assert eligibility.check(vote, frank).code == "VOTE_DAILY_LIMIT"
    # The next day brings a fresh allowance, and yesterday's candidate can have a vote again.
    monkeypatch.setattr(selectors, "today", lambda: date(2026, 5, 2))
    assert eligibility.check(vote, frank).ok
    assert cast(vote, frank, [ids[0]]).seq == 1
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 3
    assert Participation.objects.filter(activity=vote, member=frank).count() == 1


def test_idempotency_key_answers_a_retry_with_the_same_ballot(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob, daily_allowance=3)
    ids = candidate_ids(vote)
    first = cast(vote, frank, [ids[0]], request_key="retry-1")
    again = cast(vote, frank, [ids[0]], request_key="retry-1")
    assert again.replayed and again.ballot_id == first.ballot_id
    assert Ballot.objects.filter(activity=vote).count() == 1


def test_only_the_audience_votes_and_only_while_open(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob)
    ids = candidate_ids(vote)
    outsider = make_member(tree.nanshan_union, "深圳会员")
    assert code_of(lambda: cast(vote, outsider, ids[:1])) == "AUDIENCE_OUTSIDE"
    assert code_of(lambda: cast(vote, None, ids[:1])) == "NOT_A_MEMBER"
    draft = make_vote(tree.tianhe, actor=bob, publish=False)
    assert code_of(lambda: cast(draft, frank, candidate_ids(draft)[:1])) == "ACTIVITY_NOT_PUBLISHED"
    selectors.snapshot(vote.pk)  # cached as open …
    activity_actions.close_activity(actor=bob, activity=vote)
    # … and the cast path still refuses: the transaction re-reads the activity.
    assert code_of(lambda: cast(vote, frank, ids[:1])) == "ACTIVITY_ENDED"
    assert not Ballot.objects.filter(activity=vote).exists()


def test_a_stale_snapshot_cannot_sneak_a_ballot_past_an_early_close(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob)
    snap = selectors.snapshot(vote.pk)
    assert snap is not None and snap.activity.is_open
    activity_actions.close_activity(actor=bob, activity=vote)
    from django.core.cache import cache

    cache.set(selectors.snapshot_key(vote.pk), snap, 60)  # another process's stale copy
    assert code_of(lambda: cast(vote, frank, candidate_ids(vote)[:1])) == "ACTIVITY_ENDED"


def test_the_cast_path_stays_lean(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob)
    ids = candidate_ids(vote)
    selectors.snapshot(vote.pk)
    # The points receiver's task runs inline under the test task backend; in production it
    # is one task-row INSERT in this transaction. Counted here: the cast's own statements.
    with patch("gonghui.points.receivers.award_task") as points_task, CaptureQueriesContext(connection) as queries:
        cast(vote, frank, ids[:1])
    points_task.enqueue.assert_called_once()
    # choices today, [savepoint], still-open check, ballot, choices, participation (one statement), [commit]
    assert len(queries) <= 8, [q["sql"] for q in queries]


# --- candidates ----------------------------------------------------------------------------


def png() -> SimpleUploadedFile:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    return SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png")


def test_candidates_are_edited_before_opening_and_frozen_after(
    tree: Tree, bob: User, tmp_path: Any, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path
    vote = make_vote(tree.tianhe, actor=bob, candidates=3, publish=False)
    first, second, third = Candidate.objects.filter(activity=vote).order_by("order")
    actions.update_candidate(actor=bob, candidate=first, values={"name": "王红（劳模）"}, photo=png())
    first.refresh_from_db()
    assert first.name == "王红（劳模）" and first.photo
    with pytest.raises(InvalidValue):
        actions.update_candidate(actor=bob, candidate=first, values={"name": " "})
    bad = SimpleUploadedFile("x.png", b"not an image", content_type="image/png")
    assert code_of(lambda: actions.add_candidate(actor=bob, activity=vote, values={"name": "x"}, photo=bad)) == (
        "VOTE_PHOTO_INVALID"
    )
    actions.reorder_candidates(actor=bob, activity=vote, ordered_ids=[third.pk, first.pk, second.pk])
    assert candidate_ids(vote) == [third.pk, first.pk, second.pk]
    actions.remove_candidate(actor=bob, candidate=second)
    assert candidate_ids(vote) == [third.pk, first.pk]
    assert AuditEvent.objects.filter(action="activity_vote.candidate_update").count() == 1
    activity_actions.publish_activity(actor=bob, activity=vote)
    assert code_of(lambda: actions.add_candidate(actor=bob, activity=vote, values={"name": "迟到"})) == (
        "VOTE_CANDIDATES_FROZEN"
    )


# --- results -------------------------------------------------------------------------------


def test_results_follow_the_visibility_rule(tree: Tree, bob: User, frank: Member) -> None:
    hidden = make_vote(tree.tianhe, actor=bob)
    live = make_vote(tree.tianhe, actor=bob, results_visibility="live")
    others = [make_member(tree.tianhe_union, f"会员{i}") for i in range(3)]
    for vote in (hidden, live):
        ids = candidate_ids(vote)
        cast(vote, frank, [ids[1]])
        for m in others:
            cast(vote, m, [ids[1] if m is others[0] else ids[2]])
    kind = registry.get("vote")
    assert kind.results(hidden, for_organiser=False)["visible"] is False
    assert kind.results(hidden, for_organiser=True)["visible"] is True
    shown = kind.results(live, for_organiser=False)
    assert shown["visible"] and shown["ballots"] == 4 and shown["participants"] == 4
    assert [(c["votes"], c["rank"]) for c in shown["candidates"]] == [(2, 1), (2, 1), (0, 3)]
    activity_actions.close_activity(actor=bob, activity=hidden)
    hidden.refresh_from_db()
    final = kind.results(hidden, for_organiser=False)
    assert final["visible"] and final["final"] and final["ballots"] == 4


def test_export_masks_the_voters(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob)
    cast(vote, frank, candidate_ids(vote)[:1])
    headers, rows = registry.get("vote").export(vote)
    rows = list(rows)
    assert "投票人（脱敏）" in headers
    assert rows[0][4] == "范*" and rows[0][5] == tree.tianhe_union.name
    assert "范克" not in str(rows)
