"""Acceptance on PostgreSQL: a notice to a subtree of 100,000 members survives a killed worker.

The members are loaded once per module with COPY (precomputed columns; the ID ciphertext
is a placeholder, nothing here decrypts it) into a committed database, so that a real
worker process can see them. Each test sends its own broadcast over the same members
and checks, with SQL over the whole table, that every recipient has exactly one copy and
nobody else has any.

- ``test_worker_dying_mid_batch_…``: the worker dies inside the 6th batch transaction,
  after its INSERT and before COMMIT; ``resume_stale_broadcasts`` finds it and finishes.
- ``test_worker_process_killed_…``: a separate worker process gets SIGKILL while it
  delivers; two workers then resume it at the same time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from gonghui.conftest import make_cadre, make_org
from gonghui.core.access import RoleKind
from gonghui.inbox import actions, delivery
from gonghui.inbox.models import Broadcast, BroadcastStatus, Message
from gonghui.members.models import Member
from gonghui.members.seeding import copy_statement, member_columns
from gonghui.orgs.models import Org, OrgLevel

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the acceptance run is on PostgreSQL"),
]

MEMBERS = 100_000
GRASSROOTS = 20
BATCH = 5_000
ROOT = Path(settings.BASE_DIR)


class WorkerKilled(BaseException):
    """Stands for SIGKILL inside the process: nothing after it runs, the transaction dies."""


def copy_members(orgs: list[Org], count: int, start: int, **overrides: Any) -> None:
    """COPY ``count`` synthetic members spread over ``orgs`` (as fast as the table allows)."""
    attnames, tail = member_columns()
    columns = {f.attname: str(f.column) for f in Member._meta.concrete_fields}
    now = timezone.now()
    defaults = dict(zip(attnames[len(attnames) - len(tail) :], tail, strict=True))
    statement = copy_statement(Member._meta.db_table, [columns[a] for a in attnames])
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for i in range(start, start + count):
            org = orgs[i % len(orgs)]
            values = {
                **defaults,
                "org_id": org.pk,
                "org_path": org.path,
                "name": f"会员{i}",
                "name_pinyin": f"huiyuan{i}",
                "name_initials": "hy",
                "id_number_enc": b"placeholder",
                "id_number_bidx": f"bench-{i:09d}",
                "id_number_masked": "440106********0000",
                "gender": "M" if i % 2 else "F",
                "birth_year": 1970 + i % 30,
                "ethnicity": "汉族",
                "mobile": "",
                "education": "",
                "political_status": "",
                "household_type": "",
                "employment_status": "employed",
                "is_migrant_worker": False,
                "new_employment_group": "",
                "skill_level": "",
                "workplace": org.name,
                "join_date": date(2020, 1, 1),
                "card_number": None,
                "status": "active",
                "retain_reason": "",
                "created_at": now,
                "updated_at": now,
                **overrides,
            }
            copy.write_row([values[a] for a in attnames])


@pytest.fixture(scope="module")
def big_district(django_db_setup: Any, django_db_blocker: Any) -> Iterator[dict[str, Any]]:
    """A district with 100,000 members under 20 grassroots unions, a neighbour with 1,000,
    and 30 in the district who must not be reached (left or erased). Built once, committed."""
    with django_db_blocker.unblock():
        province = make_org(None, OrgLevel.PROVINCE, "广东省总工会", region_code="440000")
        city = make_org(province, OrgLevel.CITY, "广州市总工会", region_code="440100")
        district = make_org(city, OrgLevel.DISTRICT, "天河区总工会", region_code="440106")
        neighbour = make_org(city, OrgLevel.DISTRICT, "越秀区总工会", region_code="440104")
        street = make_org(district, OrgLevel.STREET, "石牌街道总工会", region_code="440106")
        unions = [
            make_org(
                street, OrgLevel.GRASSROOTS, f"天河第{n}公司工会", unit_name=f"天河第{n}公司", region_code="440106"
            )
            for n in range(GRASSROOTS)
        ]
        other = make_org(neighbour, OrgLevel.GRASSROOTS, "越秀公司工会", unit_name="越秀公司", region_code="440104")
        started = time.perf_counter()
        copy_members(unions, MEMBERS, 0)
        copy_members([other], 1_000, MEMBERS)
        copy_members(unions, 20, MEMBERS + 1_000, status="left")
        copy_members(unions, 10, MEMBERS + 1_100, erased_at=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {Member._meta.db_table}")
        cadre = make_cadre("bigboss", "区总干部", district, RoleKind.ADMIN)
        print(f"\nloaded {MEMBERS + 1_030:,} members in {time.perf_counter() - started:.1f} s")  # noqa: T201
        yield {"district": district, "cadre": cadre}
        # A killed worker's server process may outlive it for a moment; it must not keep
        # the test database from being dropped at the end of the session.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def unblocked(django_db_blocker: Any) -> Iterator[None]:
    with django_db_blocker.unblock():
        yield


def new_broadcast(big: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Broadcast:
    """A queued broadcast to the whole district, its task not yet run (we run it by hand)."""
    queued: list[int] = []
    monkeypatch.setattr(actions, "enqueue_delivery", queued.append)
    broadcast = actions.send_broadcast(big["cadre"], big["district"], "关于开展夏季送清凉活动的通知", "正文", {})
    monkeypatch.undo()
    assert queued == [broadcast.pk]
    assert broadcast.total == MEMBERS
    return broadcast


def assert_exactly_once(broadcast: Broadcast, district: Org) -> None:
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DONE
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(DISTINCT msg.member_id),
                   count(*) FILTER (WHERE m.org_path NOT LIKE %s OR m.status = 'left' OR m.erased_at IS NOT NULL)
            FROM inbox_message msg JOIN members_member m ON m.id = msg.member_id
            WHERE msg.broadcast_id = %s
            """,
            [district.path + "%", broadcast.pk],
        )
        copies, distinct, strays = cursor.fetchone()
    assert (copies, distinct, strays) == (MEMBERS, MEMBERS, 0)
    assert broadcast.sent == MEMBERS


