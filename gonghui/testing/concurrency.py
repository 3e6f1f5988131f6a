"""Racing calls on PostgreSQL: what the concurrency tests share.

- ``race``: run calls on threads released together, each thread with its own connection.
- ``hold_then_race``: one call inside a transaction held open, a second call meanwhile.
- ``tally``: count a race's outcomes ("ok", a ``DomainError`` code, or an exception's name).
- ``on_postgres_only``: the skip mark for tests that prove a guarantee under concurrency.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from gonghui.core.errors import DomainError

on_postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency is proven on PostgreSQL")


class RaceDidNotFinish(RuntimeError):
    """A racing thread was still running when ``race`` gave up on it."""


def race(*calls: Callable[[], Any], workers: int | None = None, timeout: float = 60) -> list[Any]:
    """Run ``calls`` on threads released together by a barrier; each thread has its own
    database connection. Returns each call's result or the exception it raised, in the
    order of ``calls``.

    ``workers`` caps the threads (and so the connections): that many start together and
    take the calls one after another, for races with more calls than PostgreSQL has
    connections to spare. By default every call has its own thread.

    Every thread has ended, and closed its connection, when ``race`` returns. A call still
    running after ``timeout`` seconds (say, waiting for a row the caller's own transaction
    has locked) is not left behind holding its connection: its server process is terminated,
    which releases the thread, and ``RaceDidNotFinish`` is raised.
    """
    if not calls:
        return []
    count = min(workers or len(calls), len(calls))
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * len(calls)
    handles: dict[int, BaseDatabaseWrapper] = {}  # each worker's connection, to release it if it hangs
    lock = threading.Lock()
    todo = iter(range(len(calls)))

    def work(worker: int) -> None:
        try:
            handles[worker] = connections[DEFAULT_DB_ALIAS]
            connection.ensure_connection()
            barrier.wait(timeout=timeout)
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    results[i] = calls[i]()
                except Exception as exc:  # compared by the test
                    results[i] = exc
        except Exception as exc:  # never reached the calls (no connection, a broken barrier)
            barrier.abort()  # the others stop waiting for this thread
            with lock:  # the calls nobody will make say why
                for i in todo:
                    results[i] = exc
        finally:
            connections.close_all()

    # Daemon threads: one that cannot be released must not keep the test run from exiting.
    threads = [threading.Thread(target=work, args=(w,), daemon=True) for w in range(count)]
    for thread in threads:
        thread.start()
    _join(threads, timeout)
    hung = [w for w, thread in enumerate(threads) if thread.is_alive()]
    if hung:
        barrier.abort()
        _terminate([handles[w] for w in hung if w in handles])
        _join([threads[w] for w in hung], 10)
        still = sum(threads[w].is_alive() for w in hung)
        raise RaceDidNotFinish(
            f"{len(hung)} of {count} racing threads were still running after {timeout}s; their "
            "connections were terminated" + (f", but {still} thread(s) are stuck outside the database" if still else "")
        )
    return results


def hold_then_race(
    first: Callable[[], Any], second: Callable[[], Any], *, hold: float = 0.5, timeout: float = 30
) -> tuple[Any, Any]:
    """Run ``first`` in a transaction kept open for ``hold`` seconds after it has done its
    work, and ``second`` meanwhile, on two threads with their own connections.

    ``second`` starts once ``first`` has decided but not committed, so it runs into
    whatever ``first`` locked: without the lock it would act on a stale read. Returns each
    call's result or the exception it raised; ``RaceDidNotFinish`` if either hangs.
    """
    decided = threading.Event()
    results: list[Any] = [None, None]

    def run_first() -> None:
        try:
            with transaction.atomic():
                results[0] = first()
                decided.set()
                time.sleep(hold)
        except Exception as exc:  # compared by the test
            results[0] = exc
        finally:
            decided.set()
            connections.close_all()

    def run_second() -> None:
        try:
            connection.ensure_connection()
            decided.wait(timeout=timeout)
            results[1] = second()
        except Exception as exc:  # compared by the test
            results[1] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, daemon=True) for run in (run_first, run_second)]
    for thread in threads:
        thread.start()
    _join(threads, timeout)
    if any(thread.is_alive() for thread in threads):
        raise RaceDidNotFinish(f"hold_then_race: a call was still running after {timeout}s")
    return results[0], results[1]


def tally(results: Iterable[Any]) -> Counter[str]:
    """Count outcomes: "ok" for a call that returned, the code of a ``DomainError``, else the
    exception's class name (so an unexpected error shows up in the assertion that counts)."""
    return Counter(
        r.code if isinstance(r, DomainError) else type(r).__name__ if isinstance(r, Exception) else "ok"
        for r in results
    )


def _join(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))


def _terminate(handles: list[BaseDatabaseWrapper]) -> None:
    """End the server processes behind these (other threads') PostgreSQL connections, from a
    connection of our own: the caller's may hold the lock they wait for, or be in a failed
    transaction. The process id is read at this moment: a call may have reconnected."""
    pids = [h.connection.info.backend_pid for h in handles if h.vendor == "postgresql" and h.connection is not None]
    if not pids:
        return
    own = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with own.cursor() as cursor:
            for pid in pids:
                cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])  # waits until it is gone
    except DatabaseError:
        pass  # the RaceDidNotFinish raised next says the threads hung
    finally:
        own.close()
