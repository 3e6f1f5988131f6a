"""Load run of the activity hot paths over HTTP: a vote and a ticket rush on PostgreSQL.

    apt-get install wrk            # the load generator (C, keep-alive, HdrHistogram latencies)
    .venv/bin/python bench/activity_load.py [--members 100000] [--ballots 400000] [--tickets 1000]

What it does, in one scratch database (``gonghui_bench_activity``, dropped at the end
unless ``--keep``):

1. seeds ``--members`` members under 广州市 (``members.seeding``), gives every member an
   account and a logged-in session (rows COPYed into ``core_user`` and
   ``django_session``, exactly what a login writes);
2. serves the platform with gunicorn (``--workers`` gthread workers, production settings:
   DEBUG off, Redis cache, ``cached_db`` sessions) on 127.0.0.1;
3. floor: ``GET /healthz`` — a bare Django view behind the same middleware, same server,
   same connections — for ``--floor-seconds``;
4. vote: a public-choice contest (评选, 10 candidates, 4 ballots per member per day, one
   choice each): every member casts 4 ballots through ``POST /api/v1/activities/{id}/vote``
   (``--ballots`` in all), then checks: ballots stored == 2xx answers, nobody above 4;
5. rush: 1,000 tickets, every member grabs once through
   ``POST /api/v1/activities/{id}/rush/grab``; checks: exactly ``--tickets`` granted, no
   member twice, stock 0, never negative.

Throughput, p50/p99 latency (wrk's corrected HdrHistogram) and the ratios of the vote and
rush endpoints to the floor are printed as JSON (``--json FILE`` writes them too).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_demo import ROOT, machine, prepare_environment, recreate_database, seed

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gonghui_bench_activity"
REDIS_URL = "redis://127.0.0.1:6379/7"
CSRF = "benchcsrftokenbenchcsrftoken0123"  # a 32-character secret: cookie and header agree

# wrk's Lua side. Every thread takes its own slice of the sessions file; each entry is
# "session_key path body"; the thread stops itself when its slice is done.
LUA = r"""
local counts = {}
local entries = {}
local cursor = 1
local done_n = 0
local threads = {}
local thread_id = 0
local thread_total = 1

