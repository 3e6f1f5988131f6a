from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gonghui.points.checks import CHECKS, check_points


class Command(BaseCommand):
    help = "Recompute every ledger balance from its entries; exit non-zero on any mismatch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        report = check_points()
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "ok": report.ok,
                        "points": {
                            "accounts": report.accounts,
                            "entries": report.entries,
                            "failures": {k: [list(map(str, r)) for r in v] for k, v in report.failures.items()},
                        },
                    },
                    ensure_ascii=False,
                )
            )
        else:
            self.stdout.write(f"points: {report.accounts} accounts, {report.entries} entries")
            for name, (label, _sql) in CHECKS.items():
                rows = report.failures.get(name)
                mark = "ok" if not rows else f"FAILED ({len(rows)}+)"
                self.stdout.write(f"  {label} [{name}]: {mark}")
                for row in rows or []:
                    self.stdout.write(f"    {row}")
        if not report.ok:
            raise CommandError("ledger check failed: " + ", ".join(sorted(report.failures)))
