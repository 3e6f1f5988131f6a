"""Import a member spreadsheet of N rows on PostgreSQL, end to end, and time it.

    .venv/bin/python bench/import_members.py                    # 100,000 rows
    .venv/bin/python bench/import_members.py --rows 1000000 --json /tmp/bench-import.json
    .venv/bin/python bench/import_members.py --rows 20000 --profile /tmp/import.pstats

It creates a scratch database ``<DATABASE_URL name>_import`` (default
``gonghui_bench_import``), seeds a small 广州市 tree (``--members``, default 2,000, as
``bench/seed_demo.py`` does) and drops the database at the end unless ``--keep``.

What runs, in one process:

1. a CSV of N realistic rows (UTF-8 with BOM, as Excel writes it; the template's Chinese
   headers): valid ID numbers from ``core.idnumbers.make`` in regions outside 广东 (so
   none is already a seeded member), weighted Chinese names, mobiles, dates, choices;
   about 1 % of rows carry a mistake (a bad mobile, a gender contradicting the ID, an
   in-file duplicate) so the rejection path and the error report are exercised too;
2. the real pipeline as ``manage.py import_members`` runs it: ``importing.new_job``
   (store the upload, read and check it), ``importing.dry_run`` (the preview) and
   ``importing.commit`` (the chunked write, the error report), each timed;
3. the floor: the members the import wrote, dumped with ``COPY … TO`` (binary) into a
   temporary file and loaded back with one ``COPY … FROM`` into a scratch table of the
   same shape (``LIKE members_member INCLUDING ALL``: same columns, constraints and
   indexes) — what PostgreSQL needs to store the same rows with no Python at all.

Peak memory is the process's peak RSS (``resource.getrusage``) — generating the CSV
streams to disk, so it is the pipeline's — and, separately, the largest peak RSS of the
parsing pool's processes (``RUSAGE_CHILDREN``: forked children share the parent's pages
until they write them, so the two are not simply added). ``--profile`` profiles the main
process only; the pool's parsing shows there as waiting on its futures.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import random
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from seed_demo import DEFAULT_URL, machine, prepare_environment, recreate_database

REGIONS = ("110101", "310101", "420102", "510104", "430102")  # outside 广东: never a seeded member
HEADER = (
    "姓名",
    "身份证号",
    "手机号",
    "入会日期",
    "性别",
    "出生日期",
    "民族",
    "学历",
    "政治面貌",
    "户籍类型",
    "就业状态",
    "是否农民工",
    "新就业形态",
    "技能等级",
    "工作单位",
)


def peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_child_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def write_csv(path: Path, rows: int, seed: int) -> dict[str, int]:
    """N rows streamed to ``path``; returns how many rows carry which deliberate mistake."""
    from gonghui.core import idnumbers
    from gonghui.members import seeding

    rng = random.Random(seed)
    surnames = [s for s, _w in seeding.SURNAMES]
    weights = [w for _s, w in seeding.SURNAMES]
    first = date(1965, 1, 1)
    mistakes = {"mobile": 0, "gender": 0, "duplicate": 0}
    ids: list[str] = []
    educations = ("初中", "高中", "大专", "本科", "本科", "硕士")
    politics = ("群众", "群众", "群众", "中共党员", "共青团员")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            region = REGIONS[i % len(REGIONS)]
            j = i // len(REGIONS)
            born = first + timedelta(days=j // 998)
            sequence = j % 998 + 1
            number = idnumbers.make(region, born, sequence)
            male = sequence % 2 == 1
            name = rng.choices(surnames, weights)[0] + "".join(
                rng.choice(seeding.GIVEN_MALE if male else seeding.GIVEN_FEMALE) for _ in range(rng.choice((1, 2, 2)))
            )
            mobile = f"{rng.choice(seeding.MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
            gender = "男" if male else "女"
            roll = rng.random()
            if roll < 0.004:
                mobile = mobile[:7]
                mistakes["mobile"] += 1
            elif roll < 0.007:
                gender = "女" if male else "男"
                mistakes["gender"] += 1
            elif roll < 0.010 and ids:
                number = rng.choice(ids[-500:])
                mistakes["duplicate"] += 1
            if len(ids) < 1000 or i % 100 == 0:
                ids.append(number)
            joined = born + timedelta(days=365 * 20 + rng.randrange(3000))
            writer.writerow(
                (
                    name,
                    number,
                    mobile,
                    joined.isoformat(),
                    gender,
                    born.strftime("%Y/%m/%d") if i % 2 else "",
                    "汉族" if rng.random() < 0.95 else "壮族",
                    rng.choice(educations),
                    rng.choice(politics),
                    rng.choice(("农业户口", "非农业户口")),
                    "在岗",
                    rng.choice(("是", "否", "否")),
                    rng.choice(("", "", "", "外卖员", "快递")),
                    rng.choice(("", "初级", "中级")),
                    f"广州{rng.choice(seeding.FIRM_CHARS)}{rng.choice(seeding.FIRM_CHARS)}物流有限公司",
                )
            )
    return mistakes


def run_import(path: Path, org: Any, profile: Path | None) -> dict[str, Any]:
    from django.core.files import File

    from gonghui.members import importing

    profiler = cProfile.Profile() if profile else None
    timings: dict[str, float] = {}
    if profiler:
        profiler.enable()
    started = time.perf_counter()
    with path.open("rb") as handle:
        job = importing.new_job(None, org, File(handle), name=path.name)
    timings["upload_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    summary = importing.dry_run(job)
    timings["dry_run_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    job.committing = True
    job.save(update_fields=["committing"])
    job = importing.commit(job)
    timings["commit_s"] = time.perf_counter() - mark
    total = time.perf_counter() - started
    if profiler:
        profiler.disable()
        assert profile is not None  # noqa: S101
        profiler.dump_stats(str(profile))
    rows = job.total_rows
    return {
        "job_id": job.pk,
        "rows": rows,
        "created": job.created,
        "rejected": job.rejected,
        "updated": job.updated,
        "transfers": job.transfers,
        "preview_counts": dict(summary.counts),
        **{k: round(v, 1) for k, v in timings.items()},
        "seconds": round(total, 1),
        "rows_per_s": round(rows / total),
        "peak_rss_mb": peak_rss_mb(),
        "peak_pool_rss_mb": peak_child_rss_mb(),
    }


def copy_floor(org_id: int) -> dict[str, Any]:
    """The members the import wrote, COPYed into an identical scratch table in one statement."""
    from django.db import connection

    with tempfile.TemporaryFile() as dump, connection.cursor() as cursor:
        raw = cursor.cursor
        cursor.execute("DROP TABLE IF EXISTS bench_import_floor")
        cursor.execute("CREATE TABLE bench_import_floor (LIKE members_member INCLUDING ALL)")
        with raw.copy(
            f"COPY (SELECT * FROM members_member WHERE org_id = {int(org_id)}) TO STDOUT (FORMAT BINARY)"
        ) as c:
            for block in c:
                dump.write(block)
        dump.seek(0)
        started = time.perf_counter()
        with raw.copy("COPY bench_import_floor FROM STDIN (FORMAT BINARY)") as c:
            while block := dump.read(1 << 20):
                c.write(block)
        seconds = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_import_floor")
        rows = int(cursor.fetchone()[0])
        cursor.execute("DROP TABLE bench_import_floor")
    return {"rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the generated spreadsheet")
    parser.add_argument("--members", type=int, default=2000, help="members to seed in the 广州市 tree first")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the import to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("the benchmark runs on PostgreSQL: set DATABASE_URL=postgres://…")
    parts = urlsplit(url)
    url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_import"))
    prepare_environment(url)
    recreate_database(url, force=False)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections

    from gonghui.orgs.models import Org, OrgLevel, OrgStatus

    report: dict[str, Any] = {"machine": machine(), "command": " ".join(["python", *sys.argv])}
    workdir = Path(tempfile.mkdtemp(prefix="gonghui-import-bench-"))
    try:
        call_command("migrate", verbosity=0)
        from seed_demo import seed

        print(f"seeding {args.members:,} members …", file=sys.stderr)
        report["seed"] = seed(args.members, 5000, 2026)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        org = Org.objects.filter(level=OrgLevel.GRASSROOTS, status=OrgStatus.ACTIVE).order_by("pk").first()
        if org is None:
            raise SystemExit("no grassroots union in the seeded tree")
        csv_path = workdir / "会员导入.csv"
        print(f"writing {args.rows:,} rows to {csv_path} …", file=sys.stderr)
        mark = time.perf_counter()
        report["mistakes"] = write_csv(csv_path, args.rows, 2026)
        report["csv"] = {
            "rows": args.rows,
            "bytes": csv_path.stat().st_size,
            "seconds": round(time.perf_counter() - mark, 1),
        }
        report["rss_before_import_mb"] = peak_rss_mb()
        print(f"importing into {org.name} …", file=sys.stderr)
        report["import"] = run_import(csv_path, org, args.profile)
        print("floor: raw COPY of the same rows …", file=sys.stderr)
        report["floor"] = copy_floor(org.pk)
    finally:
        connections.close_all()
        for child in workdir.iterdir():
            child.unlink()
        workdir.rmdir()
        if not args.keep:
            recreate_database(url, drop_only=True, force=True)

    imp, floor, m = report["import"], report["floor"], report["machine"]
    ratio = imp["rows_per_s"] / floor["rows_per_s"]
    report["ratio_to_floor"] = round(ratio, 3)
    print(f"\n== Gonghui member import benchmark, {m['date']}")
    print(
        f"machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, PostgreSQL {m['postgresql']} "
        f"(shared_buffers {m['shared_buffers']}), Python {m['python']}; load average at start {m['loadavg_at_start']}"
    )
    print(
        f"file: {args.rows:,} rows, {report['csv']['bytes'] / 1e6:.1f} MB CSV; deliberate mistakes {report['mistakes']}"
    )
    print(
        f"import:  {imp['rows']:>9,} rows in {imp['seconds']:>6.1f} s  {imp['rows_per_s']:>8,} rows/s"
        f"  (upload {imp['upload_s']} s, dry run {imp['dry_run_s']} s, commit {imp['commit_s']} s)"
    )
    print(
        f"  created {imp['created']:,}, rejected {imp['rejected']:,}; peak RSS {imp['peak_rss_mb']:,} MB"
        f" (a parsing pool process at most {imp['peak_pool_rss_mb']:,} MB)"
    )
    print(
        f"floor COPY: {floor['rows']:>9,} rows in {floor['seconds']:>6.1f} s  {floor['rows_per_s']:>8,} rows/s"
        f"  → import = {ratio:.2f}× the floor"
    )
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
