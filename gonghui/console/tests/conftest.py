"""Console test fixtures (the browser set-up is in gonghui/conftest.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client, make_cadre, make_member
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members.models import Member


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
