"""Racing calls on PostgreSQL: what the concurrency tests share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

on_postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency is proven on PostgreSQL")


def race(*calls: Callable[[], Any], timeout: float = 60) -> list[Any]:
    """Run ``calls`` in threads released together by a barrier; each thread has its own
    database connection. Returns each call's result or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            connection.ensure_connection()
            barrier.wait(timeout=30)
            results[i] = calls[i]()
        except Exception as exc:  # compared by the test
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return results
