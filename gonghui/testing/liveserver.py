"""The browser tests' live server and the test thread's database connections.

Two things make a browser test's database writes collide with the live server's work, and
both are fixed here rather than in each test:

- **Requests still being served when the next test starts.** Closing a browser context
  drops its connections, but the server may still be running a request it had already
  read (a live search, an htmx poll, a navigation the test did not wait for). Its queries
  would then run alongside the next test's flush and fixtures: on SQLite's shared
  in-memory database that is "database table is locked", elsewhere rows of one test
  leaking into the next. ``ServerTraffic`` counts the server's open client connections
  (one handler thread each, its database work done before it ends) so that the browser
  fixture can wait for none to be left.

- **Two connections in the test thread.** Playwright's sync API marks its event loop as
  running in the test thread between calls, and Django keeps a thread's connections in
  an asgiref ``Local`` that, while a loop is running, switches to a second, context-local
  store. Once the first browser test has started Playwright, the test thread's ORM calls
  therefore open a second connection beside the one the test database was set up with.
  On SQLite that second connection shares the in-memory database's cache with the first
  (which the live server's threads use) and the two lock each other's tables; on
  PostgreSQL the first one stays open, idle after its last ``ROLLBACK``, and the test
  database cannot be dropped at the end of the run. ``share_test_thread_connections``
  makes both stores hold the same connection objects.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from typing import Any

from django.db import connections
from pytest_django.live_server_helper import LiveServer

# How long a browser context's connections may take to be served and closed after the
# context has been closed, and how long the server must then stay without a new one.
DRAIN_TIMEOUT = 15.0
DRAIN_SETTLE = 0.05


def share_test_thread_connections() -> None:
    """Let the test thread use the same connection objects whether or not Playwright's
    event loop is marked as running in it (see the module docstring).

    Call in the test thread, after Playwright has started; it is cheap to call again.
    A connection the loop-time store opened before is closed first, unless it is inside
    a transaction (which belongs to the test that opened it).
    """
    loop = asyncio._get_running_loop()
    if loop is None:
        return  # no loop marked as running: one store only
    asyncio._set_running_loop(None)
    try:
        plain = {alias: connections[alias] for alias in connections}
    finally:
        asyncio._set_running_loop(loop)
    for alias, connection in plain.items():
        current = connections[alias]
        if current is connection or current.in_atomic_block:
            continue
        current.close()
        connections[alias] = connection


class ServerTraffic:
    """Counts the live server's open client connections.

    Django's live server (a ``ThreadedWSGIServer``) serves each client connection on a
    thread of its own, through all its keep-alive requests, and closes that thread's
    database connections when the client connection ends. A connection is counted from
    the moment it is accepted until its thread has done all that.
    """

    def __init__(self, httpd: Any) -> None:
        self._changed = threading.Condition()
        self.open = 0
        self.accepted = 0
        process_request = httpd.process_request
        process_request_thread = httpd.process_request_thread

        def counted_process_request(request: socket.socket, client_address: Any) -> None:
            # Runs on the server's thread, before the connection's own thread starts.
            with self._changed:
                self.open += 1
                self.accepted += 1
            try:
                process_request(request, client_address)
            except BaseException:
                self._done()
                raise

        def counted_process_request_thread(request: socket.socket, client_address: Any) -> None:
            try:
                process_request_thread(request, client_address)
            finally:
                self._done()

        httpd.process_request = counted_process_request
        httpd.process_request_thread = counted_process_request_thread

    def _done(self) -> None:
        with self._changed:
            self.open -= 1
            self._changed.notify_all()

    def wait_until_idle(self, timeout: float = DRAIN_TIMEOUT, settle: float = DRAIN_SETTLE) -> bool:
        """Wait until no client connection is open, and none has arrived for ``settle``
        seconds (one the browser opened just before it closed may not be accepted yet).
        False if that did not happen within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self._changed:
                if not self._changed.wait_for(lambda: self.open == 0, max(0.0, deadline - time.monotonic())):
                    return False
                accepted = self.accepted
            time.sleep(settle)
            with self._changed:
                if self.open == 0 and self.accepted == accepted:
                    return True
            if time.monotonic() >= deadline:
                return False


class TrackedLiveServer(LiveServer):
    """pytest-django's live server, with ``traffic`` counting its client connections."""

    traffic: ServerTraffic

    def start(self) -> None:
        super().start()
        self.traffic = ServerTraffic(self.thread.httpd)


def start_live_server(addr: str | None = None) -> TrackedLiveServer:
    """Start the run's live server (as pytest-django's ``live_server`` fixture does).

    Call after the test database has been set up, in the test thread: on SQLite's
    in-memory database the server's threads then share the test thread's connection, as
    Django's ``LiveServerTestCase`` arranges, whichever test happens to start the server.
    (Started before the set-up, they would each open one of their own.)
    """
    share_test_thread_connections()
    return TrackedLiveServer(addr or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost")
