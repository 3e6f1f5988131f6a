"""``manage.py redraw_unclaimed_prizes``: from cron (hourly), after ``close_due_activities``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.activities.kinds.lottery.actions import redraw_unclaimed


class Command(BaseCommand):
    help = "重抽逾期未确认领取的抽奖奖品（每个到期的抽奖进行一轮重抽）。"

    def handle(self, *args: Any, **options: Any) -> None:
        done = redraw_unclaimed()
        self.stdout.write(f"redrawn lotteries: {len(done)} {done if done else ''}".rstrip())
