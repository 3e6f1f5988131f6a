"""Seed a million members on PostgreSQL and time the console member list of that city.

Run with ``make bench`` (or ``python bench/seed_demo.py --help``). It creates its own
database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/gonghui_bench``),
drops it again at the end (``--keep`` keeps it), and prints the figures recorded in
docs/PERFORMANCE.md:

1. seeding: ``members.seeding.seed`` with every member under 广州市 (``city=440100``), so
   that city has N members; rows/s and the process's peak RSS;
2. the floors for seeding, on the same rows: COPY of pre-built row tuples (psycopg
   ``write_row``, no generation or encryption), raw binary COPY of the table's own dump,
   and the same raw COPY into a table without secondary indexes (the price of indexes);
3. the console member list (``/console/members/?org=<city>``) through Django's test
   client, logged in as the demo province admin with the second factor passed: median
   and p95 over ``--runs`` runs, queries per request, for page 1, the keyset page 2, a
   district, and a search; with the floors of the same run — a bare ``SELECT 1`` round
   trip and a bare Django view behind the same middleware — so figures read as ratios;
4. EXPLAIN (ANALYZE, BUFFERS) of the slowest list query.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import types
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/gonghui_bench"


def _secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def prepare_environment(url: str) -> None:
    """Settings for a throwaway database: fresh keys, no DEBUG query log."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gonghui.settings")
    os.environ["GONGHUI_LOCAL_ENV"] = "/nonexistent"  # the bench never reads a developer's local.env
    os.environ["DEBUG"] = "false"
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("SECRET_KEY", _secret() + _secret())
    os.environ.setdefault("PII_KEYS", f"1:{_secret()}")
    os.environ.setdefault("PII_BLIND_INDEX_KEY", _secret())
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))


def recreate_database(url: str, *, drop_only: bool = False, force: bool = False) -> None:
    """Drop and create the benchmark database.

    An existing database whose name does not say "bench" is refused unless ``force``:
    a DATABASE_URL left exported for development must not lose its data to ``make bench``.
    """
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and "bench" not in name and not force:
            raise SystemExit(
                f"refusing to drop the existing database {name!r}: the benchmark recreates its database. "
                "Point DATABASE_URL at a database named *bench* (default gonghui_bench) or pass --force."
            )
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median_ms": statistics.median(ordered) * 1000, "p95_ms": p95 * 1000, "runs": len(ordered)}


