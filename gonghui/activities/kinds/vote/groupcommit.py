"""Group commit of contest ballots (评选) on PostgreSQL.

A 评选 at the scale of a province is hundreds of ballots a second, each a few rows. Written
one transaction per ballot, PostgreSQL spends most of its time on what every ballot
repeats — planning the statement, starting and committing the transaction, flushing the
WAL — and little on the rows (docs/PERFORMANCE.md). Here the ballots that arrive together
in one web process are written together: request threads hand their ballot to the
process's writer thread and wait; the writer takes everything waiting (up to
``VOTE_GROUP_COMMIT_MAX``, one ballot per member) and writes it with **one statement in
one transaction**, then answers every waiting thread. While that transaction runs the next
batch gathers, so a busy process writes bigger batches and an idle one writes batches of
one: no timer, no added wait beyond the commit the ballot needed anyway.

The rules are the same as one ballot at a time, and the database still has the last word:

- the statement reads each member's choices today (one snapshot for the statement), keeps
  the ballots within the day's allowance and without a candidate already voted for today,
  and inserts them with ``seq = ballots today + 1``;
- ``ON CONFLICT DO NOTHING`` on the ballot: a racing ballot of the same member (another
  process, the direct path) that took the same ``seq`` first makes this one insert
  nothing — it is not lost, it goes back to its thread;
- every ballot the statement did not write — over the allowance, a repeated candidate,
  the vote closed, a race lost — is cast again by its own thread on the one-at-a-time path
  (``actions._cast_open``), which gives the exact answer (a refusal with its code, or the
  ballot on a fresh count). So a batch never decides a refusal itself;
- any database error in a batch (a constraint the statement did not foresee, a lost
  connection) rolls the batch back and sends every ballot of it down the same path.

First ballots write the participation row in the same statement and announce the batch's
first participations with one ``participated_many`` event (one points task for the batch)
inside the same transaction.

Only open (named) contest ballots without an ``Idempotency-Key`` come here; secret ballots,
once-only votes and keyed retries take the one-at-a-time path. SQLite has one writer
anyway: there the path is always one at a time.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice
from gonghui.activities.models import Activity, ActivityStatus, Participation
from gonghui.core.errors import Conflict

logger = logging.getLogger(__name__)

# The writer closes its database connection after this long without a ballot.
IDLE_SECONDS = 5.0
# A request thread gives up waiting for its batch after this long (``VOTE_BUSY``).
WAIT_SECONDS = 60.0


@dataclass
class Written:
    ballot_id: int
    seq: int


@dataclass(eq=False)
class _Pending:
    activity: Activity
    allowance: int
    day: date
    member_id: int
    org_path: str
    candidate_ids: list[int]
    done: threading.Event = field(default_factory=threading.Event)
    written: Written | None = None


def enabled() -> bool:
    """Whether this ballot may go to the writer: PostgreSQL, switched on, and the caller
    is not inside a transaction of its own (the writer could not see its rows)."""
    return bool(settings.VOTE_GROUP_COMMIT) and connection.vendor == "postgresql" and not connection.in_atomic_block


def write(
    *, activity: Activity, allowance: int, day: date, member_id: int, org_path: str, candidate_ids: list[int]
) -> Written | None:
    """Write this ballot with whatever else is waiting; ``None``: cast it one at a time."""
    pending = _Pending(activity, allowance, day, member_id, org_path, candidate_ids)
    _writer().submit(pending)
    if not pending.done.wait(WAIT_SECONDS):
        # Never seen; a writer stuck on the database. The ballot may still be written:
        # the voter is told to retry, and the allowance holds either way.
        logger.error("vote group commit: no answer from the writer in %s s", WAIT_SECONDS)
        raise Conflict("VOTE_BUSY", "投票人数较多，请稍后重试。")
    return pending.written


class _Writer:
    """The process's writer thread and its queue."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="vote-group-commit", daemon=True)
        self.thread.start()

    def submit(self, pending: _Pending) -> None:
        self.queue.put(pending)

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)

    def _run(self) -> None:
        held: list[_Pending] = []  # a member's second ballot waits for the next batch
        while True:
            if held:
                first: _Pending | None = held.pop(0)
            else:
                try:
                    first = self.queue.get(timeout=IDLE_SECONDS)
                except queue.Empty:
                    _close_quietly()
                    continue
            if first is None:
                _close_quietly()
                for pending in held:
                    pending.done.set()
                return
            batch, stopping = self._gather(first, held)
            try:
                self._write(batch)
            except Exception:  # every ballot goes back to its thread, the writer lives on
                logger.exception("vote group commit: batch of %d failed, cast one at a time", len(batch))
                _close_quietly()
            for pending in batch:
                pending.done.set()
            if stopping:
                self.queue.put(None)

    def _gather(self, first: _Pending, held: list[_Pending]) -> tuple[list[_Pending], bool]:
        batch = [first]
        members = {(first.activity.pk, first.member_id)}
        later = list(held)
        held.clear()
        stopping = False
        while len(batch) < settings.VOTE_GROUP_COMMIT_MAX:
            if later:
                pending: _Pending | None = later.pop(0)
            else:
                try:
                    pending = self.queue.get_nowait()
                except queue.Empty:
                    break
            if pending is None:
                stopping = True
                break
            key = (pending.activity.pk, pending.member_id)
            if key in members:
                held.append(pending)
            else:
                members.add(key)
                batch.append(pending)
        held.extend(later)
        return batch, stopping

    def _write(self, batch: list[_Pending]) -> None:
        groups: dict[tuple[int, date], list[_Pending]] = {}
        for pending in batch:
            groups.setdefault((pending.activity.pk, pending.day), []).append(pending)
        try:
            _generic_plans()
            with transaction.atomic():
                for group in groups.values():
                    _write_group(group)
        except Exception:
            for pending in batch:  # rolled back: nothing of the batch was written
                pending.written = None
            raise


