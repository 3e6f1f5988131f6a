from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gonghui.core.sqlchecks import CheckReport, Checks
from gonghui.coupons.checks import CHECKS as COUPON_CHECKS
from gonghui.coupons.checks import check_coupons
from gonghui.mall.checks import CHECKS as MALL_CHECKS
from gonghui.mall.checks import check_mall
from gonghui.points.checks import CHECKS as POINTS_CHECKS
from gonghui.points.checks import check_points

# Every ledger the platform keeps: (name, its checks with their labels, the function that
# runs them).
SECTIONS: list[tuple[str, Checks, Callable[[], CheckReport]]] = [
    ("points", POINTS_CHECKS, check_points),
    ("coupons", COUPON_CHECKS, check_coupons),
    ("mall", MALL_CHECKS, check_mall),
]


class Command(BaseCommand):
    help = "Recompute every ledger balance from its entries; exit non-zero on any mismatch."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = [(name, checks, run()) for name, checks, run in SECTIONS]
        failed = [f"{name}.{check}" for name, _c, report in reports for check in sorted(report.failures)]
        if options["json"]:
            body: dict[str, Any] = {"ok": not failed}
            for name, _checks, report in reports:
                failures = {k: [list(map(str, r)) for r in v] for k, v in report.failures.items()}
                body[name] = {**report.counts, "failures": failures}
            self.stdout.write(json.dumps(body, ensure_ascii=False))
        else:
            for name, checks, report in reports:
                self.stdout.write(f"{name}: " + ", ".join(f"{v} {k}" for k, v in report.counts.items()))
                for check, (label, _sql) in checks.items():
                    rows = report.failures.get(check)
                    mark = "ok" if not rows else f"FAILED ({len(rows)}+)"
                    self.stdout.write(f"  {label} [{check}]: {mark}")
                    for row in rows or []:
                        self.stdout.write(f"    {row}")
        if failed:
            raise CommandError("ledger check failed: " + ", ".join(failed))
