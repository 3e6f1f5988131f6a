"""Group commit of contest ballots (``vote.groupcommit``) on PostgreSQL.

Ballots cast together from many request threads are written by the process's writer
thread in batches, one statement each; the rules are those of one ballot at a time: the
day's allowance, one vote per candidate a day, one participation per member, one points
event per first ballot — and whatever a batch does not write (a refusal, a lost race, a
failed batch) is cast again on the one-at-a-time path, which has the last word.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from gonghui.activities import passes
from gonghui.activities.kinds.vote import actions, groupcommit, selectors
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.models import Activity, Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.points import ledger, rules
from gonghui.points.models import RuleKind
from gonghui.points.tasks import award_many_task
from gonghui.testing.concurrency import RaceDidNotFinish, on_postgres_only, race, tally

REFUSALS = {"VOTE_DAILY_LIMIT", "VOTE_CANDIDATE_TODAY"}
AWARD_MANY = "gonghui.points.tasks.award_many_task"
AWARD_ONE = "gonghui.points.tasks.award_task"


@dataclass
class Batches:
    """What the writer did: per statement, each ballot's member and whether it was written."""

    groups: list[list[tuple[int, bool]]] = field(default_factory=list)
    failures: int = 0

    @property
    def written(self) -> int:
        return sum(w for group in self.groups for _, w in group)

    def largest(self) -> int:
        return max((sum(w for _, w in group) for group in self.groups), default=0)


@pytest.fixture
def batches(transactional_db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Batches]:
    """Group commit on (the test settings switch it off), the writer's statements recorded —
    the first one after a short pause, so that ballots arriving together queue up behind it
    — and the writer stopped at the end (its connection closed before the flush)."""
    seen = Batches()
    real_gather, real_write = groupcommit._Writer._gather, groupcommit._write_group

    def gather(writer: Any, first: groupcommit._Pending, held: list[groupcommit._Pending]) -> Any:
        if not seen.groups and not seen.failures:
            time.sleep(0.3)
        return real_gather(writer, first, held)

    def recording(group: list[groupcommit._Pending]) -> None:
        try:
            real_write(group)
        except Exception:
            seen.failures += 1
            raise
        seen.groups.append([(p.member_id, p.written is not None) for p in group])

    monkeypatch.setattr(groupcommit._Writer, "_gather", gather)
    monkeypatch.setattr(groupcommit, "_write_group", recording)
    with override_settings(VOTE_GROUP_COMMIT=True):
        try:
            yield seen
        finally:
            groupcommit.shutdown()


def pass_of(activity: Activity, member: Member) -> passes.Pass:
    return passes.issue(activity, member)[1]


def code(result: Any) -> str:
    return tally([result]).most_common(1)[0][0]


def ballots_of(activity: Activity, member: Member) -> list[Ballot]:
    return list(Ballot.objects.filter(activity=activity, member=member).order_by("seq"))


def choices_of(activity: Activity, member: Member) -> list[int]:
    return list(BallotChoice.objects.filter(activity=activity, member=member).values_list("candidate_id", flat=True))


def assert_the_rules_held(activity: Activity, members: list[Member], allowance: int) -> None:
    day = selectors.today()
    for member in members:
        ballots = ballots_of(activity, member)
        assert 1 <= len(ballots) <= allowance, (member.pk, ballots)
        assert {b.day for b in ballots} == {day}
        assert [b.seq for b in ballots] == list(range(1, len(ballots) + 1))
        chosen = choices_of(activity, member)
        assert len(chosen) == len(set(chosen)), (member.pk, chosen)  # no candidate twice a day
        per_ballot = Counter(
            BallotChoice.objects.filter(ballot__in=ballots).values_list("ballot_id", flat=True).order_by()
        )
        assert set(per_ballot) == {b.pk for b in ballots}  # every ballot has its choices
        assert Participation.objects.filter(activity=activity, member=member).count() == 1


