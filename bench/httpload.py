"""The HTTP load rig shared by the load benchmarks (``activity_load.py``, ``points.py``).

- ``sessions_for_members``: an account and a logged-in session for every seeded member,
  COPYed into ``core_user`` and ``django_session`` (exactly what a login writes);
- ``Server``: the platform served by granian (or gunicorn) with production settings
  (``server_environment``: DEBUG off, Redis cache, ``cached_db`` sessions) on 127.0.0.1;
- ``floor``: wrk on ``GET /healthz`` — a bare Django view behind the same middleware, same
  server, same connections — the figure every endpoint is compared with;
- ``replay``: wrk POSTs every entry of a list exactly once, spread over its threads, and
  times the run from the first request to the last answer. An entry is one line,
  ``session path body`` with an optional ``<TAB>idempotency-key`` (sent as the
  ``Idempotency-Key`` header; ``entry()`` builds the line).
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_demo import ROOT, machine, prepare_environment, recreate_database, seed

REDIS_URL = "redis://127.0.0.1:6379/7"
CSRF = "benchcsrftokenbenchcsrftoken0123"  # a 32-character secret: cookie and header agree

# wrk's Lua side. Every thread takes its own slice of the sessions file; each entry is
# "session_key path body", optionally followed by a tab and the request's Idempotency-Key;
# the thread stops itself when its slice is done.
LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } gh_timespec;
int clock_gettime(int clk_id, gh_timespec *tp);
]]
local ts = ffi.new("gh_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC: comparable across threads
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

-- Globals, not locals: thread:set/thread:get reach a thread's globals only.
counts = {}
first_us = 0
last_us = 0
thread_id = 0
thread_total = 1
local entries = {}
local marker_prefix = ""
local cursor = 1
local done_n = 0
local filler_n = 0
local exhausted_at = 0
local probe_pending = false
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  thread:set("thread_total", @THREADS@)
  table.insert(threads, thread)
end

function init(args)
  marker_prefix = args[1] .. ".done."
  probe_pending = thread_id == 0
  local i = 0
  for line in io.lines(args[1]) do
    if i % thread_total == thread_id then
      local key, path, body, idempotency_key = line:match("^(%S+) (%S+) ([^\t]*)\t?(.*)$")
      if idempotency_key == "" then
        idempotency_key = nil
      end
      entries[#entries + 1] = {key, path, body, idempotency_key}
    end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-CSRFToken"] = "@CSRF@"
end

function request()
  if probe_pending then
    -- wrk 4.1 calls thread 0's request() once after init() to inspect what it returns;
    -- that request is never sent, so it must not use up an entry.
    probe_pending = false
    return wrk.format("GET", "/healthz", {["Cookie"] = ""}, nil)
  end
  local e = entries[cursor]
  if e == nil then
    if exhausted_at == 0 then
      exhausted_at = os.time()
    end
    -- Every entry is on its way: keep the other connections busy with the floor's
    -- request (not counted) until the last answers arrive.
    return wrk.format("GET", "/healthz", {["Cookie"] = ""}, nil)
  end
  if cursor == 1 then
    first_us = now_us()
  end
  cursor = cursor + 1
  if string.sub(e[1], 1, 5) == "pass=" then
    -- The hot lane: the activity pass as a bearer token, no session, no CSRF token.
    wrk.headers["Cookie"] = nil
    wrk.headers["X-CSRFToken"] = nil
    wrk.headers["Authorization"] = "Bearer " .. string.sub(e[1], 6)
  else
    wrk.headers["Authorization"] = nil
    wrk.headers["X-CSRFToken"] = "@CSRF@"
    wrk.headers["Cookie"] = "sessionid=" .. e[1] .. "; csrftoken=@CSRF@"
  end
  wrk.headers["Idempotency-Key"] = e[4]  -- nil removes it
  return wrk.format("POST", e[2], nil, e[3])
end

local function finish()
  -- wrk's main thread sleeps for the whole -d duration whatever its threads do: tell
  -- the runner this slice is done; it interrupts wrk (SIGINT) once every slice is.
  local marker = io.open(marker_prefix .. thread_id, "w")
  marker:close()
  wrk.thread:stop()
end

function response(status, headers, body)
  if body == '{"status": "ok"}' then
    -- Filler, not counted.
    -- Past wrk's --timeout (10 s) after the slice ran out, every entry is answered or
    -- counted among wrk's socket errors.
    filler_n = filler_n + 1
    if filler_n >= 2 * @CONNS@ and os.time() - exhausted_at > 11 then
      finish()
    end
    return
  end
  counts[status] = (counts[status] or 0) + 1
  last_us = now_us()
  done_n = done_n + 1
  if done_n == #entries then
    finish()
  end
end

function done(summary, latency, requests)
  local total = {}
  local first, last = nil, 0
  for _, t in ipairs(threads) do
    local f = t:get("first_us")
    if f > 0 and (first == nil or f < first) then
      first = f
    end
    last = math.max(last, t:get("last_us"))
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
    summary.requests, ((last - (first or last)) / 1e6), latency:percentile(50) / 1000, latency:percentile(90) / 1000,
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


def server_environment(url: str, redis_url: str = REDIS_URL) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
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
    """The platform served by a production server: granian (default; Rust HTTP, WSGI
    interface, ``workers`` processes with ``threads`` Python threads each) or gunicorn
    (``gthread`` worker class)."""

    def __init__(self, url: str, workers: int, threads: int, kind: str = "granian", redis_url: str = REDIS_URL) -> None:
        self.port = free_port()
        if kind == "granian":
            command = [
                str(Path(sys.executable).with_name("granian")),
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--blocking-threads",
                str(threads),
                "--backlog",
                "4096",
                "--log-level",
                "warning",
                "--no-ws",
                "gonghui.wsgi:application",
            ]
        else:
            command = [
                str(Path(sys.executable).with_name("gunicorn")),
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
            ]
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=server_environment(url, redis_url), start_new_session=True
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
            raise SystemExit(f"{kind} did not start")

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


def run_wrk(args: list[str], markers: tuple[Path, int] | None = None) -> dict[str, Any]:
    """Run wrk; with ``markers`` (prefix, threads) stop it as soon as every thread has
    written its done marker (wrk itself would sleep out its whole ``-d``)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    process = subprocess.Popen([wrk, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    if markers is not None:
        prefix, threads = markers
        while process.poll() is None:
            if all(Path(f"{prefix}{i}").exists() for i in range(threads)):
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.02)
    stdout, stderr = process.communicate()
    match = re.search(r"WRKJSON (\{.*\})", stdout)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{stdout}\n{stderr}")
    result: dict[str, Any] = json.loads(match.group(1))
    if "status" in result:  # a replay: count the replayed requests, not the filler
        result["requests"] = sum(result["status"].values())
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


def entry(session: str, path: str, body: str, idempotency_key: str = "") -> str:
    """One line of a replay: POST ``body`` to ``path`` in ``session`` (a session key, or
    ``pass=<activity pass>`` for the hot lane's bearer header), with an
    ``Idempotency-Key`` header when ``idempotency_key`` is given."""
    if not re.fullmatch(r"\S+", session) or not re.fullmatch(r"\S+", path):
        raise ValueError("session and path must be non-empty and without blanks")
    if "\t" in body or "\n" in body:
        raise ValueError("the body must be one line without tabs (json.dumps writes neither)")
    if idempotency_key and not re.fullmatch(r"\S+", idempotency_key):
        raise ValueError("an Idempotency-Key has no blanks")
    line = f"{session} {path} {body}"
    return f"{line}\t{idempotency_key}" if idempotency_key else line


def replay(
    server: Server, entries: list[str], connections: int, threads: int, scratch: Path, name: str
) -> dict[str, Any]:
    """POST every entry once (``entry()`` lines), spread over the threads."""
    data = scratch / f"{name}.txt"
    data.write_text("\n".join(entries) + "\n")
    script = scratch / f"{name}.lua"
    script.write_text(
        LUA.replace("@THREADS@", str(threads))
        .replace("@CONNS@", str(-(-connections // threads)))
        .replace("@CSRF@", CSRF)
    )
    options = ["-t", str(threads), "-c", str(connections), "-d", "3600s", "--timeout", "10s", "--latency"]
    return run_wrk(
        [*options, "-s", str(script), f"{server.base}/", "--", str(data)], markers=(Path(f"{data}.done."), threads)
    )


# --- the rig: database, members with sessions, server, floor ---------------------------


def add_rig_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server", choices=["granian", "gunicorn"], default="granian")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--threads", type=int, default=8, help="Python threads per worker")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--floor-seconds", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", type=Path)


@dataclass
class Rig:
    server: Server
    sessions: list[tuple[int, str]]
    scratch: Path
    report: dict[str, Any]
    floor_rate: int
    args: argparse.Namespace

    def replay(self, entries: list[str], name: str) -> dict[str, Any]:
        """``replay`` on this rig, with the ratio of its throughput to the floor."""
        result = replay(self.server, entries, self.args.connections, self.args.wrk_threads, self.scratch, name)
        result["ratio_to_floor"] = round(result["requests_per_s"] / self.floor_rate, 2)
        return result


@contextmanager
def rig(args: argparse.Namespace, *, url: str, redis_url: str, seed_value: int, prefix: str) -> Iterator[Rig]:
    """A scratch database with ``args.members`` members, each with an account and a live
    session, the platform served on it and its ``/healthz`` floor measured. On leaving:
    the server stopped, the database dropped (unless ``--keep``) and, if all went well, the
    report printed as JSON (and written to ``--json``)."""
    prepare_environment(url)
    os.environ.update(server_environment(url, redis_url))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    recreate_database(url)
    report: dict[str, Any] = {"command": " ".join(sys.argv), "machine": machine()}
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    server: Server | None = None
    try:
        call_command("migrate", verbosity=0)
        report["seed"] = seed(args.members, 20_000, seed_value)
        sessions = sessions_for_members()
        report["sessions"] = len(sessions)
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        server = Server(url, args.workers, args.threads, args.server, redis_url=redis_url)
        check_session(server, sessions[0][1])
        report["server"] = {
            "kind": args.server,
            "workers": args.workers,
            "threads": args.threads,
            "connections": args.connections,
        }
        report["floor"] = floor(server, args.floor_seconds, args.connections, args.wrk_threads, scratch)
        print(f"  floor /healthz: {report['floor']['requests_per_s']:,} req/s", file=sys.stderr)
        yield Rig(server, sessions, scratch, report, report["floor"]["requests_per_s"] or 1, args)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        connections.close_all()
        if not args.keep:
            recreate_database(url, drop_only=True)
    text = json.dumps(report, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
