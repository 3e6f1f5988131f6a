"""Fixtures of the lottery tests: a lottery run by 天河区总工会 with three prize lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gonghui.activities import actions
from gonghui.activities.kinds.lottery import actions as lottery_actions
from gonghui.activities.models import Activity
from gonghui.conftest import Tree, make_member
from gonghui.members.models import Member

LotteryFactory = Callable[..., Activity]

PRIZES = (("一等奖：扫地机器人", 1, 1), ("二等奖：电影票两张", 2, 2), ("三等奖：工会定制水杯", 3, 3))


@pytest.fixture
def make_lottery(tree: Tree) -> LotteryFactory:
    def make(
        prizes: tuple[tuple[str, int, int], ...] = PRIZES,
        *,
        settings: dict[str, Any] | None = None,
        publish: bool = True,
        opens_in: timedelta = timedelta(minutes=-1),
    ) -> Activity:
        now = timezone.now()
        activity = actions.create_activity(
            actor=None,
            org=tree.tianhe,
            kind="lottery",
            values={"title": "五一职工幸运抽奖", "starts_at": now + opens_in, "ends_at": now + timedelta(days=3)},
            settings=settings or {},
        )
        for name, quantity, order in prizes:
            lottery_actions.add_prize(
                actor=None,
                activity=activity,
                values={
                    "name": name,
                    "quantity": quantity,
                    "order": order,
                    "claim_instructions": "凭领奖码到工会办公室领取",
                },
            )
        if publish:
            activity = actions.publish_activity(actor=None, activity=activity)
        return activity

    return make


@pytest.fixture
def members(tree: Tree) -> Callable[[int], list[Member]]:
    def make(n: int) -> list[Member]:
        return [make_member(tree.tianhe_union, f"会员{i}") for i in range(n)]

    return make
