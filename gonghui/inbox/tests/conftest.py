"""Inbox test fixtures (the tree and personas are in gonghui/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gonghui.conftest import Tree, make_member
from gonghui.inbox import actions
from gonghui.inbox.models import Broadcast
from gonghui.members.models import Member


@pytest.fixture
def tianhe_people(tree: Tree) -> list[Member]:
    """Five members in Tianhe (one left, one erased) and the grassroots union's chair."""
    people = [
        make_member(tree.tianhe_union, "王一", mobile="13600000001"),
        make_member(tree.tianhe_union, "王二", mobile="13600000002", employment_status="retired"),
        make_member(tree.tianhe_street, "王三", new_employment_group="courier"),
        make_member(tree.tianhe, "王四", mobile="13600000004"),
    ]
    left = make_member(tree.tianhe_union, "王走", mobile="13600000005")
    Member.objects.filter(pk=left.pk).update(status="left")
    erased = make_member(tree.tianhe_union, "王删")
    Member.objects.filter(pk=erased.pk).update(erased_at="2026-01-01T00:00:00Z", mobile="")
    return people


@pytest.fixture
def send(django_capture_on_commit_callbacks: Any) -> Callable[..., Broadcast]:
    """``send_broadcast`` with its after-commit delivery run (ImmediateBackend)."""

    def run(*args: Any, **kwargs: Any) -> Broadcast:
        with django_capture_on_commit_callbacks(execute=True):
            broadcast = actions.send_broadcast(*args, **kwargs)
        broadcast.refresh_from_db()
        return broadcast

    return run
