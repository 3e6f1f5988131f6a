"""The race helper: results in call order, a cap on threads, and no thread left behind
holding a connection when a call hangs."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from gonghui.core.errors import DomainError
from gonghui.testing.concurrency import RaceDidNotFinish, on_postgres_only, race, tally

pytestmark = pytest.mark.django_db(transaction=True)


def test_results_come_back_in_call_order_with_exceptions_as_values() -> None:
    def fail() -> None:
        raise DomainError("SOLD_OUT")

    results = race(lambda: 1, fail, lambda: 3)
    assert results[0] == 1 and results[2] == 3
    assert isinstance(results[1], DomainError)
    assert tally(results) == {"ok": 2, "SOLD_OUT": 1}
    assert tally([ValueError("x")]) == {"ValueError": 1}


def test_workers_cap_the_threads_and_every_call_is_made_once() -> None:
    seen: set[int] = set()

    def call(i: int) -> int:
        seen.add(threading.get_ident())
        return i

    assert race(*[lambda i=i: call(i) for i in range(12)], workers=3) == list(range(12))
    assert 1 <= len(seen) <= 3


def sessions() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {pid for (pid,) in cursor.fetchall()}


@on_postgres_only
def test_a_call_waiting_on_the_callers_lock_is_released_and_fails_loudly() -> None:
    """The caller's transaction holds a lock the racing call waits for: without help the
    thread would sit there with its connection open for the rest of the run."""
    before = sessions()

    def wait_for_lock() -> None:
        connection.close()  # a call may reconnect: the connection released is the one it waits on
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(4242)")

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(4242)")
        with pytest.raises(RaceDidNotFinish, match="1 of 2 racing threads"):
            race(lambda: None, wait_for_lock, timeout=2)
        assert sessions() <= before  # every connection the race opened is gone