def timed(fn: Callable[[], Any], runs: int, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return summary(times)


def machine() -> dict[str, Any]:
    from django.db import connection

    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "postgresql": pg_version,
        "shared_buffers": shared_buffers,
        "python": platform.python_version(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- seeding -------------------------------------------------------------------------


def seed(members: int, batch: int, seed_value: int) -> dict[str, Any]:
    from gonghui.members import seeding

    step = max(batch, members // 10)

    def progress(written: int, planned: int, seconds: float) -> None:
        if written % step < batch or written == planned:
            print(f"  seeded {written:>9,} / {planned:,}  {written / seconds:>8,.0f} rows/s", file=sys.stderr)

    result = seeding.seed(members=members, seed=seed_value, batch=batch, city=seeding.GUANGZHOU, progress=progress)
    return {
        "members": result.members,
        "orgs": result.orgs,
        "grassroots": result.grassroots,
        "seconds_total": round(result.seconds, 1),
        "seconds_members": round(result.member_seconds, 1),
        "rows_per_s": round(result.rows_per_second),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def copy_floors(members: int, seed_value: int, floor_rows: int) -> dict[str, Any]:
    """COPY rates of the very rows the seed wrote, without the work of making them."""
    from django.db import connection
    from django.utils import timezone
    from psycopg import sql

    from gonghui.members import seeding
    from gonghui.members.models import Member
    from gonghui.orgs.models import Org

    table = Member._meta.db_table
    attnames, tail = seeding.member_columns()
    columns = {f.attname: str(f.column) for f in Member._meta.concrete_fields}
    results: dict[str, Any] = {}
    raw = connection.connection  # the psycopg connection under Django's

    def scratch(name: str, including: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(f"CREATE TABLE {name} (LIKE {table} {including})")

    # 1. pre-built tuples through write_row: what COPY costs once rows exist in Python.
    n = min(floor_rows, members - 1)
    tree = seeding.build_tree(members, seed_value, seeding.GUANGZHOU)
    factory = seeding.PeopleFactory(tree, seed_value)
    factory.demo_member()
    ids = dict(Org.objects.values_list("path", "id"))
    now = timezone.now()
    started = time.perf_counter()
    rows = []
    for person in factory.iter_bulk():
        rows.append(seeding.member_row(person, ids[person.org_path], now, tail))
        if len(rows) == n:
            break
    build_seconds = time.perf_counter() - started
    scratch("bench_copy_tuples", "INCLUDING ALL")
    statement = seeding.copy_statement("bench_copy_tuples", [columns[a] for a in attnames])
    started = time.perf_counter()
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
    seconds = time.perf_counter() - started
    results["prebuilt_tuples"] = {
        "rows": n,
        "rows_per_s": round(n / seconds),
        "seconds": round(seconds, 1),
        "build_rows_per_s": round(n / build_seconds),
    }
    del rows

    # 2. the table's own rows, dumped and reloaded in binary: PostgreSQL's ingest floor.
    with tempfile.TemporaryFile() as dump:
        with (
            raw.cursor() as cursor,
            cursor.copy(
                sql.SQL("COPY (SELECT * FROM {} ORDER BY id LIMIT {}) TO STDOUT (FORMAT BINARY)").format(
                    sql.Identifier(table), sql.Literal(n)
                )
            ) as copy,
        ):
            for chunk in copy:
                dump.write(chunk)
        size = dump.tell()
        for name, including, label in (
            ("bench_copy_raw", "INCLUDING ALL", "raw_binary_all_indexes"),
            ("bench_copy_twinless", "INCLUDING ALL", "raw_binary_without_like_twins"),
            ("bench_copy_bare", "INCLUDING DEFAULTS", "raw_binary_no_secondary_indexes"),
        ):
            scratch(name, including)
            with connection.cursor() as cursor:
                if label.endswith("no_secondary_indexes"):
                    cursor.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
                if label.endswith("like_twins"):
                    # Django adds a varchar_pattern_ops twin to every indexed or unique
                    # CharField; exact-match columns (blind index, mobile, card) never use it.
                    cursor.execute(
                        "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE %s",
                        [name, "%\\_like"],
                    )
                    for (index,) in cursor.fetchall():
                        cursor.execute(f'DROP INDEX "{index}"')
            dump.seek(0)
            started = time.perf_counter()
            with (
                raw.cursor() as cursor,
                cursor.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(sql.Identifier(name))) as copy,
            ):
                while chunk := dump.read(1 << 20):
                    copy.write(chunk)
            seconds = time.perf_counter() - started
            results[label] = {
                "rows": n,
                "rows_per_s": round(n / seconds),
                "seconds": round(seconds, 1),
                "mb": round(size / 1e6),
            }
    with connection.cursor() as cursor:
        for name in ("bench_copy_tuples", "bench_copy_raw", "bench_copy_twinless", "bench_copy_bare"):
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
    return results


# --- the console list ----------------------------------------------------------------


def bench_urlconf() -> str:
    """The real URLs plus one bare view, behind the same middleware: the request floor."""
    from django.http import HttpRequest, HttpResponse
    from django.urls import path

    from gonghui import urls

    def ok(request: HttpRequest) -> HttpResponse:
        return HttpResponse("ok")

    module = types.ModuleType("gonghui_bench_urls")
    module.urlpatterns = [path("__bench_ok__/", ok), *urls.urlpatterns]  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return module.__name__


def console_client(username: str) -> Any:
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from gonghui.core.models import User

    user = User.objects.get(username=username)
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.get(user=user, confirmed=True)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def measure_list(runs: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from gonghui.core import access
    from gonghui.core.access import Perm
    from gonghui.core.models import User
    from gonghui.members.models import Member
    from gonghui.orgs.models import Org

    city = Org.objects.get(region_code="440100", level="city")
    tianhe = Org.objects.get(name="天河区总工会")
    street = Org.objects.get(name="天河区石牌街道总工会")
    under_city = Member.objects.filter(org_path__startswith=city.path).count()
    under_tianhe = Member.objects.filter(org_path__startswith=tianhe.path).count()
    under_street = Member.objects.filter(org_path__startswith=street.path).count()
    total = Member.objects.count()
    client = console_client("province_admin")
    url = reverse("console:member_list")
    after = Member.objects.filter(org_path__startswith=city.path).order_by("-id").values_list("id", flat=True)[49]
    sample = Member.objects.filter(org_path__startswith=city.path).order_by("id").first()
    if sample is None:
        raise RuntimeError("no members under the city: did seeding fail?")
    cases = {
        "city page 1": f"{url}?org={city.pk}",
        "city page 2 (keyset)": f"{url}?org={city.pk}&after={after}",
        "district page 1 (天河区)": f"{url}?org={tianhe.pk}",
        "street page 1 (石牌街道)": f"{url}?org={street.pk}",
        "city search, pinyin initials": f"{url}?org={city.pk}&q={sample.name_initials}",
    }
    results: dict[str, Any] = {
        "members_total": total,
        "members_under_city": under_city,
        "members_under_district": under_tianhe,
        "members_under_street": under_street,
        "cases": {},
    }

    with connection.cursor() as cursor:

        def select_one() -> None:
            cursor.execute("SELECT 1")
            cursor.fetchone()

        results["floor_select_1"] = timed(select_one, runs)
    ok_response = client.get("/__bench_ok__/")
    if ok_response.status_code != 200:
        raise RuntimeError(f"bare view answered {ok_response.status_code}")
    results["floor_bare_view"] = timed(lambda: client.get("/__bench_ok__/"), runs)

    user = User.objects.get(username="province_admin")

    def queryset() -> None:
        qs = access.scope(user, Member.objects.select_related("org"), Perm.MEMBER_VIEW)
        list(qs.filter(org_path__startswith=city.path).order_by("-id")[:50])

    access.forget(user)
    results["queryset_city_page_1"] = timed(queryset, runs)

    slowest_sql, slowest_ms = "", 0.0
    for label, case_url in cases.items():
        response = client.get(case_url)
        if response.status_code != 200:
            raise RuntimeError(f"{label}: the console answered {response.status_code}, not 200")
        with CaptureQueriesContext(connection) as ctx:
            client.get(case_url)
        # Read the capture now: every request start resets Django's query log.
        captured = list(ctx.captured_queries)
        for query in captured:
            if float(query["time"]) * 1000 > slowest_ms and "members_member" in query["sql"]:
                slowest_ms, slowest_sql = float(query["time"]) * 1000, query["sql"]
        stats = timed(lambda case_url=case_url: client.get(case_url), runs)  # type: ignore[misc]
        stats["queries"] = len(captured)
        stats["ratio_to_bare_view"] = round(stats["median_ms"] / results["floor_bare_view"]["median_ms"], 1)
        results["cases"][label] = stats
    if slowest_sql:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest_sql)
            results["slowest_query"] = {
                "ms": round(slowest_ms, 1),
                "sql": slowest_sql,
                "plan": [row[0] for row in cursor.fetchall()],
            }
    return results


def print_report(report: dict[str, Any]) -> None:
    m, s = report["machine"], report.get("seed")
    print(f"\n== Gonghui seed + console list benchmark, {m['date']}")
    print(f"load average at start: {m['loadavg_at_start']}; at end: {[round(x, 2) for x in os.getloadavg()]}")
    print(
        f"machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, PostgreSQL {m['postgresql']} "
        f"(shared_buffers {m['shared_buffers']}), Python {m['python']}"
    )
    if s is None:
        print("\nseed: reused the database of an earlier --keep run (--reuse)")
    else:
        print(
            f"\nseed: {s['members']:,} members, {s['orgs']:,} orgs ({s['grassroots']:,} grassroots) in "
            f"{s['seconds_total']} s; members at {s['rows_per_s']:,} rows/s; peak RSS {s['peak_rss_mb']} MB"
        )
    seed_rate = s["rows_per_s"] if s is not None else 0
    for label, floor in report.get("copy_floors", {}).items():
        ratio = seed_rate / floor["rows_per_s"]
        print(
            f"  floor {label}: {floor['rows']:,} rows at {floor['rows_per_s']:,} rows/s "
            f"(seed runs at {ratio:.2f}× this)"
        )
    if "prebuilt_tuples" in report.get("copy_floors", {}):
        print(
            f"  (building those tuples alone: {report['copy_floors']['prebuilt_tuples']['build_rows_per_s']:,} rows/s)"
        )
    lst = report["list"]
    print(
        f"\nconsole list: {lst['members_under_city']:,} members under 广州市总工会 "
        f"({lst['members_total']:,} in all; {lst['members_under_district']:,} under 天河区总工会)"
    )
    fs, fv = lst["floor_select_1"], lst["floor_bare_view"]
    print(f"  floor SELECT 1:        median {fs['median_ms']:7.2f} ms  p95 {fs['p95_ms']:7.2f} ms")
    print(f"  floor bare view 'ok':  median {fv['median_ms']:7.2f} ms  p95 {fv['p95_ms']:7.2f} ms")
    q = lst["queryset_city_page_1"]
    print(f"  queryset alone (city page 1, 50 rows): median {q['median_ms']:.2f} ms  p95 {q['p95_ms']:.2f} ms")
    for label, c in lst["cases"].items():
        print(
            f"  {label:<32} median {c['median_ms']:7.1f} ms  p95 {c['p95_ms']:7.1f} ms  "
            f"{c['queries']} queries  {c['ratio_to_bare_view']}× bare view"
        )
    if "slowest_query" in lst:
        print(f"\nslowest member query ({lst['slowest_query']['ms']} ms):\n  {lst['slowest_query']['sql']}")
        print("\n".join("  " + line for line in lst["slowest_query"]["plan"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50, help="timed requests per case (after 3 warm-ups)")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--floor-rows", type=int, default=1_000_000, help="rows for the COPY floors (≤ members)")
    parser.add_argument("--no-floors", action="store_true", help="skip the COPY floors")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--force", action="store_true", help="drop an existing database even if not named *bench*")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--reuse", action="store_true", help="time the list on the database an earlier --keep run left (no seeding)"
    )
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("the benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    prepare_environment(url)
    if not args.reuse:
        recreate_database(url, force=args.force)
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import override_settings

    started = time.perf_counter()
    try:
        call_command("migrate", verbosity=0)
        report: dict[str, Any] = {"machine": machine(), "command": " ".join(["python", *sys.argv])}
        if not args.reuse:
            print(f"seeding {args.members:,} members into {urlsplit(url).path.lstrip('/')} …", file=sys.stderr)
            report["seed"] = seed(args.members, args.batch, args.seed)
        if not args.no_floors and not args.reuse:
            print("COPY floors …", file=sys.stderr)
            report["copy_floors"] = copy_floors(args.members, args.seed, args.floor_rows)
        print("timing the console member list …", file=sys.stderr)
        storages = {
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
            # No collectstatic manifest in a throwaway run: plain static URLs.
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
        with override_settings(ROOT_URLCONF=bench_urlconf(), STORAGES=storages):
            report["list"] = measure_list(args.runs)
        report["seconds"] = round(time.perf_counter() - started)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate_database(url, drop_only=True, force=True)
    print_report(report)
    print(f"\nwhole benchmark: {report['seconds']} s")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
