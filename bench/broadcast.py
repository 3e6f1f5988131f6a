"""Deliver one broadcast to every member of a city on PostgreSQL and time it.

    .venv/bin/python bench/broadcast.py                 # reuse a kept gonghui_bench, else seed 100k
    .venv/bin/python bench/broadcast.py --members 1000000 --keep
    DATABASE_URL=postgres://postgres@db:5432/gonghui_bench .venv/bin/python bench/broadcast.py

Where the members come from:

- if the database named by ``DATABASE_URL`` (default ``gonghui_bench``) exists and holds
  members — left there by ``bench/seed_demo.py --keep`` (a million under 广州市) — they are
  used as they are; the run removes only the rows it adds;
- otherwise a scratch database ``<name>_broadcast`` is created, seeded with ``--members``
  (default 100,000, all under 广州市) like ``bench/seed_demo.py`` does, and dropped at the
  end unless ``--keep``.

What is measured, in one run:

1. floor: one raw ``INSERT INTO inbox_message … SELECT … FROM members_member`` of the same
   rows (same table, same indexes, same subtree condition), i.e. what PostgreSQL needs
   to write the copies with no batching, no cursor, no Python;
2. ``inbox.delivery.deliver``: the production path (batches of ``--batch`` in their own
   transactions, each locking the broadcast, advancing the cursor, ``ignore_conflicts``
   bulk insert), messages/s, and the median/p95 batch time.

The floor runs first, into the nearly empty table, so the delivery runs against a table
already holding the floor's N rows: if anything, the ratio is pessimistic for delivery.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_demo import DEFAULT_URL, machine, prepare_environment, recreate_database


def has_members(url: str) -> int:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = parts.path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return 0
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM members_member").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


def city_and_actor() -> tuple[Any, Any]:
    from gonghui.core.access import RoleKind
    from gonghui.orgs.models import Org, OrgLevel, Role

    city = Org.objects.get(level=OrgLevel.CITY, region_code="440100")
    role = Role.objects.filter(org__depth=1, role=RoleKind.ADMIN).select_related("user").first()
    if role is None:
        raise SystemExit("no province admin in this database (was it seeded by bench/seed_demo.py?)")
    return city, role.user


def floor_insert(city: Any, title: str) -> dict[str, Any]:
    """The same copies by one INSERT … SELECT, into a throwaway broadcast."""
    from django.db import connection, transaction

    from gonghui.inbox.models import Broadcast, BroadcastStatus, Message
    from gonghui.members.models import Member

    floor = Broadcast.objects.create(
        org=city, org_path=city.path, title=title, body="floor", status=BroadcastStatus.DONE
    )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {Message._meta.db_table}
                (member_id, kind, title, body, link, sender_id, broadcast_id, created_at, sms_state)
            SELECT id, 'notice', %s, '', '', %s, %s, now(), ''
            FROM {Member._meta.db_table}
            WHERE LEFT(org_path, %s) = %s AND status <> 'left' AND erased_at IS NULL
            ORDER BY id
            """,
            [title, city.pk, floor.pk, len(city.path), city.path],
        )
        rows = cursor.rowcount
    seconds = time.perf_counter() - started
    return {"broadcast_id": floor.pk, "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


def deliver(city: Any, actor: Any, title: str, batch: int) -> dict[str, Any]:
    from gonghui.inbox import actions, delivery
    from gonghui.inbox.models import Broadcast

    queued: list[int] = []
    real_enqueue = actions.enqueue_delivery
    actions.enqueue_delivery = queued.append  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        broadcast = actions.send_broadcast(actor, city, title, "正文：各基层工会请组织会员参加。", {})
        count_seconds = time.perf_counter() - started
    finally:
        actions.enqueue_delivery = real_enqueue  # type: ignore[assignment]
    times: list[float] = []
    real_batch = delivery.deliver_batch

    def timed_batch(*args: Any, **kwargs: Any) -> bool:
        t0 = time.perf_counter()
        more = real_batch(*args, **kwargs)
        times.append(time.perf_counter() - t0)
        return more

    delivery.deliver_batch = timed_batch  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        last_report = started
        delivery.start(broadcast.pk)
        path = delivery.audience_path(broadcast)
        while timed_batch(broadcast.pk, batch, path):
            now = time.perf_counter()
            if now - last_report > 10:
                done = Broadcast.objects.values_list("sent", flat=True).get(pk=broadcast.pk)
                print(
                    f"  delivered {done:>9,} / {broadcast.total:,}  {done / (now - started):>8,.0f} msg/s",
                    file=sys.stderr,
                )
                last_report = now
        seconds = time.perf_counter() - started
    finally:
        delivery.deliver_batch = real_batch  # type: ignore[assignment]
    broadcast.refresh_from_db()
    ordered = sorted(times[:-1] or times)
    return {
        "broadcast_id": broadcast.pk,
        "status": broadcast.status,
        "total": broadcast.total,
        "sent": broadcast.sent,
        "count_seconds": round(count_seconds, 2),
        "seconds": round(seconds, 2),
        "rows_per_s": round(broadcast.sent / seconds),
        "batches": len(times),
        "batch_median_ms": round(statistics.median(ordered) * 1000, 1),
        "batch_p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] * 1000, 1),
    }


def check_once(broadcast_id: int) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT member_id) FROM inbox_message WHERE broadcast_id = %s", [broadcast_id]
        )
        copies, distinct = cursor.fetchone()
    return {"copies": copies, "distinct_members": distinct}


