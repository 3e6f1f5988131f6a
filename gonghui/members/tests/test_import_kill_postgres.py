"""Acceptance on PostgreSQL (issue 4): a real worker process committing a 200,000-row
member import is SIGKILLed mid-way; the resume a restarted worker runs finishes it with
exact counts, no member twice and an error report holding every rejected row once.

The sheet is the benchmark's generator (``bench/import_members.py``: realistic rows with
≈ 1 % deliberate mistakes whose number it reports) with rows about people already on the
platform put before and after it: updates and unchanged members of the union, members
of another union (transfers), a member who left (rejected). Everything is committed (no
test transaction) so the worker process sees it; the module cleans up after itself.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from gonghui.conftest import make_cadre, make_member, make_org
from gonghui.core import idnumbers
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members import datachecks, importing
from gonghui.members.models import EventKind, ImportJob, JobStatus, Member, MembershipEvent, MemberStatus, Transfer
from gonghui.orgs.models import Org, OrgLevel

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the acceptance run is on PostgreSQL"),
]

ROOT = Path(settings.BASE_DIR)
GENERATED = 200_000
KILL_AFTER = 30_000  # rows committed before the worker is killed
WORKER_APP_NAME = "gonghui-import-test-worker"
WORKER = """
import django
django.setup()
from gonghui.members import tasks
tasks.run_import_commit.call({pk})
"""


def bench_module() -> ModuleType:
    """``bench/import_members.py`` (its generator); it imports ``seed_demo`` from ``bench/``."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("bench_import_members", ROOT / "bench" / "import_members.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def person(birth: date, seq: int) -> str:
    return idnumbers.make("440106", birth, seq)  # 广东: the generator never makes these


@pytest.fixture
def committed(transactional_db: Any) -> Iterator[dict[str, Any]]:
    """Two unions with members, a cadre; committed so that another process sees them
    (``transactional_db``: no test transaction, the tables are flushed afterwards)."""
    province = make_org(None, OrgLevel.PROVINCE, "广东省总工会", region_code="440000")
    city = make_org(province, OrgLevel.CITY, "广州市总工会", region_code="440100")
    district = make_org(city, OrgLevel.DISTRICT, "天河区总工会", region_code="440106")
    street = make_org(district, OrgLevel.STREET, "石牌街道总工会", region_code="440106")
    union = make_org(street, OrgLevel.GRASSROOTS, "天河物流公司工会", unit_name="天河物流公司", region_code="440106")
    other = make_org(street, OrgLevel.GRASSROOTS, "天河快递公司工会", unit_name="天河快递公司", region_code="440106")
    cadre = make_cadre("import_boss", "区总干部", district, RoleKind.ADMIN)
    here = [
        make_member(union, f"本会{i}", id_number=person(date(1980, 1, 1), i), mobile="13800138000") for i in range(30)
    ]
    elsewhere = [make_member(other, f"外会{i}", id_number=person(date(1981, 1, 1), i)) for i in range(20)]
    gone = [make_member(other, f"退会{i}", id_number=person(date(1982, 1, 1), i)) for i in range(5)]
    Member.objects.filter(pk__in=[m.pk for m in gone]).update(status=MemberStatus.LEFT)
    yield {"union": union, "cadre": cadre, "here": here, "elsewhere": elsewhere, "gone": gone}
    # A killed worker's server session may outlive it for a moment; it must not keep
    # the flush or the test database's drop waiting.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def build_sheet(path: Path, people: dict[str, Any]) -> dict[str, int]:
    """The generator's rows between two blocks about known people; the expected outcomes."""
    generated = path.with_name("generated.csv")
    mistakes = bench_module().write_csv(generated, GENERATED, 4)

    def known(members: list[Member], mobile: str) -> list[list[str]]:
        return [[m.name, m.reveal_id_number(), mobile] + [""] * 12 for m in members]

    here = people["here"]
    before = known(here[:10], "13900139000") + known(people["elsewhere"][:10], "") + known(here[10:20], "")
    after = known(here[20:], "13900139000") + known(people["elsewhere"][10:], "") + known(people["gone"], "")
    with (
        generated.open(encoding="utf-8-sig", newline="") as source,
        path.open("w", encoding="utf-8-sig", newline="") as out,
    ):
        reader, writer = csv.reader(source), csv.writer(out)
        writer.writerow(next(reader))
        writer.writerows(before)
        writer.writerows(reader)
        writer.writerows(after)
    generated.unlink()
    rejected = sum(mistakes.values()) + len(people["gone"])
    return {
        "rows": GENERATED + len(before) + len(after),
        "new": GENERATED - sum(mistakes.values()),
        "update": 20,  # a new mobile
        "unchanged": 10,  # an empty mobile changes nothing
        "transfer": 20,
        "rejected": rejected,
        "MOBILE_INVALID": mistakes["mobile"],
        "GENDER_MISMATCH": mistakes["gender"],
        "DUPLICATE_IN_FILE": mistakes["duplicate"],
        "MEMBER_LEFT": len(people["gone"]),
    }


def worker_env() -> dict[str, str]:
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "gonghui.test_settings",
        "PGAPPNAME": WORKER_APP_NAME,  # libpq names the sessions: the test waits for them to end
    }