def _close_quietly() -> None:
    """Close the writer's connection (idle, or after a failed batch); never raises."""
    try:
        close_old_connections()
        connection.close()
    except Exception:
        logger.warning("vote group commit: closing the connection failed", exc_info=True)


def _table(model: type) -> str:
    return connection.ops.quote_name(model._meta.db_table)  # type: ignore[attr-defined]


def _statement() -> str:
    ballot, choice, part, activity = _table(Ballot), _table(BallotChoice), _table(Participation), _table(Activity)
    # ``k`` numbers the batch's ballots; ``req`` and ``pick`` are the batch as arrays.
    return f"""
WITH req AS (
    SELECT * FROM unnest(%(k)s::int[], %(members)s::bigint[], %(paths)s::text[]) AS r(k, member_id, org_path)
), pick AS (
    SELECT * FROM unnest(%(pick_k)s::int[], %(pick_c)s::bigint[]) AS p(k, candidate_id)
), still_open AS (
    SELECT 1 FROM {activity}
    WHERE id = %(activity)s AND status = %(published)s AND starts_at <= %(now)s AND ends_at > %(now)s
), today AS (
    -- Per member, one index lookup on (activity, member, day, …). Today's date is past
    -- the statistics' histogram, so the planner believes today has almost no choices and
    -- would rather scan all of them once (it did, with ``member_id = ANY(…)`` and with a
    -- plain lateral join: 40,000 rows read for 16 members). ``OFFSET 0`` keeps the lateral
    -- subquery from being pulled up: it runs per member, on the index.
    SELECT r.member_id, t.ballot_id, t.candidate_id
    FROM req r
    CROSS JOIN LATERAL (
        SELECT ballot_id, candidate_id FROM {choice}
        WHERE activity_id = %(activity)s AND member_id = r.member_id AND day = %(day)s
        OFFSET 0
    ) t
), ok AS (
    SELECT r.k, r.member_id, r.org_path,
           (SELECT count(DISTINCT t.ballot_id) FROM today t WHERE t.member_id = r.member_id) + 1 AS seq
    FROM req r
    WHERE EXISTS (SELECT 1 FROM still_open)
      AND NOT EXISTS (
          SELECT 1 FROM today t JOIN pick p ON p.candidate_id = t.candidate_id
          WHERE t.member_id = r.member_id AND p.k = r.k
      )
), fits AS (
    SELECT * FROM ok WHERE seq <= %(allowance)s
), ins AS (
    INSERT INTO {ballot} (activity_id, member_id, day, seq, request_key, created_at)
    SELECT %(activity)s, member_id, %(day)s, seq, '', %(now)s FROM fits
    ON CONFLICT DO NOTHING
    RETURNING id, member_id, seq
), chosen AS (
    INSERT INTO {choice} (ballot_id, candidate_id, activity_id, member_id, day)
    SELECT ins.id, p.candidate_id, %(activity)s, ins.member_id, %(day)s
    FROM ins JOIN fits f ON f.member_id = ins.member_id JOIN pick p ON p.k = f.k
), joined AS (
    INSERT INTO {part} (activity_id, member_id, org_path, on_date)
    SELECT %(activity)s, f.member_id, f.org_path, %(on_date)s
    FROM ins JOIN fits f ON f.member_id = ins.member_id
    WHERE ins.seq = 1
    ON CONFLICT (activity_id, member_id) DO NOTHING
    RETURNING member_id
)
SELECT f.k, ins.id, ins.seq, joined.member_id IS NOT NULL
FROM ins JOIN fits f ON f.member_id = ins.member_id LEFT JOIN joined ON joined.member_id = ins.member_id
"""  # noqa: S608 - table names are the models' own


