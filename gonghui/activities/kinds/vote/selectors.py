"""Reads of the vote kind: the cached snapshot the cast path uses, tallies, results,
the published receipt list and the organiser's export.

Tallies are COUNTs grouped by candidate over the choice rows, cached for a few seconds
(``TALLY_SECONDS``) so that a live ranking watched by thousands costs one GROUP BY per
vote every few seconds. The cache only saves work: a miss recounts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.utils import timezone

from gonghui.activities.kinds.vote.kind import VoteRules
from gonghui.activities.kinds.vote.models import (
    ONCE_DAY,
    Ballot,
    BallotChoice,
    Candidate,
    SecretBallot,
    SecretChoice,
    StagedBallot,
)
from gonghui.activities.models import Activity, ActivityState, ActivityStatus, Participation
from gonghui.core.pii import mask_name
from gonghui.members.models import Member

# How long the cast path trusts its copy of the activity and its candidates. Candidates
# are frozen once the vote opens and the window is checked against the clock, so the
# copy can only be stale about an early close — which the cast transaction re-checks.
SNAPSHOT_SECONDS = 5
TALLY_SECONDS = 3


@dataclass(frozen=True)
class Snapshot:
    activity: Activity
    rules: VoteRules
    candidate_ids: frozenset[int]


def snapshot_key(activity_id: int) -> str:
    return f"vote:snapshot:{activity_id}"


def tally_key(activity_id: int) -> str:
    return f"vote:tally:{activity_id}"


# Each web process also keeps the snapshot of a vote that is open, for LOCAL_SECONDS: at
# hundreds of ballots a second, reading and unpickling it from Redis cost half the
# Python time of a ballot on the hot lane. Only an open vote's: its candidates are frozen
# (they change only before the opening), and its early close is re-checked by every cast.
# When the copy expires, one thread fetches the new one while the others keep using the
# old one for up to REFRESH_SECONDS more (a crowd of threads all missing at once, then all
# reading Redis and the database, was a fifth of a loaded worker's time).
LOCAL_SECONDS = 2.0
REFRESH_SECONDS = 0.5
_local: dict[int, tuple[float, Snapshot]] = {}
_local_lock = threading.Lock()


def snapshot(activity_id: int) -> Snapshot | None:
    """A published vote and its candidate ids, from the process's copy or the cache when fresh."""
    held = _local.get(activity_id)
    if held is not None and held[0] > time.monotonic():
        return held[1]
    with _local_lock:
        held = _local.get(activity_id)
        now = time.monotonic()
        if held is not None:
            if held[0] > now:
                return held[1]
            _local[activity_id] = (now + REFRESH_SECONDS, held[1])  # this thread refreshes it
    found = _shared_snapshot(activity_id)
    if found is not None and found.activity.state_at(timezone.now()) == ActivityState.OPEN:
        _local[activity_id] = (time.monotonic() + LOCAL_SECONDS, found)
    else:
        _local.pop(activity_id, None)
    return found


def forget_local(activity_id: int | None = None) -> None:
    """Drop this process's copy of one vote's snapshot (of every vote: ``None``)."""
    if activity_id is None:
        _local.clear()
    else:
        _local.pop(activity_id, None)


def _shared_snapshot(activity_id: int) -> Snapshot | None:
    key = snapshot_key(activity_id)
    found: Snapshot | None = cache.get(key)
    if found is not None:
        return found
    activity = (
        Activity.objects.select_related("org")
        .filter(pk=activity_id, kind="vote", status__in=(ActivityStatus.PUBLISHED, ActivityStatus.CLOSED))
        .first()
    )
    if activity is None:
        return None
    ids = frozenset(Candidate.objects.filter(activity=activity).values_list("pk", flat=True))
    found = Snapshot(activity, VoteRules.of(activity), ids)
    cache.set(key, found, SNAPSHOT_SECONDS)
    return found


def today() -> Any:
    return timezone.localdate()


