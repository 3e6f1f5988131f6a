from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from gonghui.activities.kinds.signup.actions import expire_offers


class Command(BaseCommand):
    help = "Expire sign-up offers past their confirmation deadline and offer each seat to the next waitlisted member."

    def handle(self, *args: Any, **options: Any) -> None:
        done = expire_offers()
        self.stdout.write(f"expired {done} offers")
