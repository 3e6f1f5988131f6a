from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.points.ledger import expire_due


class Command(BaseCommand):
    help = "Expire every points lot past its expiry (periodic; safe to interrupt and rerun)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"expired {expire_due()} points")
