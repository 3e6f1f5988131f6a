"""The browser tests' live server: the test thread keeps one set of connections while
Playwright runs, and the server's client connections are counted until they are served."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from playwright.sync_api import Browser

from gonghui.testing.liveserver import TrackedLiveServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.browser
def test_the_test_thread_keeps_one_connection_while_playwright_runs(
    live_server: TrackedLiveServer, browser: Browser
) -> None:
    loop = asyncio._get_running_loop()
    assert loop is not None, "Playwright marks its event loop as running in the test thread"
    while_marked = connections[DEFAULT_DB_ALIAS]
    asyncio._set_running_loop(None)
    try:
        unmarked = connections[DEFAULT_DB_ALIAS]
    finally:
        asyncio._set_running_loop(loop)
    assert while_marked is unmarked
    if unmarked.vendor == "sqlite" and unmarked.is_in_memory_db():
        # The server's threads work on the test thread's connection, not on more of them
        # sharing the in-memory database's cache (and locking each other's tables).
        assert live_server.thread.connections_override[DEFAULT_DB_ALIAS] is unmarked


def test_a_client_connection_counts_until_it_is_closed(live_server: TrackedLiveServer) -> None:
    traffic = live_server.traffic
    assert traffic.wait_until_idle(timeout=5)
    url = urlsplit(live_server.url)
    with socket.create_connection((url.hostname, url.port), timeout=5) as client:
        client.sendall(f"GET /healthz HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        assert client.recv(64).startswith(b"HTTP/1.1 200")
        # Served, but kept alive: the connection's thread still waits for the next request.
        assert traffic.open == 1
        assert not traffic.wait_until_idle(timeout=0.3)
    started = time.monotonic()
    assert traffic.wait_until_idle(timeout=5)
    assert traffic.open == 0 and time.monotonic() - started < 5