# --- many threads at once --------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
@pytest.mark.parametrize("prepare", [True, False], ids=["prepared", "plain-cursor"])
def test_racing_threads_keep_every_rule(tree: Tree, batches: Batches, prepare: bool, settings: Any) -> None:
    """16 threads, two for each of 8 members, three ballots each, at once: 6 attempts and 5
    distinct candidates per member against an allowance of 4 (the batch statement run as a
    prepared statement, and on Django's cursor as behind an old pooler)."""
    settings.VOTE_GROUP_COMMIT_PREPARE = prepare
    allowance = 4
    vote = make_vote(tree.tianhe, candidates=6, daily_allowance=allowance)
    ids = candidate_ids(vote)
    members = [make_member(tree.tianhe_union, f"会员{i}") for i in range(8)]
    selectors.snapshot(vote.pk)
    plans: list[tuple[Member, list[int], bool]] = []
    for i, member in enumerate(members):
        turn = ids[i % len(ids) :] + ids[: i % len(ids)]
        # One thread on the hot lane (a pass), one on the session path, c2 in both.
        plans.append((member, [turn[0], turn[1], turn[2]], True))
        plans.append((member, [turn[2], turn[3], turn[4]], False))
    granted = {m.pk: pass_of(vote, m) for m in members}

    def caster(member: Member, picks: list[int], with_pass: bool) -> Callable[[], list[tuple[int, Any]]]:
        def cast() -> list[tuple[int, Any]]:
            out: list[tuple[int, Any]] = []
            for candidate in picks:
                try:
                    if with_pass:
                        result = actions.cast_with_pass(
                            activity_id=vote.pk, granted=granted[member.pk], candidate_ids=[candidate]
                        )
                    else:
                        result = actions.cast_ballot(activity_id=vote.pk, member=member, candidate_ids=[candidate])
                except DomainError as exc:
                    result = exc
                out.append((candidate, result))
            return out

        return cast

    results = race(*[caster(*plan) for plan in plans])
    assert not [r for r in results if isinstance(r, Exception)], results

    assert_the_rules_held(vote, members, allowance)
    answers: dict[int, list[tuple[int, Any]]] = defaultdict(list)
    for (member, _, _), outcome in zip(plans, results, strict=True):
        answers[member.pk].extend(outcome)
    for member in members:
        ballots = {b.pk: b for b in ballots_of(vote, member)}
        chosen = set(choices_of(vote, member))
        ok = [(c, r) for c, r in answers[member.pk] if isinstance(r, actions.CastResult)]
        refused = [(c, r) for c, r in answers[member.pk] if not isinstance(r, actions.CastResult)]
        # Five distinct candidates, an allowance of four: exactly four ballots, every one
        # of them answered to its thread, and every answer a ballot in the database.
        assert len(ballots) == allowance, (member.pk, answers[member.pk])
        assert sorted(r.ballot_id for _, r in ok) == sorted(ballots)
        for candidate, result in ok:
            ballot = ballots[result.ballot_id]
            assert ballot.member_id == member.pk and ballot.seq == result.seq
            assert result.candidate_ids == [candidate] and result.remaining_today == allowance - result.seq
            assert list(BallotChoice.objects.filter(ballot=ballot).values_list("candidate_id", flat=True)) == [
                candidate
            ]
        assert len(refused) == 2, refused
        for candidate, exc in refused:
            assert exc.code in REFUSALS, exc
            if exc.code == "VOTE_CANDIDATE_TODAY":
                assert candidate in chosen
    assert batches.failures == 0
    assert batches.written >= 1
    assert batches.largest() > 1, batches.groups  # ballots of different members shared a statement
    # A batch holds one ballot of a member: the second waits for the next one.
    for group in batches.groups:
        assert len({m for m, _ in group}) == len(group)


# --- the statement's own checks, and the database's last word ---------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_the_statement_refuses_over_the_allowance_and_a_repeated_candidate(tree: Tree, batches: Batches) -> None:
    vote = make_vote(tree.tianhe, candidates=4, daily_allowance=2)
    ids = candidate_ids(vote)
    member = make_member(tree.tianhe_union, "陈静")
    granted = pass_of(vote, member)

    def cast(candidate: int) -> Any:
        try:
            return actions.cast_with_pass(activity_id=vote.pk, granted=granted, candidate_ids=[candidate])
        except DomainError as exc:
            return exc

    first = cast(ids[0])
    assert isinstance(first, actions.CastResult) and (first.seq, first.remaining_today) == (1, 1)
    assert batches.groups == [[(member.pk, True)]]
    # The same candidate again: the statement writes nothing (no error, no batch failure),
    # and the one-at-a-time path gives the refusal.
    assert code(cast(ids[0])) == "VOTE_CANDIDATE_TODAY"
    assert batches.groups[-1] == [(member.pk, False)] and batches.failures == 0
    assert cast(ids[1]).seq == 2
    # Over the allowance: again nothing written by the statement itself.
    assert code(cast(ids[2])) == "VOTE_DAILY_LIMIT"
    assert batches.groups[-1] == [(member.pk, False)] and batches.failures == 0
    assert [b.seq for b in ballots_of(vote, member)] == [1, 2]
    assert sorted(choices_of(vote, member)) == sorted(ids[:2])
    assert_the_rules_held(vote, [member], 2)


