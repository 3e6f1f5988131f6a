"""Console test fixtures, and Playwright pointed at Debian's Chromium for the browser tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from gonghui.conftest import Tree, console_client, make_cadre, make_member
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members.models import Member

# Playwright's sync API runs an event loop in the test thread; the ORM calls the browser
# tests make (reading TOTP keys, checking audit rows) are still plain synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Login throttling counts failures in the cache: one test's failures must not lock out the next.
    cache.clear()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


@pytest.fixture
def sam(tree: Tree) -> User:
    """A 干事 (staff) of Tianhe: may view and edit members, may not reveal or read the audit log."""
    return make_cadre("sam", "萨姆", tree.tianhe, RoleKind.STAFF, "13800000007")


@pytest.fixture
def bob_client(bob: User) -> Client:
    return console_client(bob)


@pytest.fixture
def charlie_client(charlie: User) -> Client:
    return console_client(charlie)


@pytest.fixture
def tianhe_member(tree: Tree) -> Member:
    return make_member(tree.tianhe_union, "王天河", mobile="13612345678")


@pytest.fixture
def nanshan_member(tree: Tree) -> Member:
    return make_member(tree.nanshan_union, "李南山", mobile="13712345678")