def ballot_day(rules: VoteRules) -> Any:
    return today() if rules.is_contest else ONCE_DAY


def ballots_today(activity: Activity, member: Member, rules: VoteRules | None = None) -> int:
    """How many ballots the member has cast today (contest) or at all (election)."""
    rules = rules or VoteRules.of(activity)
    if rules.secret:
        return int(Participation.objects.filter(activity=activity, member=member).exists())
    return Ballot.objects.filter(activity=activity, member=member, day=ballot_day(rules)).count()


def voted_today(activity: Activity, member: Member, rules: VoteRules) -> set[int]:
    """Candidates the member already voted for today (open ballots only)."""
    if rules.secret:
        return set()
    return set(
        BallotChoice.objects.filter(activity=activity, member=member, day=ballot_day(rules)).values_list(
            "candidate_id", flat=True
        )
    )


def candidates(activity: Activity) -> list[Candidate]:
    return list(Candidate.objects.filter(activity=activity).order_by("order", "pk"))


def counts(activity: Activity, rules: VoteRules, *, fresh: bool = False) -> tuple[dict[int, int], int]:
    """Votes per candidate and the number of ballots (mixed ballots for a secret vote)."""
    key = tally_key(activity.pk)
    if not fresh:
        cached: tuple[dict[int, int], int] | None = cache.get(key)
        if cached is not None:
            return cached
    rows: Iterable[tuple[Any, ...]]
    if rules.secret:
        rows = SecretChoice.objects.filter(activity=activity).values_list("candidate_id").annotate(n=Count("pk"))
        ballots = SecretBallot.objects.filter(activity=activity).count()
    else:
        rows = BallotChoice.objects.filter(activity=activity).values_list("candidate_id").annotate(n=Count("pk"))
        ballots = Ballot.objects.filter(activity=activity).count()
    result = ({int(c): int(n) for c, n in rows}, ballots)
    cache.set(key, result, TALLY_SECONDS)
    return result


def results_visible(activity: Activity, rules: VoteRules, *, for_organiser: bool) -> bool:
    """Members see a live ranking only when the rules say so, everyone sees the final one;
    an organiser sees open ballots live, never a secret vote before it is finalised."""
    if activity.finalised_at is not None:
        return True
    if rules.secret:
        return False
    if for_organiser:
        return True
    return rules.live and activity.state == ActivityState.OPEN