function setup(thread)
  thread:set("thread_id", #threads)
  thread:set("thread_total", @THREADS@)
  table.insert(threads, thread)
end

function init(args)
  local i = 0
  for line in io.lines(args[1]) do
    if i % thread_total == thread_id then
      local key, path, body = line:match("^(%S+) (%S+) (.*)$")
      entries[#entries + 1] = {key, path, body}
    end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-CSRFToken"] = "@CSRF@"
end

function request()
  local e = entries[cursor]
  if e == nil then
    -- Every entry is on its way: keep the other connections busy with the floor's
    -- request (not counted) until the last answers arrive.
    return wrk.format("GET", "/healthz", {["Cookie"] = ""}, nil)
  end
  cursor = cursor + 1
  wrk.headers["Cookie"] = "sessionid=" .. e[1] .. "; csrftoken=@CSRF@"
  return wrk.format("POST", e[2], nil, e[3])
end

function response(status, headers, body)
  if body == '{"status": "ok"}' then
    return
  end
  counts[status] = (counts[status] or 0) + 1
  done_n = done_n + 1
  if done_n >= #entries then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do
      total[k] = (total[k] or 0) + v
    end
  end
  local parts = {}
  for k, v in pairs(total) do
    parts[#parts + 1] = string.format('"%d": %d', k, v)
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
    '"max_ms": %.2f, "errors_connect": %d, "errors_read": %d, "errors_timeout": %d, "status": {%s}}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, table.concat(parts, ", ")))
end
"""

FLOOR_LUA = r"""
function done(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "seconds": %.3f, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, ' ..
    '"max_ms": %.2f, "errors_connect": %d, "errors_read": %d, "errors_timeout": %d, "non2xx": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.errors.connect, summary.errors.read,
    summary.errors.timeout, summary.errors.status))
end
"""


def server_environment(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "SESSION_ENGINE": "django.contrib.sessions.backends.cached_db",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DEBUG": "false",
            "SESSION_COOKIE_SECURE": "false",
            "LOG_LEVEL": "WARNING",
            # The grab endpoint itself is measured: the waiting room admits everyone at once.
            "RUSH_ADMIT_RATE": "1000000",
            "RUSH_ADMIT_BURST": "1000000",
        }
    )
    return env


# --- accounts and sessions ----------------------------------------------------------


def sessions_for_members() -> list[tuple[int, str]]:
    """An account and a live session for every member; ``(member_id, session_key)``."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from gonghui.core.models import User
    from gonghui.members.models import Member

    started = time.perf_counter()
    members = list(Member.objects.filter(user__isnull=True).values_list("pk", "name"))
    now = timezone.now()
    password = "!bench-unusable"  # noqa: S105 — an unusable password hash: these accounts log in by session only
    user_table, session_table = User._meta.db_table, "django_session"
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {user_table} (username, name, password, is_active, is_staff, is_superuser, date_joined) FROM STDIN"
        ) as copy:
            for member_id, name in members:
                copy.write_row([f"bench-m{member_id}", name, password, True, False, False, now])
        cursor.execute(
            f"UPDATE {Member._meta.db_table} m SET user_id = u.id FROM {user_table} u "
            "WHERE u.username = 'bench-m' || m.id::text AND m.user_id IS NULL"
        )
    users = dict(User.objects.filter(username__startswith="bench-m").values_list("username", "pk"))
    store = SessionStore()
    auth_hash = User(password=password).get_session_auth_hash()
    expire = now + datetime.timedelta(seconds=settings.SESSION_COOKIE_AGE)
    last_seen = int(time.time())
    result: list[tuple[int, str]] = []
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {session_table} (session_key, session_data, expire_date) FROM STDIN") as copy,
    ):
        for member_id, _name in members:
            key = get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789")
            data = store.encode(
                {
                    SESSION_KEY: str(users[f"bench-m{member_id}"]),
                    BACKEND_SESSION_KEY: settings.AUTHENTICATION_BACKENDS[0],
                    HASH_SESSION_KEY: auth_hash,
                    "last_seen": last_seen + 3600,  # no idle-timeout write during the run
                }
            )
            copy.write_row([key, data, expire])
            result.append((member_id, key))
    print(f"  {len(result):,} accounts and sessions in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return result


# --- the server and the load generator ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, url: str, workers: int, threads: int) -> None:
        self.port = free_port()
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.process = subprocess.Popen(  # noqa: S603
            [
                gunicorn,
                "gonghui.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                str(threads),
                "--keep-alive",
                "30",
                "--backlog",
                "4096",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=server_environment(url),
            start_new_session=True,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.stop()
            raise SystemExit("gunicorn did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def check_session(server: Server, key: str) -> None:
    """A seeded session must be logged in: the member API answers 200, not 401."""
    import http.client

    status = 0
    for _ in range(3):  # the first requests load the application in each worker
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            conn.request("GET", "/api/v1/me/messages?limit=1", headers={"Cookie": f"sessionid={key}"})
            status = conn.getresponse().status
        except TimeoutError:
            continue
        finally:
            conn.close()
        if status == 200:
            break
    if status != 200:
        raise SystemExit(f"a seeded session is not logged in (GET /api/v1/me/messages answered {status})")


def run_wrk(args: list[str]) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    out = subprocess.run([wrk, *args], capture_output=True, text=True, check=True)  # noqa: S603
    match = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["requests_per_s"] = round(result["requests"] / result["seconds"]) if result["seconds"] else 0
    return result


def floor(server: Server, seconds: int, connections: int, threads: int, scratch: Path) -> dict[str, Any]:
    script = scratch / "floor.lua"
    script.write_text(FLOOR_LUA)
    warm = ["-t", str(threads), "-c", str(connections), "-d", "3s", "-s", str(script), f"{server.base}/healthz"]
    run_wrk(warm)
    return run_wrk(
        [
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            server.base + "/healthz",
        ]
    )


def replay(
    server: Server, entries: list[str], connections: int, threads: int, scratch: Path, name: str
) -> dict[str, Any]:
    """POST every entry once (``session path body`` lines), spread over the threads."""
    data = scratch / f"{name}.txt"
    data.write_text("\n".join(entries) + "\n")
    script = scratch / f"{name}.lua"
    script.write_text(LUA.replace("@THREADS@", str(threads)).replace("@CSRF@", CSRF))
    options = ["-t", str(threads), "-c", str(connections), "-d", "3600s", "--timeout", "10s", "--latency"]
    return run_wrk([*options, "-s", str(script), f"{server.base}/", "--", str(data)])


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ballots", type=int, default=400_000)
    parser.add_argument("--per-day", type=int, default=4)
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--floor-seconds", type=int, default=20)
    parser.add_argument("--skip", choices=["vote", "rush"], action="append", default=[])
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    prepare_environment(url)
    os.environ.update(server_environment(url))
    import django

    django.setup()
    from django.core.management import call_command

    recreate_database(url)
    report: dict[str, Any] = {"command": " ".join(sys.argv), "machine": machine()}
    scratch = Path(tempfile.mkdtemp(prefix="gonghui-load-"))
    server: Server | None = None
    try:
        call_command("migrate", verbosity=0)
        report["seed"] = seed(args.members, 20_000, 20261123)
        sessions = sessions_for_members()
        report["sessions"] = len(sessions)
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        server = Server(url, args.workers, args.threads)
        check_session(server, sessions[0][1])
        report["server"] = {"workers": args.workers, "threads": args.threads, "connections": args.connections}
        report["floor"] = floor(server, args.floor_seconds, args.connections, args.wrk_threads, scratch)
        print(f"  floor /healthz: {report['floor']['requests_per_s']:,} req/s", file=sys.stderr)
        floor_rate = report["floor"]["requests_per_s"] or 1

        if "vote" not in args.skip:
            activity_id, candidates = open_vote(args.candidates, args.per_day)
            rounds = max(1, -(-args.ballots // len(sessions)))
            entries: list[str] = []
            for r in range(rounds):
                for index, (_member_id, key) in enumerate(sessions):
                    if len(entries) == args.ballots:
                        break
                    choice = candidates[(index + r) % len(candidates)]
                    entries.append(f"{key} /api/v1/activities/{activity_id}/vote {json.dumps({'choices': [choice]})}")
            result = replay(server, entries, args.connections, args.wrk_threads, scratch, "vote")
            result["ratio_to_floor"] = round(result["requests_per_s"] / floor_rate, 2)
            result["checks"] = check_vote(activity_id, args.per_day)
            result["checks"]["ok"] = (
                result["checks"]["ballots"] == result["status"].get("200", 0) + result["status"].get("201", 0)
                and (result["checks"]["max_per_member_day"] or 0) <= args.per_day
            )
            report["vote"] = result
            print(f"  vote: {result['requests_per_s']:,} req/s, checks {result['checks']}", file=sys.stderr)

        if "rush" not in args.skip:
            activity_id, item_id = open_rush(args.tickets)
            body = json.dumps({"item_id": item_id})
            entries = [f"{key} /api/v1/activities/{activity_id}/rush/grab {body}" for _m, key in sessions]
            result = replay(server, entries, args.connections, args.wrk_threads, scratch, "rush")
            result["ratio_to_floor"] = round(result["requests_per_s"] / floor_rate, 2)
            result["checks"] = check_rush(activity_id, item_id)
            result["checks"]["ok"] = (
                result["checks"]["granted"] == args.tickets
                and result["checks"]["members_twice"] == 0
                and result["checks"]["remaining"] == 0
            )
            report["rush"] = result
            print(f"  rush: {result['requests_per_s']:,} req/s, checks {result['checks']}", file=sys.stderr)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(url, drop_only=True)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