@dataclass
class Held:
    """A ballot cast on the one-at-a-time path inside a transaction kept open until released:
    its rows are written and locked but not yet visible to the writer's statement."""

    member: Member
    activity: Activity
    candidate: int
    decided: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    result: Any = None

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.result = actions.cast_ballot(
                    activity_id=self.activity.pk, member=self.member, candidate_ids=[self.candidate]
                )
                self.decided.set()
                self.release.wait(timeout=30)
        except Exception as exc:  # compared by the test
            self.result = exc
        finally:
            self.decided.set()
            connections.close_all()


def run_in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def work() -> None:
        try:
            out.append(call())
        except Exception as exc:  # compared by the test
            out.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, out


def wait_for_a_lock_wait(timeout: float = 20) -> None:
    """Until some backend of this database waits for a row lock (the writer's statement, on
    the held transaction's ballot)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.02)
    raise RaceDidNotFinish("the writer's statement never waited for the held ballot")


@pytest.mark.postgres_only
@on_postgres_only
@pytest.mark.parametrize(
    ("allowance", "same_candidate", "expected"),
    [(2, False, "ok"), (1, False, "VOTE_DAILY_LIMIT"), (3, True, "VOTE_CANDIDATE_TODAY")],
)
def test_a_batch_raced_by_the_direct_path_loses_nothing_and_breaks_no_rule(
    tree: Tree, batches: Batches, allowance: int, same_candidate: bool, expected: str
) -> None:
    """A member's ballot written (not yet committed) on the direct path with seq 1 while the
    writer's statement, which cannot see it, gives the same member's batch ballot seq 1 too,
    beside another member's ballot. The unique (activity, member, day, seq) makes the
    statement's insert wait and then do nothing for that member; the ballot goes back to its
    thread, whose one-at-a-time cast gives the right answer. Without the constraint the
    member would have two ballots numbered 1 (and over an allowance of 1)."""
    vote = make_vote(tree.tianhe, candidates=3, daily_allowance=allowance)
    ids = candidate_ids(vote)
    raced, bystander = make_member(tree.tianhe_union, "赵强"), make_member(tree.tianhe_union, "李明")
    selectors.snapshot(vote.pk)
    raced_pass, bystander_pass = pass_of(vote, raced), pass_of(vote, bystander)
    held = Held(raced, vote, ids[0])
    holder = threading.Thread(target=held.run, daemon=True)
    holder.start()
    assert held.decided.wait(timeout=20) and isinstance(held.result, actions.CastResult), held.result
    try:
        pick = ids[0] if same_candidate else ids[1]
        threads = [
            run_in_thread(
                lambda: actions.cast_with_pass(activity_id=vote.pk, granted=raced_pass, candidate_ids=[pick])
            ),
            run_in_thread(
                lambda: actions.cast_with_pass(activity_id=vote.pk, granted=bystander_pass, candidate_ids=[ids[2]])
            ),
        ]
        wait_for_a_lock_wait()
    finally:
        held.release.set()
        holder.join(timeout=20)
    for thread, _ in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    [raced_result], [bystander_result] = (out for _, out in threads)
    assert isinstance(bystander_result, actions.CastResult) and bystander_result.seq == 1
    # The two were one statement: the bystander's ballot written by it, the raced one not.
    assert [sorted(group) for group in batches.groups] == [sorted([(raced.pk, False), (bystander.pk, True)])]
    assert batches.failures == 0
    assert code(raced_result) == expected
    ballots = ballots_of(vote, raced)
    if expected == "ok":
        assert (raced_result.ballot_id, raced_result.seq) == (ballots[1].pk, 2)
        assert sorted(choices_of(vote, raced)) == sorted([ids[0], pick])
    else:
        assert [b.pk for b in ballots] == [held.result.ballot_id]
        assert choices_of(vote, raced) == [ids[0]]
    assert_the_rules_held(vote, [raced, bystander], allowance)


# --- the points event -------------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_a_batch_of_first_ballots_is_one_points_task_paid_once(tree: Tree, alice: User, batches: Batches) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.ACTIVITY, values={"points": 10})
    vote = make_vote(tree.tianhe, candidates=4, daily_allowance=3)
    ids = candidate_ids(vote)
    members = [make_member(tree.tianhe_union, f"积分{i}") for i in range(10)]
    selectors.snapshot(vote.pk)
    granted = {m.pk: pass_of(vote, m) for m in members}

    def first_ballot(member: Member, candidate: int) -> Callable[[], Any]:
        return lambda: actions.cast_with_pass(
            activity_id=vote.pk, granted=granted[member.pk], candidate_ids=[candidate]
        )

    with override_settings(TASKS={"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}):
        results = race(*[first_ballot(m, ids[i % len(ids)]) for i, m in enumerate(members)])
        assert all(isinstance(r, actions.CastResult) and r.seq == 1 for r in results), results
        assert batches.failures == 0 and batches.written == len(members)
        assert batches.largest() > 1, batches.groups
        tasks = list(DBTaskResult.objects.filter(task_path=AWARD_MANY).order_by("enqueued_at"))
        # One task per statement, naming that statement's members, each member in one task.
        assert len(tasks) == len(batches.groups)
        assert sorted(sorted(t.args_kwargs["args"][0]) for t in tasks) == sorted(
            sorted(m for m, _ in group) for group in batches.groups
        )
        assert {tuple(t.args_kwargs["args"][1:]) for t in tasks} == {(RuleKind.ACTIVITY.value, str(vote.pk))}
        assert not DBTaskResult.objects.filter(task_path=AWARD_ONE).exists()
        # Second ballots are no first participation: no task.
        seconds = race(
            *[
                (lambda m=m, i=i: actions.cast_with_pass(
                    activity_id=vote.pk, granted=granted[m.pk], candidate_ids=[ids[(i + 1) % len(ids)]]
                ))
                for i, m in enumerate(members)
            ]
        )  # fmt: skip
        assert all(isinstance(r, actions.CastResult) and r.seq == 2 for r in seconds), seconds
        assert DBTaskResult.objects.filter(task_path__in=(AWARD_MANY, AWARD_ONE)).count() == len(tasks)
        assert all(ledger.balance_of(m) == 0 for m in members)  # nothing paid before the worker runs
        call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)
    assert DBTaskResult.objects.filter(task_path=AWARD_MANY).successful().count() == len(tasks)
    assert {m.pk: ledger.balance_of(m) for m in members} == {m.pk: 10 for m in members}
    # A task run again (a worker killed after the awards, before marking it done) pays
    # nothing more (its return value counts the replayed awards, as award_task's does).
    for task in tasks:
        award_many_task.call(*task.args_kwargs["args"])
    assert {m.pk: ledger.balance_of(m) for m in members} == {m.pk: 10 for m in members}


# --- a batch that fails -----------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_a_failed_batch_rolls_back_and_every_ballot_is_cast_one_at_a_time(
    tree: Tree, alice: User, batches: Batches, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.ACTIVITY, values={"points": 10})
    vote = make_vote(tree.tianhe, candidates=3, daily_allowance=2)
    ids = candidate_ids(vote)
    members = [make_member(tree.tianhe_union, f"失败{i}") for i in range(6)]
    selectors.snapshot(vote.pk)
    granted = {m.pk: pass_of(vote, m) for m in members}
    recording = groupcommit._write_group
    failed: list[list[int]] = []

    def fail_once(group: list[groupcommit._Pending]) -> None:
        recording(group)  # the statement ran and wrote its rows …
        if not failed:
            failed.append([p.member_id for p in group])
            raise RuntimeError("the connection dropped")  # … and then the batch fails

    monkeypatch.setattr(groupcommit, "_write_group", fail_once)
    results = race(
        *[
            (lambda m=m: actions.cast_with_pass(activity_id=vote.pk, granted=granted[m.pk], candidate_ids=[ids[0]]))
            for m in members
        ]
    )
    assert all(isinstance(r, actions.CastResult) and r.seq == 1 for r in results), results
    assert failed and len(failed[0]) >= 1
    assert "vote group commit: batch of" in caplog.text
    # Nothing of the failed batch stayed: one ballot, one participation, one award each.
    assert_the_rules_held(vote, members, 2)
    assert sorted(r.ballot_id for r in results) == sorted(
        Ballot.objects.filter(activity=vote).values_list("pk", flat=True)
    )
    assert {m.pk: ledger.balance_of(m) for m in members} == {m.pk: 10 for m in members}
    # The writer lives on: the next ballots go through it again.
    again = actions.cast_with_pass(activity_id=vote.pk, granted=granted[members[0].pk], candidate_ids=[ids[1]])
    assert again.seq == 2 and batches.groups[-1] == [(members[0].pk, True)]


# --- when the writer is not used --------------------------------------------------------------


@pytest.mark.django_db
def test_nothing_goes_to_the_writer_when_switched_off_or_inside_a_transaction(tree: Tree, settings: Any) -> None:
    vote = make_vote(tree.tianhe, candidates=3, daily_allowance=3)
    ids = candidate_ids(vote)
    member = make_member(tree.tianhe_union, "周一")
    granted = pass_of(vote, member)
    with patch.object(groupcommit, "write", side_effect=AssertionError("sent to the writer")) as write:
        settings.VOTE_GROUP_COMMIT = False
        assert not groupcommit.enabled()
        assert actions.cast_with_pass(activity_id=vote.pk, granted=granted, candidate_ids=ids[:1]).seq == 1
        assert actions.cast_ballot(activity_id=vote.pk, member=member, candidate_ids=ids[1:2]).seq == 2
        # Switched on, but this test runs inside a transaction (and SQLite has one writer
        # anyway): still one at a time.
        settings.VOTE_GROUP_COMMIT = True
        assert not groupcommit.enabled()
        assert actions.cast_with_pass(activity_id=vote.pk, granted=granted, candidate_ids=ids[2:3]).seq == 3
    write.assert_not_called()
    assert groupcommit._current is None or groupcommit._current[0] != os.getpid()


@pytest.mark.postgres_only
@on_postgres_only
def test_only_unkeyed_open_contest_ballots_go_to_the_writer(tree: Tree, batches: Batches) -> None:
    member = make_member(tree.tianhe_union, "吴二")
    election = make_vote(tree.tianhe, candidates=3)
    secret = make_vote(tree.tianhe, candidates=3, secret=True)
    contest = make_vote(tree.tianhe, candidates=3, daily_allowance=3)
    assert groupcommit.enabled()
    with patch.object(groupcommit, "write", wraps=groupcommit.write) as write:
        actions.cast_ballot(activity_id=election.pk, member=member, candidate_ids=candidate_ids(election)[:1])
        actions.cast_ballot(activity_id=secret.pk, member=member, candidate_ids=candidate_ids(secret)[:1])
        keyed = actions.cast_ballot(
            activity_id=contest.pk, member=member, candidate_ids=candidate_ids(contest)[:1], request_key="k1"
        )
        assert write.call_count == 0
        plain = actions.cast_ballot(activity_id=contest.pk, member=member, candidate_ids=candidate_ids(contest)[1:2])
        assert write.call_count == 1
    assert (keyed.seq, plain.seq) == (1, 2)
    assert batches.groups == [[(member.pk, True)]]


# --- the writer itself (no database: its batch write is replaced) ------------------------------


def _pending_args() -> dict[str, Any]:
    return {
        "activity": Activity(pk=1),
        "allowance": 4,
        "day": selectors.today(),
        "member_id": 7,
        "org_path": "0001",
        "candidate_ids": [1],
    }


def test_a_thread_waits_no_longer_than_the_limit_and_is_told_to_retry() -> None:
    release = threading.Event()

    def stuck(self: Any, batch: list[Any]) -> None:
        release.wait(10)

    try:
        with patch.object(groupcommit._Writer, "_write", stuck), patch.object(groupcommit, "WAIT_SECONDS", 0.2):
            with pytest.raises(DomainError) as refused:
                groupcommit.write(**_pending_args())
            assert refused.value.code == "VOTE_BUSY"
            release.set()
    finally:
        release.set()
        groupcommit.shutdown()


def test_a_writer_thread_that_died_is_replaced() -> None:
    def written(self: Any, batch: list[Any]) -> None:
        for pending in batch:
            pending.written = groupcommit.Written(ballot_id=99, seq=1)

    try:
        with patch.object(groupcommit._Writer, "_write", written):
            assert groupcommit.write(**_pending_args()) == groupcommit.Written(99, 1)
            dead = groupcommit._writer()
            dead.stop()  # the thread ends, the module still holds it
            assert not dead.thread.is_alive()
            assert groupcommit.write(**_pending_args()) == groupcommit.Written(99, 1)
            assert groupcommit._writer() is not dead
    finally:
        groupcommit.shutdown()