def results(activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
    rules = VoteRules.of(activity)
    visible = results_visible(activity, rules, for_organiser=for_organiser)
    participants = Participation.objects.filter(activity=activity).count()
    out: dict[str, Any] = {
        "visible": visible,
        "final": activity.finalised_at is not None,
        "secret": rules.secret,
        "participants": participants,
        "ballots": None,
        "staged": None,
        "candidates": [],
    }
    if not visible:
        return out
    per_candidate, ballots = counts(activity, rules, fresh=activity.finalised_at is not None)
    rows: list[dict[str, Any]] = [
        {
            "id": c.pk,
            "name": c.name,
            "photo": c.photo.url if c.photo else "",
            "votes": per_candidate.get(c.pk, 0),
        }
        for c in candidates(activity)
    ]
    rows.sort(key=lambda r: -r["votes"])
    rank = 0
    previous = None
    for i, row in enumerate(rows, start=1):
        if row["votes"] != previous:
            rank, previous = i, row["votes"]
        row["rank"] = rank
    total = sum(r["votes"] for r in rows)
    for row in rows:
        row["share"] = round(100 * row["votes"] / total, 1) if total else 0.0
    out.update(ballots=ballots, candidates=rows, votes=total)
    if rules.secret:
        out["staged"] = StagedBallot.objects.filter(activity=activity).count()
    return out


def receipts_published(activity: Activity) -> bool:
    """The receipt list of a secret vote appears once it is finalised and fully mixed."""
    return (
        activity.finalised_at is not None
        and VoteRules.of(activity).secret
        and not StagedBallot.objects.filter(activity=activity).exists()
    )


def receipt_rows(activity: Activity) -> Iterator[tuple[str, list[str]]]:
    """Every mixed secret ballot: its receipt and the names it chose, by receipt."""
    names = dict(Candidate.objects.filter(activity=activity).values_list("pk", "name"))
    chosen: dict[Any, list[str]] = {}
    for ballot_id, candidate_id in SecretChoice.objects.filter(activity=activity).values_list(
        "ballot_id", "candidate_id"
    ):
        chosen.setdefault(ballot_id, []).append(names.get(candidate_id, ""))
    for ballot_id, receipt in (
        SecretBallot.objects.filter(activity=activity).order_by("receipt").values_list("pk", "receipt")
    ):
        yield receipt, sorted(chosen.get(ballot_id, []))


def receipt_page(
    activity: Activity, number: Any, per_page: int
) -> tuple[Page[SecretBallot], list[tuple[str, list[str]]]]:
    """One page of the published list (by receipt): the page and its (receipt, choices)."""
    ballots = SecretBallot.objects.filter(activity=activity).order_by("receipt").only("pk", "receipt")
    page = Paginator(ballots, per_page).get_page(number)
    names = dict(Candidate.objects.filter(activity=activity).values_list("pk", "name"))
    chosen: dict[Any, list[str]] = {}
    for ballot_id, candidate_id in SecretChoice.objects.filter(ballot_id__in=[b.pk for b in page]).values_list(
        "ballot_id", "candidate_id"
    ):
        chosen.setdefault(ballot_id, []).append(names.get(candidate_id, ""))
    return page, [(format_receipt(b.receipt), sorted(chosen.get(b.pk, []))) for b in page]


def find_receipt(activity: Activity, receipt: str) -> list[str] | None:
    """The choices of the ballot with this receipt, or None when it is not on the list."""
    ballot = SecretBallot.objects.filter(activity=activity, receipt=normalise_receipt(receipt)).first()
    if ballot is None:
        return None
    ids = SecretChoice.objects.filter(ballot=ballot).values_list("candidate_id", flat=True)
    return sorted(Candidate.objects.filter(pk__in=list(ids)).values_list("name", flat=True))


def normalise_receipt(value: str) -> str:
    """Upper case without separators; digits misread for letters (base32 has no 0, 1, 8) fixed."""
    cleaned = "".join(ch for ch in value.upper() if ch.isalnum())
    return cleaned.translate(str.maketrans("018", "OIB"))


def format_receipt(receipt: str) -> str:
    return "-".join(receipt[i : i + 4] for i in range(0, len(receipt), 4))


def export_rows(activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
    """Per-ballot rows: masked voter and union for open ballots, receipts for a secret vote."""
    rules = VoteRules.of(activity)
    names = dict(Candidate.objects.filter(activity=activity).values_list("pk", "name"))
    if rules.secret:
        return ["回执码", "所选"], ([format_receipt(r), "、".join(c)] for r, c in receipt_rows(activity))

    def rows() -> Iterator[list[Any]]:
        chosen: dict[int, list[str]] = {}
        for ballot_id, candidate_id in BallotChoice.objects.filter(activity=activity).values_list(
            "ballot_id", "candidate_id"
        ):
            chosen.setdefault(ballot_id, []).append(names.get(candidate_id, ""))
        ballots = (
            Ballot.objects.filter(activity=activity)
            .select_related("member", "member__org")
            .order_by("pk")
            .only("pk", "day", "seq", "created_at", "member__name", "member__org__name")
        )
        for ballot in ballots.iterator(chunk_size=2000):
            yield [
                ballot.pk,
                "" if ballot.day == ONCE_DAY else ballot.day.isoformat(),
                ballot.seq,
                timezone.localtime(ballot.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                mask_name(ballot.member.name),
                ballot.member.org.name,
                "、".join(sorted(chosen.get(ballot.pk, []))),
            ]

    return ["选票编号", "日期", "当日第几票", "投票时间", "投票人（脱敏）", "所属工会", "所选"], rows()
