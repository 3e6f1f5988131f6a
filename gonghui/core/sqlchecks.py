"""Set-wise consistency proofs for the ledgers (points, coupons, mall).

A check is a name, a label people read and one SQL query that returns the offending rows
(none when the books are right). Each query covers the whole table at once, so the proofs
run at province scale; ``manage.py check_ledgers`` runs every ledger's checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models

# name -> (label, SQL returning the offending rows)
Checks = Mapping[str, tuple[str, str]]


@dataclass
class CheckReport:
    """Row counts of the tables checked, and the offending rows (at most ``limit``) of each failed check."""

    counts: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def run_sql_checks(checks: Checks, counts: Mapping[str, type[models.Model]], limit: int = 20) -> CheckReport:
    """Run every check of ``checks``; ``counts`` names the tables whose sizes the report gives."""
    report = CheckReport(counts={name: model._default_manager.count() for name, model in counts.items()})
    with connection.cursor() as cursor:
        for name, (_label, sql) in checks.items():
            cursor.execute(f"{sql} LIMIT {int(limit)}")
            rows = cursor.fetchall()
            if rows:
                report.failures[name] = [tuple(row) for row in rows]
    return report
