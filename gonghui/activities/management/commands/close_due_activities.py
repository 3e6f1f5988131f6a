from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.activities.actions import close_due_activities


class Command(BaseCommand):
    help = "Finalise every published activity past its end time (lottery draws, ballot mixing, final tallies)."

    def handle(self, *args: Any, **options: Any) -> None:
        done = close_due_activities()
        self.stdout.write(f"finalised {len(done)} activities" + (f": {done}" if done else ""))
