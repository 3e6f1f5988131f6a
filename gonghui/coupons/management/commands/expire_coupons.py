from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.coupons.actions import expire_due


class Command(BaseCommand):
    help = "Mark every unused coupon past its validity expired (periodic; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"expired {expire_due()} coupons")