def test_worker_dying_mid_batch_resumes_and_everyone_has_one_copy(
    big_district: dict[str, Any], unblocked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    broadcast = new_broadcast(big_district, monkeypatch)
    real_insert = delivery.insert_copies
    batches = {"n": 0}

    def insert_then_die(*args: Any) -> int:
        batches["n"] += 1
        inserted = real_insert(*args)
        if batches["n"] == 6:
            raise WorkerKilled  # inside the 6th batch's transaction, after its INSERT
        return inserted

    monkeypatch.setattr(delivery, "insert_copies", insert_then_die)
    with pytest.raises(WorkerKilled):
        delivery.deliver(broadcast.pk, size=BATCH)
    monkeypatch.setattr(delivery, "insert_copies", real_insert)

    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.RUNNING
    assert broadcast.sent == 5 * BATCH == Message.objects.filter(broadcast=broadcast).count()

    # The worker is gone; after the stale interval the housekeeping command resumes it
    # (ImmediateBackend runs the re-enqueued task right away).
    assert actions.resume_stale_broadcasts() == []
    Broadcast.objects.filter(pk=broadcast.pk).update(heartbeat_at=timezone.now() - 2 * actions.stale_after())
    started = time.perf_counter()
    assert actions.resume_stale_broadcasts() == [broadcast.pk]
    print(f"\nresumed {MEMBERS - 5 * BATCH:,} copies in {time.perf_counter() - started:.1f} s")  # noqa: T201
    assert_exactly_once(broadcast, big_district["district"])


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    # libpq names the worker's sessions, so the test can wait for them to end.
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "gonghui.test_settings",
        "PGAPPNAME": WORKER_APP_NAME,
    }


WORKER_APP_NAME = "gonghui-test-worker"


def wait_for_worker_sessions_to_end(timeout: float = 30) -> None:
    """A SIGKILLed client's server session may still be executing the COMMIT it had sent:
    only once the session is gone does the database stop changing under the test."""
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER_APP_NAME])
            (alive,) = cursor.fetchone()
        if not alive:
            return
        assert time.monotonic() < deadline, "the killed worker's database session never ended"
        time.sleep(0.05)


WORKER = """
import django
django.setup()
from gonghui.inbox import delivery
delivery.deliver({pk}, size={size})
"""


def test_worker_process_killed_resumes_with_two_workers_and_everyone_has_one_copy(
    big_district: dict[str, Any], unblocked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    broadcast = new_broadcast(big_district, monkeypatch)
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", WORKER.format(pk=broadcast.pk, size=2_000)], cwd=ROOT, env=worker_env()
    )
    try:
        deadline = time.monotonic() + 60
        while Broadcast.objects.values_list("sent", flat=True).get(pk=broadcast.pk) < 20_000:
            assert worker.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    wait_for_worker_sessions_to_end()

    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.RUNNING
    assert 20_000 <= broadcast.sent < MEMBERS
    assert Message.objects.filter(broadcast=broadcast).count() == broadcast.sent  # no half batch survived

    # Two workers resume at once (a cron resume racing a cadre's "继续发送"): they take
    # turns on the row lock and the cursor, and nothing is delivered twice.
    errors: list[BaseException] = []

    def resume() -> None:
        try:
            delivery.deliver(broadcast.pk, size=BATCH)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert_exactly_once(broadcast, big_district["district"])


@pytest.mark.django_db
def test_a_batch_reads_the_subtree_index_from_the_cursor(big_district: dict[str, Any]) -> None:
    """The batch query walks ``(LEFT(org_path, 12), id)`` from the cursor: it reads one
    batch of index entries, never the rest of the table (this test's ``django_db`` mark
    is also what makes pytest-django create the test database for the module)."""
    path = big_district["district"].path
    qs = delivery.in_id_order(delivery.recipients(path, {}), path).filter(pk__gt=0).values_list("pk", "mobile")
    sql, params = qs[:BATCH].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "member_subtree12_idx" in plan, plan
    assert "Sort" not in plan, plan


@pytest.mark.django_db
def test_the_unread_badge_is_answered_by_the_partial_indexes(
    big_district: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portal's badge query (member OR account, unread) with 100,000 broadcast copies
    in the table: a BitmapOr of the two partial unread indexes, no scan of the table.
    (pytest-django runs ``django_db`` tests first, so this one makes its own copies; its
    transaction rolls them back.)"""
    from gonghui.inbox.selectors import unread

    monkeypatch.setattr(actions, "enqueue_delivery", lambda broadcast_id: None)
    broadcast = actions.send_broadcast(big_district["cadre"], big_district["district"], "通知", "正文", {})
    path = big_district["district"].path
    last = Member.objects.order_by("-pk").values_list("pk", flat=True)[0]
    delivery.insert_copies(broadcast, path, last, timezone.now())
    member = Member.objects.filter(org_path__startswith=path, status="active", erased_at__isnull=True).first()
    assert Message.objects.filter(member=member).count() == 1
    sql, params = unread(big_district["cadre"], member).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE inbox_message")
        cursor.execute(f"EXPLAIN SELECT count(*) FROM ({sql}) AS u", params)  # noqa: S608 - ORM-compiled SQL
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "message_unread_idx" in plan and "message_user_unread_idx" in plan, plan
    assert "Seq Scan on inbox_message" not in plan, plan
