from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.mall.actions import auto_receive


class Command(BaseCommand):
    help = "Mark shipped orders nobody confirmed within MALL_AUTO_RECEIVE_DAYS as received (periodic; idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"received {auto_receive()} orders")
