"""import_orgs reads real hierarchies from csv/xlsx, in any row order, all-or-nothing by default."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import Workbook

from gonghui.conftest import Tree
from gonghui.core.models import AuditEvent
from gonghui.core.uscc import make_union_code
from gonghui.orgs import importing
from gonghui.orgs.models import Org, OrgLevel, UnitType

HEADER = [
    "工会名称",
    "层级",
    "上级工会",
    "工会统一社会信用代码",
    "单位名称",
    "单位统一社会信用代码",
    "单位性质",
    "所属行业",
    "行政区划代码",
    "地址",
    "职工人数",
    "会员人数",
    "工会主席",
    "成立日期",
    "批准日期",
    "批复文号",
    "任期开始",
    "任期结束",
    "所属产业工会",
]
STREET_USCC = make_union_code("440106", 900, grassroots=False)
HUAXING_USCC = make_union_code("440106", 901)
KEJI_USCC = make_union_code("440106", 902)
INDUSTRY_USCC = make_union_code("440000", 903, grassroots=False)


def _unit_uscc(serial: int) -> str:
    from gonghui.core import uscc

    body = f"{serial:08d}"
    return uscc.make("91440106" + body + uscc.org_code_check_char(body))


def rows() -> list[list[str]]:
    """Children before parents on purpose: the importer sorts them."""
    return [
        [
            "广州市天河区华兴科技有限公司工会",
            "基层工会",
            "天河区五山街道总工会",
            HUAXING_USCC,
            "广州市天河区华兴科技有限公司",
            _unit_uscc(11),
            "私营",
            "制造业",
            "440106",
            "广州市天河区五山路1号",
            "120",
            "100",
            "陈华",
            "2020-01-02",
            "2020/1/2",
            "穗天工复〔2020〕3号",
            "2020年1月2日",
            "20250101",
            "广东省机械冶金建材工会",
        ],
        [
            "广州市天河区科技园有限公司工会",
            "基层工会",
            STREET_USCC,
            KEJI_USCC,
            "广州市天河区科技园有限公司",
            _unit_uscc(12),
            "外资企业",
            "信息传输、软件和信息技术服务业",
            "440106",
            "",
            "1,000",
            "800",
            "李明",
            "2018.3.5",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "天河区五山街道总工会",
            "街道工会",
            "天河区总工会",
            STREET_USCC,
            "",
            "",
            "",
            "",
            "440106",
            "",
            "",
            "",
            "王强",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "广东省机械冶金建材工会",
            "产业工会",
            "广东省总工会",
            INDUSTRY_USCC,
            "",
            "",
            "",
            "",
            "440000",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ],
    ]


def write_csv(path: Path, data: list[list[str]], encoding: str = "utf-8-sig", header: list[str] = HEADER) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(data)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def run(path: Path, *flags: str) -> tuple[str, bool]:
    """(stdout, whether the command failed)."""
    out = io.StringIO()
    try:
        call_command("import_orgs", str(path), *flags, stdout=out, stderr=io.StringIO())
    except CommandError:
        return out.getvalue(), True
    return out.getvalue(), False


def assert_imported(tree: Tree) -> None:
    street = Org.objects.get(uscc=STREET_USCC)
    assert street.level == OrgLevel.STREET and street.path.startswith(tree.tianhe.path) and street.depth == 4
    huaxing = Org.objects.get(uscc=HUAXING_USCC)
    assert huaxing.path.startswith(street.path) and huaxing.level == OrgLevel.GRASSROOTS
    assert huaxing.unit_type == UnitType.PRIVATE and huaxing.employee_count == 120
    assert huaxing.declared_member_count == 100 and huaxing.chair_name == "陈华"
    assert (huaxing.founded_on, huaxing.approval_date, huaxing.term_start, huaxing.term_end) == (
        date(2020, 1, 2),
        date(2020, 1, 2),
        date(2020, 1, 2),
        date(2025, 1, 1),
    )
    assert huaxing.industry_parent == Org.objects.get(name="广东省机械冶金建材工会", level=OrgLevel.INDUSTRY)
    keji = Org.objects.get(uscc=KEJI_USCC)
    assert keji.path.startswith(street.path) and keji.employee_count == 1000 and keji.unit_type == UnitType.FOREIGN
    assert keji.founded_on == date(2018, 3, 5)
    assert Org.objects.find_problems() == ([], [], [], [], [])


@pytest.mark.django_db
@pytest.mark.parametrize(("encoding", "reported"), [("utf-8-sig", "utf-8-sig"), ("gbk", "gb18030"), ("utf-8", "utf-8")])
def test_csv_in_any_order_and_common_encodings_is_imported(
    tree: Tree, tmp_path: Path, encoding: str, reported: str
) -> None:
    path = write_csv(tmp_path / "orgs.csv", rows(), encoding)
    out, failed = run(path)
    assert not failed, out
    assert "已导入 4 个工会组织" in out
    assert_imported(tree)
    report = importing.import_orgs(write_csv(tmp_path / "again.csv", [], encoding))
    assert report.errors[0].code == "ORG_IMPORT_EMPTY"
    assert importing.read_csv(path).encoding == reported


@pytest.mark.django_db
def test_every_row_goes_through_create_org_and_is_audited(tree: Tree, tmp_path: Path) -> None:
    before = AuditEvent.objects.filter(action="org.create").count()
    run(write_csv(tmp_path / "orgs.csv", rows()))
    assert AuditEvent.objects.filter(action="org.create").count() == before + 4
    summary = AuditEvent.objects.get(action="org.import")
    assert summary.actor_label == "import_orgs" and summary.details["created"] == 4


@pytest.mark.django_db
def test_xlsx_with_a_title_row_date_cells_and_number_cells(tree: Tree, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["天河区工会组织信息表（2026 年）"])
    sheet.append(
        [
            "工会名称*",
            "层级",
            "上级工会（名称或信用代码）",
            "统一社会信用代码",
            "单位名称",
            "单位性质",
            "区划代码",
            "职工数",
            "会员数",
            "建会日期",
            "批准日期",
            "任期届满",
            "产业工会",
        ]
    )
    data = rows()
    for r in data:
        sheet.append(
            [
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[6],
                int(r[8]),
                int(r[10].replace(",", "")) if r[10] else None,
                int(r[11]) if r[11] else None,
                datetime(2020, 1, 2) if r[0].startswith("广州市天河区华兴") else r[13],
                43832 if r[0].startswith("广州市天河区华兴") else None,
                r[17],
                r[18],
            ]
        )
    path = tmp_path / "orgs.xlsx"
    book.save(path)
    out, failed = run(path)
    assert not failed, out
    huaxing = Org.objects.get(uscc=HUAXING_USCC)
    assert huaxing.founded_on == date(2020, 1, 2)
    assert huaxing.approval_date == date(2020, 1, 2)  # Excel day number 43832
    assert huaxing.region_code == "440106" and huaxing.employee_count == 120
    assert huaxing.industry_parent is not None
    assert Org.objects.get(uscc=KEJI_USCC).founded_on == date(2018, 3, 5)


@pytest.mark.django_db
def test_a_bad_uscc_is_reported_with_row_and_code_and_nothing_is_written(tree: Tree, tmp_path: Path) -> None:
    data = rows()
    data[1][3] = KEJI_USCC[:-1] + ("0" if KEJI_USCC[-1] != "0" else "1")
    count = Org.objects.count()
    out, failed = run(write_csv(tmp_path / "orgs.csv", data))
    assert failed
    assert "第 3 行 [USCC_BAD_CHECK_CHAR] 工会统一社会信用代码" in out  # header is row 1: the second data row is row 3
    assert "没有写入任何工会组织" in out
    assert Org.objects.count() == count
    assert not AuditEvent.objects.filter(action="org.import").exists()


@pytest.mark.django_db
def test_an_unknown_parent_is_reported(tree: Tree, tmp_path: Path) -> None:
    data = rows()
    data[2][2] = "不存在区总工会"
    report = importing.import_orgs(write_csv(tmp_path / "orgs.csv", data))
    codes = {(e.row, e.code) for e in report.errors}
    assert (4, "ORG_IMPORT_PARENT_NOT_FOUND") in codes
    # The street's children cannot be imported either; the industry union could, but
    # all-or-nothing keeps everything out.
    assert (2, "ORG_IMPORT_PARENT_FAILED") in codes and (3, "ORG_IMPORT_PARENT_FAILED") in codes
    assert not report.committed and report.created == 0
    assert not Org.objects.filter(uscc__in=[INDUSTRY_USCC, STREET_USCC]).exists()


@pytest.mark.django_db
def test_partial_commits_the_valid_rows(tree: Tree, tmp_path: Path) -> None:
    data = rows()
    data[2][2] = "不存在区总工会"
    out, failed = run(write_csv(tmp_path / "orgs.csv", data), "--partial")
    assert failed  # the exit status still says not everything went in
    assert "已导入 1 个工会组织" in out and "3 行未导入" in out
    assert Org.objects.filter(uscc=INDUSTRY_USCC).exists()
    assert not Org.objects.filter(uscc=STREET_USCC).exists()


@pytest.mark.django_db
def test_dry_run_checks_everything_and_writes_nothing(tree: Tree, tmp_path: Path) -> None:
    count = Org.objects.count()
    out, failed = run(write_csv(tmp_path / "orgs.csv", rows()), "--dry-run")
    assert not failed
    assert "检查通过：可以导入 4 个工会组织" in out
    assert Org.objects.count() == count


@pytest.mark.django_db
def test_json_prints_one_summary_object(tree: Tree, tmp_path: Path) -> None:
    data = rows()
    data[0][13] = "2020-13-45"
    out, failed = run(write_csv(tmp_path / "orgs.csv", data), "--json")
    assert failed
    summary = json.loads(out)
    assert set(summary) == {
        "file",
        "format",
        "encoding",
        "rows",
        "valid",
        "created",
        "committed",
        "dry_run",
        "partial",
        "by_level",
        "errors",
    }
    assert summary["rows"] == 4 and summary["created"] == 0 and summary["committed"] is False
    assert summary["errors"] == [
        {
            "row": 2,
            "code": "ORG_IMPORT_BAD_DATE",
            "field": "成立日期",
            "message": "成立日期“2020-13-45”不是有效日期，请写成 2020-01-02 或 2020年1月2日。",
        }
    ]
    ok, failed = run(write_csv(tmp_path / "ok.csv", rows()), "--json")
    assert not failed
    summary = json.loads(ok)
    assert summary["created"] == 4 and summary["committed"] is True and summary["errors"] == []
    assert summary["by_level"] == {"grassroots": 2, "street": 1, "industry": 1}


@pytest.mark.django_db
def test_levels_follow_the_allowed_children(tree: Tree, tmp_path: Path) -> None:
    data = [
        ["越级街道工会", "街道工会", "广东省总工会", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""]
    ]
    report = importing.import_orgs(write_csv(tmp_path / "orgs.csv", data))
    assert [(e.row, e.code) for e in report.errors] == [(2, "ORG_BAD_LEVEL")]


@pytest.mark.django_db
def test_a_parent_cycle_and_duplicate_codes_are_reported(tree: Tree, tmp_path: Path) -> None:
    blank = [""] * 16
    data = [
        ["甲街道工会", "街道工会", "乙街道工会", *blank],
        ["乙街道工会", "街道工会", "甲街道工会", *blank],
        ["丙公司工会", "基层工会", "天河区总工会", HUAXING_USCC, *blank[1:]],
        ["丁公司工会", "基层工会", "天河区总工会", HUAXING_USCC, *blank[1:]],
    ]
    report = importing.import_orgs(write_csv(tmp_path / "orgs.csv", data))
    codes = [(e.row, e.code) for e in report.errors]
    assert (2, "ORG_IMPORT_PARENT_CYCLE") in codes and (3, "ORG_IMPORT_PARENT_CYCLE") in codes
    assert (5, "ORG_IMPORT_DUPLICATE_USCC") in codes


@pytest.mark.django_db
def test_an_existing_parent_can_be_named_by_its_uscc(tree: Tree, tmp_path: Path) -> None:
    from gonghui.orgs import actions

    actions.update_org(actor=None, org=tree.tianhe_street, values={"uscc": STREET_USCC})
    data = [["新公司工会", "基层工会", STREET_USCC, *[""] * 16]]
    out, failed = run(write_csv(tmp_path / "orgs.csv", data))
    assert not failed, out
    assert Org.objects.get(name="新公司工会").path.startswith(tree.tianhe_street.path)


@pytest.mark.django_db
def test_an_ambiguous_parent_name_is_reported(tree: Tree, tmp_path: Path) -> None:
    blank = [""] * 16
    data = [
        ["同名街道工会", "街道工会", "天河区总工会", *blank],
        ["同名街道工会", "街道工会", "南山区总工会", *blank],
        ["某公司工会", "基层工会", "同名街道工会", *blank],
    ]
    report = importing.import_orgs(write_csv(tmp_path / "orgs.csv", data))
    assert [(e.row, e.code) for e in report.errors] == [(4, "ORG_IMPORT_PARENT_AMBIGUOUS")]


def test_a_file_without_the_required_columns_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "orgs.csv", [["甲"]], header=["名字"])
    report = importing.import_orgs(path)
    assert [(e.row, e.code) for e in report.errors] == [(None, "ORG_IMPORT_MISSING_COLUMNS")]
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    assert importing.import_orgs(tmp_path / "old.xls").errors[0].code == "ORG_IMPORT_FORMAT"


def test_tab_separated_utf16_text_from_excel_is_read(tmp_path: Path) -> None:
    path = tmp_path / "orgs.txt"
    path.write_bytes("工会名称\t层级\n甲工会\t基层工会\n".encode("utf-16"))
    sheet = importing.read_sheet(path)
    assert sheet.encoding == "utf-16" and sheet.rows[1][1] == ["甲工会", "基层工会"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2020-01-02", date(2020, 1, 2)),
        ("2020/1/2", date(2020, 1, 2)),
        ("2020.1.2", date(2020, 1, 2)),
        ("2020年1月2日", date(2020, 1, 2)),
        ("20200102", date(2020, 1, 2)),
        ("２０２０年１月２日", date(2020, 1, 2)),
        ("2020-01-02 00:00:00", date(2020, 1, 2)),
        (datetime(2020, 1, 2, 8, 0), date(2020, 1, 2)),
        (date(2020, 1, 2), date(2020, 1, 2)),
        ("", None),
        (None, None),
    ],
)
def test_dates_in_common_chinese_forms(raw: Any, expected: date | None) -> None:
    assert importing.parse_date(raw, "成立日期") == expected


@pytest.mark.parametrize("raw", ["2020-02-30", "02/01/2020", "去年", "43832"])
def test_bad_dates_are_refused(raw: str) -> None:
    with pytest.raises(importing.RowProblem) as info:
        importing.parse_date(raw, "成立日期")
    assert info.value.code == "ORG_IMPORT_BAD_DATE"


def test_excel_day_numbers_only_count_in_xlsx() -> None:
    assert importing.parse_date(43832, "批准日期", excel=True) == date(2020, 1, 2)
    with pytest.raises(importing.RowProblem):
        importing.parse_date(43832, "批准日期")


@pytest.mark.parametrize(
    ("raw", "level"),
    [
        ("基层工会", "grassroots"),
        ("县（区）总工会", "district"),
        ("区总工会", "district"),
        ("街道", "street"),
        ("乡镇(街道)工会", "street"),
        ("产业工会", "industry"),
        ("工会联合会", "federation"),
        ("grassroots", "grassroots"),
    ],
)
def test_level_aliases(raw: str, level: str) -> None:
    assert importing.parse_level(raw) == level


def test_a_uscc_typed_into_a_number_cell_is_refused() -> None:
    with pytest.raises(importing.RowProblem) as info:
        importing.parse_uscc_cell(9.14401e17, "单位统一社会信用代码", union=False)
    assert info.value.code == "USCC_BAD_FORMAT"