def cleanup(ids: list[int]) -> None:
    from django.db import connection

    from gonghui.inbox.models import Broadcast

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM inbox_message WHERE broadcast_id = ANY(%s)", [ids])
    Broadcast.objects.filter(pk__in=ids).delete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000, help="members to seed when no kept database exists")
    parser.add_argument("--batch", type=int, default=5000, help="delivery batch size")
    parser.add_argument("--keep", action="store_true", help="keep a scratch database (and the messages) afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("the benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    existing = has_members(url)
    scratch = not existing
    if scratch:
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_broadcast"))
    prepare_environment(url)
    if scratch:
        recreate_database(url, force=False)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from gonghui.members.models import Member

    report: dict[str, Any] = {"machine": machine(), "command": " ".join(["python", *sys.argv])}
    made: list[int] = []
    try:
        call_command("migrate", verbosity=0)
        if scratch:
            from seed_demo import seed

            print(f"seeding {args.members:,} members into {urlsplit(url).path.lstrip('/')} …", file=sys.stderr)
            report["seed"] = seed(args.members, 5000, 2026)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        else:
            report["reused"] = {"database": urlsplit(url).path.lstrip("/"), "members": existing}
        city, actor = city_and_actor()
        recipients = Member.objects.filter(org_path__startswith=city.path).exclude(status="left").count()  # warm-up
        report["recipients"] = recipients
        print(f"floor: INSERT … SELECT of {recipients:,} copies …", file=sys.stderr)
        report["floor"] = floor_insert(city, "【基准】下限")
        made.append(report["floor"]["broadcast_id"])
        print(f"delivery in batches of {args.batch:,} …", file=sys.stderr)
        report["delivery"] = deliver(city, actor, "【基准】关于开展夏季送清凉活动的通知", args.batch)
        made.append(report["delivery"]["broadcast_id"])
        report["check"] = check_once(report["delivery"]["broadcast_id"])
    finally:
        if made and not (scratch and args.keep):
            cleanup(made)
        connections.close_all()
        if scratch and not args.keep:
            recreate_database(url, drop_only=True, force=True)

    floor, dl, m = report["floor"], report["delivery"], report["machine"]
    print(f"\n== Gonghui broadcast delivery benchmark, {m['date']}")
    print(
        f"machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, PostgreSQL {m['postgresql']} "
        f"(shared_buffers {m['shared_buffers']}), Python {m['python']}; load average at start {m['loadavg_at_start']}"
    )
    print(f"recipients: {report['recipients']:,} members under 广州市总工会")
    print(
        f"floor  INSERT … SELECT:  {floor['rows']:>9,} rows in {floor['seconds']:>6.1f} s"
        f"  {floor['rows_per_s']:>8,} rows/s"
    )
    print(
        f"deliver (batches {args.batch:,}): {dl['sent']:>9,} msgs in {dl['seconds']:>6.1f} s"
        f"  {dl['rows_per_s']:>8,} msg/s"
        f"  = {dl['rows_per_s'] / floor['rows_per_s']:.2f}× the floor"
    )
    print(
        f"  {dl['batches']} batches, median {dl['batch_median_ms']} ms, p95 {dl['batch_p95_ms']} ms; "
        f"counting recipients at send: {dl['count_seconds']} s"
    )
    print(f"  exactly once: {report['check']['copies']:,} copies, {report['check']['distinct_members']:,} members")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
