"""``manage.py mix_secret_ballots``: mix staged secret ballots (run from cron beside
``close_due_activities``; the cast path also queues the mixer every full batch)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.activities.kinds.vote.actions import sweep_secret_ballots


class Command(BaseCommand):
    help = "混合待混合的无记名选票（满一批的进行中投票、已结束投票的全部剩余选票）。Mix staged secret ballots."

    def handle(self, *args: Any, **options: Any) -> None:
        done = sweep_secret_ballots()
        total = sum(done.values())
        self.stdout.write(f"mixed {total} ballots in {len(done)} votes" + (f": {done}" if done else ""))
