from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gonghui.coupons.checks import CHECKS as COUPON_CHECKS
from gonghui.coupons.checks import check_coupons
from gonghui.mall.checks import CHECKS as MALL_CHECKS
from gonghui.mall.checks import check_mall
from gonghui.points.checks import CHECKS as POINTS_CHECKS
from gonghui.points.checks import check_points

# Every ledger the platform keeps: (name, its checks with their labels, the function that
# runs them and returns a report dataclass with counts and ``failures``).
SECTIONS: list[tuple[str, dict[str, tuple[str, str]], Callable[[], Any]]] = [
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
                counts = {k: v for k, v in dataclasses.asdict(report).items() if k != "failures"}
                failures = {k: [list(map(str, r)) for r in v] for k, v in report.failures.items()}
                body[name] = {**counts, "failures": failures}
            self.stdout.write(json.dumps(body, ensure_ascii=False))
        else:
            for name, checks, report in reports:
                counts = {k: v for k, v in dataclasses.asdict(report).items() if k != "failures"}
                self.stdout.write(f"{name}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
                for check, (label, _sql) in checks.items():
                    rows = report.failures.get(check)
                    mark = "ok" if not rows else f"FAILED ({len(rows)}+)"
                    self.stdout.write(f"  {label} [{check}]: {mark}")
                    for row in rows or []:
                        self.stdout.write(f"    {row}")
        if failed:
            raise CommandError("ledger check failed: " + ", ".join(failed))
