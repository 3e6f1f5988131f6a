"""The member import pipeline on messy real-world sheets (issue 4, first acceptance point)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.http import Http404
from openpyxl import Workbook

from gonghui.conftest import Tree, make_member
from gonghui.core import idnumbers
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members import importing
from gonghui.members.actions import find_by_id_number
from gonghui.members.models import (
    EventKind,
    ImportJob,
    JobStatus,
    Member,
    MembershipEvent,
    MemberStatus,
    Transfer,
    TransferInitiator,
)


def _id(birth: date, seq: int, region: str = "440106") -> str:
    return idnumbers.make(region, birth, seq)


def _id_with_x() -> str:
    for seq in range(1000):
        number = _id(date(1988, 8, 8), seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no X check char")


def _valid_000() -> str:
    for day in range(1, 29):
        for seq in (0, 100, 200, 300, 400, 500, 600, 700, 800, 900):
            number = _id(date(1985, 2, day), seq)
            if number.endswith("000"):
                return number
    raise AssertionError("no valid …000 number")


def _to_fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


HEADER = ["公民身份号码", "姓名", "联系电话", "入会时间", "性别", "出生日期", "学历", "政治面貌", "工作单位"]


@pytest.fixture
def people(tree: Tree) -> dict[str, Any]:
    """Members already on the platform: two here, one elsewhere, one who left elsewhere."""
    here = make_member(tree.tianhe_union, "王五", id_number=_id(date(1980, 5, 5), 11), mobile="13800138001")
    same = make_member(
        tree.tianhe_union, "赵六", id_number=_id(date(1981, 6, 6), 21), mobile="13800138002", workplace="软件园"
    )
    elsewhere = make_member(tree.nanshan_union, "孙七", id_number=_id(date(1982, 7, 7), 31))
    gone = make_member(tree.nanshan_union, "周八", id_number=_id(date(1983, 8, 8), 41))
    Member.objects.filter(pk=gone.pk).update(status=MemberStatus.LEFT)
    return {"here": here, "same": same, "elsewhere": elsewhere, "gone": gone}


def _rows(people: dict[str, Any], *, xlsx: bool) -> tuple[list[list[Any]], dict[int, str]]:
    """The messy rows (sheet rows 3…) and the expected outcome of each row number."""
    fw = _id(date(1990, 1, 1), 101)
    spaced = _id(date(1991, 2, 3), 103)
    legacy15 = "440106850315123"  # 15-digit legacy number: 1985-03-15, male
    bad_birth17 = "44010619900230123"
    bad_birth = bad_birth17 + idnumbers.check_char(bad_birth17)
    lost = next(
        n[:15] + "000"
        for n in (_id(date(1992, 3, 4), s) for s in range(1, 999, 2))
        if idnumbers.check_char(n[:15] + "00") != "0"
    )
    here, same, elsewhere, gone = people["here"], people["same"], people["elsewhere"], people["gone"]
    nbsp = "\u00a0" if xlsx else "\u3000"  # GBK has no U+00A0/U+200B: a GBK file carries U+3000
    zwsp = "\u200b" if xlsx else ""
    numeric: Any = 440106199001011234 if xlsx else "4.40106E+17"
    rows: list[tuple[str, list[Any]]] = [
        (
            "new",
            [_to_fullwidth(fw), "张三", "138 0013 8000", "2020年1月2日", "男", "1990-01-01", "本科", "党员", "甲公司"],
        ),
        ("new", [_id_with_x().lower(), "李 四", "", "2020.1.2", "", "", "大专", "群众", ""]),
        (
            "new",
            [f" {spaced[:6]}{nbsp}{spaced[6:14]} {zwsp}{spaced[14:]} ", "钱一", "", "20200102", "", "", "", "", ""],
        ),
        ("new", [legacy15, "吴二", "", date(2019, 5, 6) if xlsx else "2019/5/6", "男", "1985年3月15日", "", "", ""]),
        ("ID_NUMERIC_CELL", [numeric, "郑九", "", "", "", "", "", "", ""]),
        ("ID_PRECISION_LOSS", [lost, "冯十", "", "", "", "", "", "", ""]),
        ("new", [_valid_000(), "陈零", "", "", "", "", "", "", ""]),
        ("DATE_INVALID", [_id(date(1993, 4, 5), 107), "褚一", "", "2021-02-30", "", "", "", "", ""]),
        ("ID_BAD_BIRTH_DATE", [bad_birth, "卫二", "", "", "", "", "", "", ""]),
        ("DUPLICATE_IN_FILE", [fw, "张三", "", "", "", "", "", "", ""]),
        ("update", [here.reveal_id_number(), "王五", "13900139001", "", "", "", "", "", ""]),
        ("unchanged", [same.reveal_id_number(), "赵六", "13800138002", "", "", "", "", "", "软件园"]),
        ("transfer", [elsewhere.reveal_id_number(), "孙七", "", "", "", "", "", "", "甲公司"]),
        ("MEMBER_LEFT", [gone.reveal_id_number(), "周八", "", "", "", "", "", "", ""]),
        ("GENDER_MISMATCH", [_id(date(1994, 1, 1), 109), "蒋三", "", "", "女", "", "", "", ""]),
        ("BIRTH_DATE_MISMATCH", [_id(date(1995, 1, 1), 111), "沈四", "", "", "", "1995-01-02", "", "", ""]),
        ("NAME_REQUIRED", [_id(date(1996, 1, 1), 113), "", "", "", "", "", "", "", ""]),
        ("MOBILE_INVALID", [_id(date(1997, 1, 1), 115), "韩五", "1380013", "", "", "", "", "", ""]),
        ("ID_NUMERIC_CELL", ["4.40106E+17", "杨六", "", "", "", "", "", "", ""]),
        ("CHOICE_INVALID", [_id(date(1998, 1, 1), 117), "朱七", "", "", "", "", "博士后", "", ""]),
    ]
    expected = {number: outcome for number, (outcome, _cells) in enumerate(rows, 3)}
    return [cells for _o, cells in rows], expected


def _xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["天河软件园工会会员花名册"])  # a title row above the header
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def _gbk_csv(path: Path, rows: list[list[Any]]) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(["会员信息", "", ""])
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("gbk"))
    return path


def _upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def _outcomes(expected: dict[int, str]) -> dict[str, int]:
    counts = {"new": 0, "update": 0, "transfer": 0, "unchanged": 0, "rejected": 0}
    for outcome in expected.values():
        counts[outcome if outcome in counts else "rejected"] += 1
    return counts


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_messy_sheet_preview_then_commit(
    kind: str, tree: Tree, people: dict[str, Any], bob: User, tmp_path: Path
) -> None:
    rows, expected = _rows(people, xlsx=kind == "xlsx")
    path = _xlsx(tmp_path / "会员.xlsx", rows) if kind == "xlsx" else _gbk_csv(tmp_path / "会员.csv", rows)
    job = importing.create_job(bob, tree.tianhe_union, _upload(path))
    assert job.file_format == kind and job.encoding == ("" if kind == "xlsx" else "gb18030")
    assert job.total_rows == len(rows)

    importing.dry_run(job)
    job.refresh_from_db()
    assert job.status == JobStatus.READY
    counts = _outcomes(expected)
    assert job.preview["counts"] == counts
    rejected = {r["row"]: r["code"] for r in job.preview["rejected_rows"]}
    assert rejected == {n: o for n, o in expected.items() if o not in counts}
    assert job.preview["updates"] == [{"row": 13, "name": "王五", "fields": ["mobile"]}]
    assert job.preview["header"]["公民身份号码"] == "身份证号" and job.preview["header"]["联系电话"] == "手机号"
    assert Member.objects.count() == 4  # a dry run writes nothing
    dup = next(r for r in job.preview["rejected_rows"] if r["code"] == "DUPLICATE_IN_FILE")
    assert "第 3 行" in dup["message"]

    importing.commit_job(bob, job)
    importing.commit(job)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert (job.created, job.updated, job.transfers, job.unchanged, job.rejected) == (
        counts["new"],
        counts["update"],
        counts["transfer"],
        counts["unchanged"],
        counts["rejected"],
    )
    assert {r["row"]: r["code"] for r in importing.error_report_rows(job)} == rejected
    # The normalised numbers found their people.
    zhang = find_by_id_number(_id(date(1990, 1, 1), 101))
    assert zhang is not None and zhang.mobile == "13800138000" and zhang.join_date == date(2020, 1, 2)
    assert zhang.education == "bachelor" and zhang.political_status == "cpc" and zhang.card_number
    li = find_by_id_number(_id_with_x())
    assert li is not None and li.name == "李四" and li.join_date == date(2020, 1, 2)
    legacy = find_by_id_number("440106850315123")
    assert legacy is not None and legacy.join_date == date(2019, 5, 6)
    assert find_by_id_number(_valid_000()) is not None
    assert MembershipEvent.objects.filter(member=zhang, kind=EventKind.JOINED).count() == 1
    people["here"].refresh_from_db()
    assert people["here"].mobile == "13900139001"
    people["elsewhere"].refresh_from_db()
    assert people["elsewhere"].org_id == tree.nanshan_union.pk  # never silently moved
    transfer = Transfer.objects.get(member=people["elsewhere"])
    assert transfer.to_org_id == tree.tianhe_union.pk and transfer.initiated_by == TransferInitiator.CADRE
    assert transfer.requested_by_id == bob.pk
    assert AuditEvent.objects.filter(action="import.commit", object_id=str(job.pk)).get().details["created"] == 5
    assert AuditEvent.objects.filter(action="import.dry_run", object_id=str(job.pk)).exists()

    # The error report: the original rows plus 错误原因, in the upload's format.
    assert job.error_report.name.endswith("." + kind)
    report = _read_report(job, kind)
    assert report[0][-1] == "错误原因" and report[0][0] == "公民身份号码"
    assert len(report) == 1 + counts["rejected"]
    assert report[1][1] == "郑九" and report[1][-1].startswith("[ID_NUMERIC_CELL]")

    # Importing the same file again: nothing new, the transfer is not requested twice.
    again = importing.create_job(bob, tree.tianhe_union, _upload(path))
    importing.dry_run(again)
    importing.commit_job(bob, again)
    importing.commit(again)
    again.refresh_from_db()
    assert (again.created, again.transfers) == (0, 1)
    assert Transfer.objects.filter(member=people["elsewhere"]).count() == 1
    assert Member.objects.count() == 4 + counts["new"]


def _read_report(job: ImportJob, kind: str) -> list[list[Any]]:
    with job.error_report.open("rb") as handle:
        data = handle.read()
    if kind == "csv":
        return list(csv.reader(io.StringIO(data.decode("gbk"), newline="")))
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def test_cli_json_summary(tree: Tree, people: dict[str, Any], bob: User, tmp_path: Path) -> None:
    rows, expected = _rows(people, xlsx=False)
    path = _gbk_csv(tmp_path / "members.csv", rows)
    out = io.StringIO()
    call_command("import_members", str(path), "--org", str(tree.tianhe_union.pk), "--dry-run", "--json", stdout=out)
    preview = json.loads(out.getvalue())
    assert preview["dry_run"] is True and preview["created"] == 5 and Member.objects.count() == 4
    out = io.StringIO()
    call_command("import_members", str(path), "--org", str(tree.tianhe_union.pk), "--json", "--user", "bob", stdout=out)
    result = json.loads(out.getvalue())
    counts = _outcomes(expected)
    assert {k: result[k] for k in ("rows", "created", "updated", "transfers", "unchanged", "rejected")} == {
        "rows": len(rows),
        "created": counts["new"],
        "updated": counts["update"],
        "transfers": counts["transfer"],
        "unchanged": counts["unchanged"],
        "rejected": counts["rejected"],
    }
    assert result["reasons"]["ID_NUMERIC_CELL"] == {"count": 2, "rows": [7, 21]}
    assert result["reasons"]["DUPLICATE_IN_FILE"] == {"count": 1, "rows": [12]}
    assert Member.objects.count() == 4 + counts["new"]


def test_cli_without_user_does_not_request_transfers(tree: Tree, people: dict[str, Any], tmp_path: Path) -> None:
    rows, _expected = _rows(people, xlsx=False)
    path = _gbk_csv(tmp_path / "members.csv", rows)
    out = io.StringIO()
    call_command("import_members", str(path), "--org", str(tree.tianhe_union.pk), "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["transfers"] == 0 and result["reasons"]["TRANSFER_NEEDS_ACTOR"]["rows"] == [15]
    assert not Transfer.objects.exists()


def _plain_csv(path: Path, count: int, start: int = 0) -> Path:
    lines = ["姓名,身份证号,手机号"]
    for i in range(start, start + count):
        born = date(1960, 1, 1) + (date(2000, 1, 1) - date(1960, 1, 1)) * (i % 997) / 997
        lines.append(f"会员{i},{idnumbers.make('440106', born, i % 1000)},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Killed(Exception):
    pass


def test_commit_resumes_after_a_killed_worker(
    tree: Tree, bob: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _plain_csv(tmp_path / "big.csv", 95)
    job = importing.create_job(bob, tree.tianhe_union, _upload(path))
    importing.dry_run(job)
    importing.commit_job(bob, job)

    def die(job: ImportJob, chunk: int) -> None:
        if chunk == 3:
            raise Killed

    monkeypatch.setattr(importing, "_chunk_committed", die)
    with pytest.raises(Killed):
        importing.commit(job, chunk_size=20)
    job.refresh_from_db()
    assert (job.cursor, job.created, job.status) == (59, 60, JobStatus.RUNNING)
    assert Member.objects.count() == 60

    monkeypatch.setattr(importing, "_chunk_committed", lambda job, chunk: None)
    importing.commit(job, chunk_size=20)
    job.refresh_from_db()
    assert (job.status, job.created, job.rejected, job.cursor) == (JobStatus.DONE, 95, 0, 94)
    assert Member.objects.count() == 95
    assert MembershipEvent.objects.filter(kind=EventKind.JOINED).count() == 95
    cards = list(Member.objects.values_list("card_number", flat=True))
    assert len(set(cards)) == 95 and None not in cards
    assert not job.error_report  # nothing rejected, no report
    importing.commit(job)  # a late duplicate task does nothing
    assert Member.objects.count() == 95


def test_resume_imports_reenqueues_stale_jobs(tree: Tree, bob: User, tmp_path: Path) -> None:
    from datetime import timedelta

    from django.utils import timezone

    job = importing.create_job(bob, tree.tianhe_union, _upload(_plain_csv(tmp_path / "x.csv", 5)))
    importing.dry_run(job)
    importing.commit_job(bob, job)
    assert importing.resume_imports() == []  # fresh heartbeat
    later = timezone.now() + timedelta(hours=1)
    assert importing.resume_imports(later) == [job.pk]


def test_another_districts_cadre_cannot_import(tree: Tree, charlie: User, bob: User, tmp_path: Path) -> None:
    path = _plain_csv(tmp_path / "x.csv", 3)
    with pytest.raises(Http404):
        importing.create_job(charlie, tree.tianhe_union, _upload(path))
    job = importing.create_job(bob, tree.tianhe_union, _upload(path))
    with pytest.raises(Conflict):
        importing.commit_job(bob, job)  # no dry run yet
    importing.dry_run(job)
    with pytest.raises(Http404):
        importing.commit_job(charlie, job)
    assert not ImportJob.objects.filter(committing=True).exists()


def test_unreadable_files_are_refused(tree: Tree, bob: User, tmp_path: Path) -> None:
    with pytest.raises(InvalidValue) as info:
        importing.create_job(bob, tree.tianhe_union, SimpleUploadedFile("old.xls", b"\xd0\xcf\x11\xe0"))
    assert info.value.code == "IMPORT_FORMAT"
    with pytest.raises(InvalidValue) as info:
        importing.create_job(bob, tree.tianhe_union, SimpleUploadedFile("a.csv", "甲,乙\n1,2\n".encode()))
    assert info.value.code == "IMPORT_MISSING_COLUMNS"
    with pytest.raises(InvalidValue) as info:
        importing.create_job(bob, tree.tianhe_union, SimpleUploadedFile("a.csv", "姓名,身份证号\n".encode()))
    assert info.value.code == "IMPORT_EMPTY"
    assert not ImportJob.objects.exists()


def test_template_has_text_id_column() -> None:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(importing.template_xlsx())).worksheets[0]
    assert sheet["A1"].value == "姓名*" and sheet["B1"].value == "身份证号*"
    assert sheet["B2"].number_format == "@" and isinstance(sheet["B2"].value, str)
    # The template's own header maps back to the columns.
    assert set(importing.map_header([c.value for c in sheet[1]]).values()) == {c.key for c in importing.COLUMNS}


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the big resumable import is proven on PostgreSQL")
def test_200k_rows_killed_and_resumed(tree: Tree, bob: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    total = 200_000
    lines = ["姓名,身份证号,手机号"]
    start = date(1960, 1, 1)
    for i in range(total):
        born = start + timedelta(days=i // 1000)
        lines.append(f"会员{i % 5000},{idnumbers.make('440106', born, i % 1000)},")
    lines.append(f"重复,{idnumbers.make('440106', start, 0)},")  # a duplicate of row 2
    lines.append("坏号,4.40106E+17,")
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    job = importing.create_job(bob, tree.tianhe_union, _upload(path))
    importing.dry_run(job)
    job.refresh_from_db()
    assert job.preview["counts"]["new"] == total and job.preview["counts"]["rejected"] == 2
    importing.commit_job(bob, job)

    def die(job: ImportJob, chunk: int) -> None:
        if chunk == 37:
            raise Killed

    monkeypatch.setattr(importing, "_chunk_committed", die)
    with pytest.raises(Killed):
        importing.commit(job, chunk_size=2000)
    assert Member.objects.count() == 37 * 2000
    monkeypatch.setattr(importing, "_chunk_committed", lambda job, chunk: None)
    importing.commit(job)
    job.refresh_from_db()
    assert (job.status, job.created, job.rejected, job.total_rows) == (JobStatus.DONE, total, 2, total + 2)
    assert Member.objects.count() == total
    assert Member.objects.values("id_number_bidx").distinct().count() == total
    assert Member.objects.values("card_number").distinct().count() == total
    assert {r["code"] for r in importing.error_report_rows(job)} == {"DUPLICATE_IN_FILE", "ID_NUMERIC_CELL"}
    with job.error_report.open("rb") as handle:
        assert handle.read().decode("utf-8").count("\n") == 3  # header + the two rejected rows


def test_tasks_run_the_dry_run_and_the_commit_after_commit(
    tree: Tree, bob: User, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = importing.create_job(bob, tree.tianhe_union, _upload(_plain_csv(tmp_path / "x.csv", 7)))
    job.refresh_from_db()
    assert job.status == JobStatus.READY and job.preview["counts"]["new"] == 7
    with django_capture_on_commit_callbacks(execute=True):
        importing.commit_job(bob, job)
    job.refresh_from_db()
    assert (job.status, job.created, job.percent) == (JobStatus.DONE, 7, 100)
    assert Member.objects.filter(org=tree.tianhe_union).count() == 7
    with pytest.raises(Conflict):
        importing.commit_job(bob, job)  # committed once only


@pytest.mark.parametrize("spill", ["kept", "missing", "tampered"])
def test_commit_uses_the_dry_runs_rows_or_parses_the_file_again(
    spill: str, tree: Tree, people: dict[str, Any], bob: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run spills its parsed rows beside the upload; the commit takes them only
    when they are whole and authentic, else parses the file again: the outcome is the same."""
    rows, expected = _rows(people, xlsx=False)
    job = importing.create_job(bob, tree.tianhe_union, _upload(_gbk_csv(tmp_path / "会员.csv", rows)))
    importing.dry_run(job)
    path = Path(job.source.path + ".rows")
    assert path.is_file() and b"13800138000" not in path.read_bytes()  # sealed, not plain
    if spill == "missing":
        path.unlink()
    elif spill == "tampered":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 1
        path.write_bytes(bytes(data))
    parsed_again: list[int] = []
    real = importing.prepared_chunks

    def counting(*args: Any, **kwargs: Any) -> Any:
        parsed_again.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(importing, "prepared_chunks", counting)
    importing.commit_job(bob, job)
    importing.commit(job)
    job.refresh_from_db()
    counts = _outcomes(expected)
    assert (job.created, job.updated, job.transfers, job.unchanged, job.rejected) == (
        counts["new"],
        counts["update"],
        counts["transfer"],
        counts["unchanged"],
        counts["rejected"],
    )
    assert {r["row"]: r["code"] for r in importing.error_report_rows(job)} == {
        n: o for n, o in expected.items() if o not in counts
    }
    assert bool(parsed_again) == (spill != "kept")
    assert not path.exists()  # the spill goes with the commit


def test_a_big_sheet_is_parsed_by_a_pool_with_the_same_rows(tmp_path: Path) -> None:
    """Two forked processes parse a big sheet; rows, order and in-file duplicates are the
    same as parsing it here."""
    path = _plain_csv(tmp_path / "big.csv", 5000)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"重复,{idnumbers.make('440106', date(1960, 1, 1), 0)},\n")  # row 2 again
    source = importing.read_path(path)
    alone = [r.as_tuple() for rows in importing.prepared_chunks(source, 700) for r in rows]
    source = importing.read_path(path)
    pooled = [r.as_tuple() for rows in importing.prepared_chunks(source, 700, workers=2) for r in rows]

    def comparable(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        return [r[:9] + r[10:] for r in rows]  # the ciphertext differs by its nonce

    assert len(alone) == 5001 and comparable(pooled) == comparable(alone)
    assert alone[-1][5] == "DUPLICATE_IN_FILE" and "第 2 行" in alone[-1][6]