def wait_for_worker_sessions_to_end(timeout: float = 30) -> None:
    """A SIGKILLed client's server session may still be finishing the COMMIT it had sent:
    only once it is gone does the database stop changing under the test."""
    deadline = time.monotonic() + timeout
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER_APP_NAME])
            (alive,) = cursor.fetchone()
        if not alive:
            return
        assert time.monotonic() < deadline, "the killed worker's database session never ended"
        time.sleep(0.05)


def sheet_rows(path: Path) -> dict[int, list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        rows: dict[int, list[str]] = {}
        for row in reader:
            rows[reader.line_num] = row
        return rows


def test_worker_killed_mid_commit_resumes_exactly(
    committed: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    union: Org = committed["union"]
    cadre: User = committed["cadre"]
    path = tmp_path / "会员花名册.csv"
    started = time.perf_counter()
    expected = build_sheet(path, committed)
    members_before = Member.objects.filter(org=union).count()
    queued: list[tuple[str, int]] = []
    monkeypatch.setattr(importing, "_enqueue", lambda kind, job_id: queued.append((kind, job_id)))
    job = importing.create_job(cadre, union, SimpleUploadedFile(path.name, path.read_bytes()))
    summary = importing.dry_run(job)  # the enqueued dry run, run here; it spills its rows
    job.refresh_from_db()
    counts = {k: expected[k] for k in ("new", "update", "transfer", "unchanged", "rejected")}
    assert job.total_rows == expected["rows"] and job.preview["counts"] == counts
    expected_reasons = {
        k: expected[k] for k in ("MOBILE_INVALID", "GENDER_MISMATCH", "DUPLICATE_IN_FILE", "MEMBER_LEFT")
    }
    assert {code: len(rows) for code, rows in summary.reasons.items()} == expected_reasons
    rejected_rows = {number: code for code, rows in summary.reasons.items() for number in rows}
    importing.commit_job(cadre, job)
    monkeypatch.undo()
    assert queued == [("dry_run", job.pk), ("commit", job.pk)]  # the commit goes to the worker below
    prepared = time.perf_counter()

    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", WORKER.format(pk=job.pk)], cwd=ROOT, env=worker_env()
    )
    try:
        deadline = time.monotonic() + 90
        while ImportJob.objects.values_list("cursor", flat=True).get(pk=job.pk) < KILL_AFTER:
            assert worker.poll() is None, "the worker ended before it could be killed"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    wait_for_worker_sessions_to_end()
    killed = time.perf_counter()

    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    assert KILL_AFTER <= job.cursor < expected["rows"] - 1  # moved, not done
    # What the dead worker committed is whole chunks: the counters and the rows agree.
    assert Member.objects.filter(org=union).count() == members_before + job.created
    assert job.rejections.count() == job.rejected > 0
    assert not job.error_report

    # A restarted worker's housekeeping finds the silent job and runs its commit (the
    # test settings' ImmediateBackend runs the re-enqueued task right here).
    # The data checks that follow a commit are their own task: recorded, not run here.
    checks: list[int] = []
    monkeypatch.setattr(datachecks, "run_checks_task", SimpleNamespace(enqueue=checks.append))
    later = timezone.now() + 2 * importing.stale_after()
    assert importing.resume_imports(later) == [job.pk]
    assert checks == [union.pk]
    job.refresh_from_db()
    finished = time.perf_counter()

    assert job.status == JobStatus.DONE and job.cursor == expected["rows"] - 1
    assert (job.created, job.updated, job.transfers, job.unchanged, job.rejected) == (
        expected["new"],
        expected["update"],
        expected["transfer"],
        expected["unchanged"],
        expected["rejected"],
    )
    # No member twice: one row per blind index, the union holds exactly the new ones.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT id_number_bidx), count(card_number), count(DISTINCT card_number)"
            " FROM members_member"
        )
        rows, people, cards, distinct_cards = cursor.fetchone()
    assert rows == people and cards == distinct_cards >= expected["new"]
    assert Member.objects.filter(org=union).count() == members_before + expected["new"]
    assert MembershipEvent.objects.filter(kind=EventKind.JOINED, org=union, note="批量导入").count() == expected["new"]
    assert Transfer.objects.filter(to_org=union).count() == expected["transfer"]
    assert Transfer.objects.filter(to_org=union).values("member").distinct().count() == expected["transfer"]
    assert Member.objects.filter(org=union, mobile="13900139000").count() == expected["update"]

    # The error report: every rejected row, once, as uploaded, in row order, with its reason.
    assert {r["row"]: r["code"] for r in importing.error_report_rows(job)} == rejected_rows
    original = sheet_rows(path)
    with job.error_report.open("rb") as handle:
        report = list(csv.reader(io.StringIO(handle.read().decode("utf-8-sig"), newline="")))
    assert report[0] == [*original[1], "错误原因"]
    numbers = sorted(rejected_rows)
    assert [line[:-1] for line in report[1:]] == [original[n] for n in numbers]
    assert [line[-1].split("]")[0][1:] for line in report[1:]] == [rejected_rows[n] for n in numbers]
    assert not Path(job.source.path + ".rows").exists()  # the dry run's spill is gone
    job.error_report.delete(save=False)
    job.source.delete(save=False)  # 30 MB: not left behind in the private storage
    print(  # noqa: T201
        f"\nsheet + upload + dry run {prepared - started:.1f} s; worker killed at row {KILL_AFTER:,}+"
        f" after {killed - prepared:.1f} s; resumed to the end in {finished - killed:.1f} s"
    )
