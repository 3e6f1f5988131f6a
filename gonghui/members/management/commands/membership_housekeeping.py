"""``manage.py membership_housekeeping``: escalate overdue transfers, flag inactive members.

Idempotent; prints what it did. ``--enqueue`` queues the same work for a task worker.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from gonghui.members import housekeeping


class Command(BaseCommand):
    help = "转会超时督办、长期未活跃会员标记（可重复运行）。Escalate overdue transfers and flag inactive members."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--enqueue", action="store_true", help="queue the work for a db_worker instead")

    def handle(self, *args: Any, enqueue: bool, **options: Any) -> None:
        if enqueue:
            result = housekeeping.membership_housekeeping.enqueue()
            self.stdout.write(f"queued task {result.id}")
            return
        done = housekeeping.run()
        self.stdout.write(f"escalated transfers: {done.escalated}")
        self.stdout.write(f"flagged inactive members: {done.flagged}")
        self.stdout.write(f"resumed imports: {done.resumed_imports}")
        self.stdout.write(f"resumed verification batches: {done.resumed_verifications}")
