"""Load run of the activity hot paths over HTTP: a vote and a ticket rush on PostgreSQL.

    apt-get install wrk            # the load generator (C, keep-alive, HdrHistogram latencies)
    .venv/bin/python bench/activity_load.py [--members 100000] [--ballots 400000] [--tickets 1000]

What it does, in one scratch database (``gonghui_bench_activity``, dropped at the end
unless ``--keep``):

1. seeds ``--members`` members under 广州市 (``members.seeding``), gives every member an
   account and a logged-in session (rows COPYed into ``core_user`` and
   ``django_session``, exactly what a login writes);
2. serves the platform with granian (``--workers`` processes × ``--threads`` Python
   threads; ``--server gunicorn`` for gunicorn's gthread workers) with production
   settings: DEBUG off, Redis cache, ``cached_db`` sessions, on 127.0.0.1;
3. floor: ``GET /healthz`` — a bare Django view behind the same middleware, same server,
   same connections — for ``--floor-seconds``;
4. vote: a public-choice contest (评选, 10 candidates, 4 ballots per member per day, one
   choice each): every member casts 4 ballots through the hot lane,
   ``POST /api/v1/activities/{id}/lane/vote`` with their activity pass (``--ballots`` in
   all; ``--path session``: ``…/vote`` with the session), then checks: ballots stored ==
   2xx answers, nobody above 4. The pass endpoint (``POST …/pass``, the session path a
   member's page calls once a visit) is timed first on ``--pass-sample`` members; the
   passes themselves are issued in-process, exactly as the endpoint issues them;
5. rush: 1,000 tickets, every member grabs once through
   ``POST /api/v1/activities/{id}/lane/rush/grab`` (``--path session``: ``…/rush/grab``);
   checks: exactly ``--tickets`` granted, no member twice, stock 0, never negative.

Throughput, p50/p99 latency (wrk's corrected HdrHistogram) and the ratios of the vote and
rush endpoints to the floor are printed as JSON (``--json FILE`` writes them too).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpload import REDIS_URL, add_rig_arguments, floor, rig

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gonghui_bench_activity"


# --- the activities -----------------------------------------------------------------


def open_vote(candidates: int, per_day: int) -> tuple[int, list[int]]:
    """A published, open public-choice vote of the city union; its id and candidate ids."""
    from datetime import timedelta

    from django.utils import timezone

    from gonghui.activities import actions
    from gonghui.activities.kinds.vote import actions as vote_actions
    from gonghui.core.models import User
    from gonghui.members import seeding
    from gonghui.orgs.models import Org

    city = Org.objects.get(region_code=seeding.GUANGZHOU, level="city")
    actor = User.objects.filter(org_roles__org__depth=1).first()
    now = timezone.now()
    activity = actions.create_activity(
        actor=actor,
        org=city,
        kind="vote",
        values={
            "title": "最美职工评选（压测）",
            "starts_at": now - timedelta(minutes=1),
            "ends_at": now + timedelta(days=1),
        },
        settings={
            "mode": "single",
            "min_choices": 1,
            "max_choices": 1,
            "daily_allowance": per_day,
            "results_visibility": "live",
        },
    )
    ids = [
        vote_actions.add_candidate(actor=actor, activity=activity, values={"name": f"候选人{i + 1:02d}", "text": ""}).pk
        for i in range(candidates)
    ]
    actions.publish_activity(actor=actor, activity=activity)
    return activity.pk, ids


def open_rush(tickets: int) -> tuple[int, int]:
    from datetime import timedelta

    from django.utils import timezone

    from gonghui.activities import actions
    from gonghui.activities.kinds.rush import actions as rush_actions
    from gonghui.core.models import User
    from gonghui.members import seeding
    from gonghui.orgs.models import Org

    city = Org.objects.get(region_code=seeding.GUANGZHOU, level="city")
    actor = User.objects.filter(org_roles__org__depth=1).first()
    now = timezone.now()
    activity = actions.create_activity(
        actor=actor,
        org=city,
        kind="rush",
        values={
            "title": "平安返乡抢票（压测）",
            "starts_at": now - timedelta(seconds=5),
            "ends_at": now + timedelta(days=1),
        },
        settings={},
    )
    item = rush_actions.add_item(actor=actor, activity=activity, name="G1234 广州南→长沙南", detail="", stock=tickets)
    actions.publish_activity(actor=actor, activity=activity)
    return activity.pk, item.pk


def passes_for(activity_id: int, sessions: list[tuple[int, str]]) -> dict[int, str]:
    """Every member's activity pass, issued in-process exactly as ``POST …/pass`` issues it
    (the endpoint itself is measured on a sample: ``pass_rate``)."""
    from gonghui.activities import passes
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member

    activity = Activity.objects.select_related("org").get(pk=activity_id)
    wanted = {member_id for member_id, _ in sessions}
    found: dict[int, str] = {}
    for member in Member.objects.select_related("org").filter(pk__in=wanted).iterator(chunk_size=5000):
        found[member.pk] = passes.issue(activity, member)[0]
    return found


def pass_rate(bench: Any, activity_id: int, sample: int, name: str) -> dict[str, Any]:
    """The pass endpoint over HTTP (session path: a member's page calls it once a visit)."""
    entries = [f"{key} /api/v1/activities/{activity_id}/pass {{}}" for _m, key in bench.sessions[:sample]]
    result: dict[str, Any] = bench.replay(entries, name)
    print(f"  {name}: {result['requests_per_s']:,} req/s", file=sys.stderr)
    return result


def check_vote(activity_id: int, per_day: int) -> dict[str, Any]:
    from django.db.models import Count, Max

    from gonghui.activities.kinds.vote.models import Ballot

    ballots = Ballot.objects.filter(activity_id=activity_id)
    per_member = ballots.values("member_id", "day").annotate(n=Count("id")).aggregate(top=Max("n"))
    return {"ballots": ballots.count(), "max_per_member_day": per_member["top"], "allowance": per_day}


def check_rush(activity_id: int, item_id: int) -> dict[str, Any]:
    from django.db.models import Count

    from gonghui.activities.kinds.rush.models import Grant, RushItem

    grants = Grant.objects.filter(activity_id=activity_id)
    twice = grants.values("member_id").annotate(n=Count("id")).filter(n__gt=1).count()
    item = RushItem.objects.get(pk=item_id)
    return {"granted": grants.count(), "members_twice": twice, "remaining": item.remaining}


# --- main ---------------------------------------------------------------------------


def _credentials(bench: Any, activity_id: int, args: argparse.Namespace, action: str) -> tuple[dict[int, str], str]:
    """What each member sends, and the path: passes and the lane, or sessions."""
    if args.path == "session":
        return dict(bench.sessions), action
    kind = action.split("/")[0]
    bench.report[f"{kind}_pass"] = pass_rate(bench, activity_id, args.pass_sample, f"{kind}_pass")
    return {m: f"pass={token}" for m, token in passes_for(activity_id, bench.sessions).items()}, f"lane/{action}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ballots", type=int, default=400_000)
    parser.add_argument("--per-day", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--skip", choices=["vote", "rush"], action="append", default=[])
    parser.add_argument(
        "--path",
        choices=["lane", "session"],
        default="lane",
        help="lane: …/lane/vote and …/lane/rush/grab with activity passes (default); session: …/vote, …/rush/grab",
    )
    parser.add_argument("--pass-sample", type=int, default=20_000, help="requests to time the pass endpoint with")
    add_rig_arguments(parser)
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    with rig(args, url=url, redis_url=REDIS_URL, seed_value=20261123, prefix="gonghui-load-") as bench:
        report, sessions = bench.report, bench.sessions
        if "vote" not in args.skip:
            activity_id, candidates = open_vote(args.candidates, args.per_day)
            credential, path = _credentials(bench, activity_id, args, "vote")
            rounds = max(1, -(-args.ballots // len(sessions)))
            entries: list[str] = []
            for r in range(rounds):
                for index, (member_id, _key) in enumerate(sessions):
                    if len(entries) == args.ballots:
                        break
                    choice = candidates[(index + r) % len(candidates)]
                    body = json.dumps({"choices": [choice]})
                    entries.append(f"{credential[member_id]} /api/v1/activities/{activity_id}/{path} {body}")
            result = bench.replay(entries, "vote")
            result["checks"] = check_vote(activity_id, args.per_day)
            result["checks"]["ok"] = (
                result["checks"]["ballots"] == result["status"].get("200", 0) + result["status"].get("201", 0)
                and (result["checks"]["max_per_member_day"] or 0) <= args.per_day
            )
            report["vote"] = result
            print(f"  vote: {result['requests_per_s']:,} req/s, checks {result['checks']}", file=sys.stderr)

        if "rush" not in args.skip:
            activity_id, item_id = open_rush(args.tickets)
            credential, path = _credentials(bench, activity_id, args, "rush/grab")
            body = json.dumps({"item_id": item_id})
            entries = [f"{credential[m]} /api/v1/activities/{activity_id}/{path} {body}" for m, _key in sessions]
            result = bench.replay(entries, "rush")
            result["checks"] = check_rush(activity_id, item_id)
            result["checks"]["ok"] = (
                result["checks"]["granted"] == args.tickets
                and result["checks"]["members_twice"] == 0
                and result["checks"]["remaining"] == 0
            )
            report["rush"] = result
            print(f"  rush: {result['requests_per_s']:,} req/s, checks {result['checks']}", file=sys.stderr)
        # The floor again, at the end: this machine's /healthz rate drifts within a run.
        after = floor(bench.server, args.floor_seconds, args.connections, args.wrk_threads, bench.scratch)
        report["floor_after"] = after
        print(f"  floor /healthz again: {after['requests_per_s']:,} req/s", file=sys.stderr)
        for name in ("vote", "rush"):
            if name in report and after["requests_per_s"]:
                report[name]["ratio_to_floor_after"] = round(
                    report[name]["requests_per_s"] / after["requests_per_s"], 2
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
