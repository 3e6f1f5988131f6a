"""Fixtures of the rush tests: a published rush run by 天河区总工会, and members to grab."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gonghui.activities import actions
from gonghui.activities.kinds.rush import actions as rush_actions
from gonghui.activities.kinds.rush.models import RushItem
from gonghui.activities.models import Activity
from gonghui.conftest import Tree, make_member
from gonghui.members.models import Member

RushFactory = Callable[..., tuple[Activity, list[RushItem]]]


@pytest.fixture
def make_rush(tree: Tree) -> RushFactory:
    def make(
        stocks: tuple[int, ...] = (5,),
        *,
        opens_in: timedelta = timedelta(minutes=-1),
        settings: dict[str, Any] | None = None,
        publish: bool = True,
    ) -> tuple[Activity, list[RushItem]]:
        now = timezone.now()
        activity = actions.create_activity(
            actor=None,
            org=tree.tianhe,
            kind="rush",
            values={
                "title": "平安返乡抢票",
                "starts_at": now + opens_in,
                "ends_at": now + timedelta(days=3),
            },
            settings=settings or {},
        )
        items = [
            rush_actions.add_item(
                actor=None, activity=activity, name=f"G123{i} 广州南→长沙南", detail="2027-01-28", stock=stock
            )
            for i, stock in enumerate(stocks)
        ]
        if publish:
            activity = actions.publish_activity(actor=None, activity=activity)
        return activity, items

    return make


@pytest.fixture
def members(tree: Tree) -> Callable[[int], list[Member]]:
    def make(n: int) -> list[Member]:
        return [make_member(tree.tianhe_union, f"会员{i}") for i in range(n)]

    return make