def _write_group(group: list[_Pending]) -> None:
    """One statement for the group's ballots (same vote, same day); marks those written."""
    first = group[0]
    now = timezone.now()
    params: dict[str, Any] = {
        "k": list(range(len(group))),
        "members": [p.member_id for p in group],
        "paths": [p.org_path for p in group],
        "pick_k": [k for k, p in enumerate(group) for _ in p.candidate_ids],
        "pick_c": [c for p in group for c in p.candidate_ids],
        "activity": first.activity.pk,
        "published": ActivityStatus.PUBLISHED.value,
        "now": now,
        "day": first.day,
        "on_date": timezone.localdate(now),
        "allowance": first.allowance,
    }
    rows = _run(_statement(), params)
    joined: list[int] = []
    for k, ballot_id, seq, first_time in rows:
        group[k].written = Written(int(ballot_id), int(seq))
        if first_time:
            joined.append(group[k].member_id)
    activity_actions.participations_recorded(first.activity, joined)


def _generic_plans() -> None:
    """Once per database connection, outside any transaction (a SET inside one would be
    undone by its rollback): plan prepared statements generically."""
    connection.ensure_connection()
    raw = connection.connection
    if settings.VOTE_GROUP_COMMIT_PREPARE and not getattr(raw, "_gonghui_generic_plans", False):
        with raw.cursor() as cursor:
            cursor.execute("SET plan_cache_mode TO force_generic_plan")
        raw._gonghui_generic_plans = True  # type: ignore[union-attr]


def _run(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Execute the batch statement as a prepared statement with a generic plan.

    Planning the statement cost more than running it for a batch (≈ 1.3 ms against ≈ 1 ms
    for 16 ballots, docs/PERFORMANCE.md). Django's cursors bind parameters on the client
    and cannot prepare, so the writer runs this one statement on a server-binding psycopg
    cursor of Django's own connection (same transaction), prepared once per connection;
    its session plans prepared statements generically (every batch has the same shape;
    the per-member lookup above does not depend on the plan's estimates).
    """
    import psycopg

    if not settings.VOTE_GROUP_COMMIT_PREPARE:
        with connection.cursor() as plain:
            plain.execute(sql, params)
            return list(plain.fetchall())
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


_lock = threading.Lock()
_current: tuple[int, _Writer] | None = None


def _writer() -> _Writer:
    """This process's writer (a forked worker starts its own)."""
    global _current
    with _lock:
        if _current is None or _current[0] != os.getpid() or not _current[1].thread.is_alive():
            _current = (os.getpid(), _Writer())
        return _current[1]


def shutdown() -> None:
    """Stop this process's writer (tests; the writer thread is a daemon otherwise)."""
    global _current
    with _lock:
        current, _current = _current, None
    if current is not None and current[0] == os.getpid():
        current[1].stop()
