from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.coupons.actions import resume_stale_bulk_issues


class Command(BaseCommand):
    help = "Re-enqueue bulk coupon issues whose worker died (periodic; safe to overlap)."

    def handle(self, *args: Any, **options: Any) -> None:
        resumed = resume_stale_bulk_issues()
        self.stdout.write(f"resumed {len(resumed)} bulk issues" + (f": {resumed}" if resumed else ""))
