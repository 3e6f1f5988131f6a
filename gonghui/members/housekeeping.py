"""Membership housekeeping: escalate overdue transfers, flag inactive members for review.

Run hourly (``manage.py membership_housekeeping``, or the ``membership_housekeeping``
task on a worker). Both halves are idempotent: an escalated transfer and a flagged
member are not touched again, so overlapping or repeated runs change nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django_tasks import task

from gonghui.members import importing, lifecycle, transfers, verification


@dataclass(frozen=True)
class HousekeepingResult:
    escalated: int
    flagged: int
    resumed_imports: int = 0
    resumed_verifications: int = 0


def run(now: datetime | None = None) -> HousekeepingResult:
    now = now or timezone.now()
    return HousekeepingResult(
        escalated=transfers.escalate_overdue(now),
        flagged=lifecycle.flag_inactive(now),
        resumed_imports=len(importing.resume_imports(now)),
        resumed_verifications=len(verification.resume_stale_batches(now)),
    )


@task()
def membership_housekeeping() -> dict[str, int]:
    result = run()
    return {
        "escalated": result.escalated,
        "flagged": result.flagged,
        "resumed_imports": result.resumed_imports,
        "resumed_verifications": result.resumed_verifications,
    }
