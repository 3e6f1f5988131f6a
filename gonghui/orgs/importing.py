"""Importing a real union hierarchy from a spreadsheet (``manage.py import_orgs``).

A sheet has one union per row, with Chinese headers (``工会名称``, ``层级``, ``上级工会`` …;
common variants are accepted, see ``COLUMNS``). Rows may come in any order: the parent
named in ``上级工会`` (by name or by USCC) may be another row of the file — rows are
created parents first — or a union already in the database. Every row is created through
``orgs.actions.create_org``, so the same rules hold as in the console: levels follow
``ALLOWED_CHILDREN``, USCCs are checked, every union gets its audit event.

Errors are collected per row with the sheet's row number (as Excel shows it), a stable
code and a Chinese message. By default the import is all-or-nothing: one bad row and
nothing is written. ``partial=True`` commits the valid rows (and reports the rest; the
children of a rejected row are rejected with it).

Files: ``.xlsx`` (openpyxl, read-only; the first sheet) or ``.csv``/``.txt`` in UTF-8
(with or without BOM), UTF-16 (Excel's "Unicode text") or GBK/GB18030, comma- or
tab-separated. The header is the first row that names the required columns, so a title
row above it is fine.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.db import transaction

from gonghui.core import audit, sheets, uscc
from gonghui.core.errors import DomainError
from gonghui.orgs import actions
from gonghui.orgs.models import Org, OrgLevel, OrgStatus, UnitType

# --- columns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str  # the create_org field, or a pseudo field (level, parent, industry_parent)
    label: str  # the canonical Chinese header, used in messages
    aliases: tuple[str, ...] = ()


COLUMNS: tuple[Column, ...] = (
    Column("name", "工会名称", ("名称", "工会全称", "组织名称", "工会组织名称", "union_name", "name")),
    Column("level", "层级", ("级别", "工会层级", "组织层级", "工会级别", "组织类型", "level")),
    Column(
        "parent",
        "上级工会",
        ("上级", "上级组织", "上级工会名称", "上级工会统一社会信用代码", "隶属工会", "上级工会组织", "parent"),
    ),
    Column(
        "uscc",
        "工会统一社会信用代码",
        ("统一社会信用代码", "工会信用代码", "信用代码", "社会信用代码", "工会法人统一社会信用代码", "uscc"),
    ),
    Column("short_name", "简称", ("工会简称", "short_name")),
    Column("unit_name", "单位名称", ("所在单位", "所在单位名称", "单位", "unit_name")),
    Column(
        "unit_uscc",
        "单位统一社会信用代码",
        ("单位信用代码", "单位社会信用代码", "所在单位统一社会信用代码", "unit_uscc"),
    ),
    Column("unit_type", "单位性质", ("单位类型", "经济类型", "单位经济类型", "unit_type")),
    Column("industry", "所属行业", ("行业", "行业类别", "行业分类", "industry")),
    Column("region_code", "行政区划代码", ("区划代码", "行政区划", "行政区域代码", "region_code")),
    Column("address", "地址", ("单位地址", "通讯地址", "办公地址", "详细地址", "address")),
    Column("employee_count", "职工人数", ("职工数", "职工总数", "从业人数", "employee_count")),
    Column("declared_member_count", "会员人数", ("会员数", "会员总数", "member_count", "declared_member_count")),
    Column("chair_name", "工会主席", ("主席", "主席姓名", "工会主席姓名", "chair_name")),
    Column("founded_on", "成立日期", ("成立时间", "建会日期", "建会时间", "founded_on")),
    Column("approval_date", "批准日期", ("批复日期", "批准时间", "批复时间", "approval_date")),
    Column("approval_doc_no", "批复文号", ("批准文号", "文号", "批复文件号", "approval_doc_no")),
    Column("term_start", "任期开始", ("本届任期开始", "任期开始日期", "任期起始", "本届任期起始日期", "term_start")),
    Column("term_end", "任期结束", ("本届任期结束", "任期结束日期", "任期届满", "届满日期", "term_end")),
    Column("industry_parent", "所属产业工会", ("产业工会", "industry_parent")),
)
REQUIRED = ("name", "level")
_BY_KEY = {c.key: c for c in COLUMNS}
_DATE_FIELDS = ("founded_on", "approval_date", "term_start", "term_end")
_COUNT_FIELDS = ("employee_count", "declared_member_count")
_TEXT_FIELDS = ("short_name", "unit_name", "industry", "address", "chair_name", "approval_doc_no")


_normalise_header = sheets.normalise_header


_HEADER_INDEX: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.label, *_column.aliases):
        _HEADER_INDEX[_normalise_header(_name)] = _column.key

# --- values -----------------------------------------------------------------------------

_LEVEL_NAMES: dict[str, str] = {
    OrgLevel.PROVINCE: "省总工会 省级 省 省级工会 省总",
    OrgLevel.CITY: "市总工会 市级 市 地市 地级市 市级工会 市总",
    OrgLevel.DISTRICT: "县(区)总工会 县区总工会 县总工会 区总工会 县级 区县 县(市、区)总工会 县(市)总工会 县(区) 县区",
    OrgLevel.STREET: "乡镇/街道工会 乡镇(街道)工会 街道工会 乡镇工会 街道总工会 镇总工会 乡镇 街道 乡镇街道",
    OrgLevel.GRASSROOTS: "基层工会 基层 基层工会委员会",
    OrgLevel.BRANCH: "分工会 车间工会 部门工会",
    OrgLevel.GROUP: "工会小组 小组",
    OrgLevel.INDUSTRY: "产业工会 产业",
    OrgLevel.FEDERATION: "区域性/行业性工会联合会 工会联合会 联合会 联合工会 区域性工会联合会 行业性工会联合会",
}
LEVELS: dict[str, str] = {}
for _level, _names in _LEVEL_NAMES.items():
    for _alias in (*_names.split(), _level, str(OrgLevel(_level).label)):
        LEVELS[_normalise_header(_alias)] = _level

_UNIT_TYPE_NAMES: dict[str, str] = {
    UnitType.STATE_OWNED: "国有 国企 国有企业 国有控股 国有控股企业 央企",
    UnitType.COLLECTIVE: "集体 集体企业",
    UnitType.PRIVATE: "私营 私营企业 民营 民营企业 私企 有限责任公司 股份有限公司",
    UnitType.FOREIGN: "外资 外资企业 外商投资 外商投资企业 外商独资 中外合资",
    UnitType.HMT: "港澳台 港澳台资 港澳台资企业 港澳台商投资企业",
    UnitType.INSTITUTION: "事业 事业单位",
    UnitType.GOVERNMENT: "机关 机关单位 党政机关 行政机关",
    UnitType.NON_ENTERPRISE: "民办非企业 民办非企业单位 民非 社会服务机构",
    UnitType.SOCIAL: "社会团体 社团",
    UnitType.INDIVIDUAL: "个体 个体工商户 个体户",
    UnitType.OTHER: "其他 其它",
}
UNIT_TYPES: dict[str, str] = {}
for _type, _names in _UNIT_TYPE_NAMES.items():
    for _alias in (*_names.split(), _type, str(UnitType(_type).label)):
        UNIT_TYPES[_normalise_header(_alias)] = _type


class RowProblem(DomainError):
    """A value in one cell is unusable; ``field`` names the column."""

    def __init__(self, code: str, message: str, field: str = "") -> None:
        super().__init__(code, message)
        self.field = field


cell_text = sheets.cell_text


def parse_date(value: Any, label: str, *, excel: bool = False) -> date | None:
    """Dates as people write them: 2020-01-02, 2020/1/2, 2020.1.2, 2020年1月2日, 20200102,
    and Excel date cells (a ``datetime``, or a day number in an unformatted xlsx cell)."""
    try:
        return sheets.date_from_cell(value, excel=excel)
    except ValueError:
        text = cell_text(value)
    raise RowProblem("ORG_IMPORT_BAD_DATE", f"{label}“{text}”不是有效日期，请写成 2020-01-02 或 2020年1月2日。", label)


def parse_count(value: Any, label: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        text = cell_text(value).replace(",", "").removesuffix("人")
        if not text:
            return None
        if not text.isdigit():
            raise RowProblem("ORG_IMPORT_BAD_NUMBER", f"{label}“{cell_text(value)}”应为不小于 0 的整数。", label)
        number = int(text)
    if number < 0:
        raise RowProblem("ORG_IMPORT_BAD_NUMBER", f"{label}不能小于 0。", label)
    return number


def parse_level(value: Any) -> str:
    text = cell_text(value)
    if not text:
        raise RowProblem("ORG_IMPORT_LEVEL_REQUIRED", "请填写层级（如 基层工会、街道工会、县(区)总工会）。", "层级")
    level = LEVELS.get(_normalise_header(text))
    if level is None:
        raise RowProblem(
            "ORG_BAD_LEVEL",
            f"未知的层级“{text}”：可填 省总工会、市总工会、县(区)总工会、乡镇/街道工会、基层工会、"
            "分工会、工会小组、产业工会、工会联合会。",
            "层级",
        )
    return level


def parse_unit_type(value: Any) -> str:
    text = cell_text(value)
    if not text:
        return ""
    unit_type = UNIT_TYPES.get(_normalise_header(text))
    if unit_type is None:
        raise RowProblem(
            "ORG_IMPORT_BAD_UNIT_TYPE",
            f"未知的单位性质“{text}”：可填 国有、集体、私营、外资、港澳台资、事业单位、"
            "机关、民办非企业、社会团体、个体工商户、其他。",
            "单位性质",
        )
    return unit_type


def parse_region(value: Any) -> str:
    text = cell_text(value)
    # 12-digit statistical codes (街道/乡镇) start with the 6-digit county code.
    if len(text) == 12 and text.isdigit():
        text = text[:6]
    if text and (len(text) != 6 or not text.isdigit()):
        raise RowProblem("ORG_BAD_REGION", f"行政区划代码“{text}”应为 6 位数字。", "行政区划代码")
    return text


def parse_uscc_cell(value: Any, label: str, *, union: bool) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    try:
        # A number cell is refused by uscc.parse: Excel has already rounded it.
        return uscc.parse(value, union=union)
    except uscc.UsccError as exc:
        raise RowProblem(exc.code, f"{label}：{exc.message}", label) from exc


# --- reading files ----------------------------------------------------------------------


ImportFileError = sheets.SheetError
Sheet = sheets.Sheet
decode_csv_bytes = sheets.decode_csv_bytes
_CODE_PREFIX = "ORG_IMPORT"


def read_csv(path: Path) -> Sheet:
    return sheets.read_csv(path, _CODE_PREFIX)


def read_xlsx(path: Path) -> Sheet:
    return sheets.read_xlsx(path, _CODE_PREFIX)


def read_sheet(path: Path) -> Sheet:
    return sheets.read_sheet(path, _CODE_PREFIX)


def map_header(cells: list[Any]) -> dict[int, str]:
    """Column index → field key for a header row."""
    mapping: dict[int, str] = {}
    for index, cell in enumerate(cells):
        key = _HEADER_INDEX.get(_normalise_header(cell_text(cell)))
        if key is not None and key not in mapping.values():
            mapping[index] = key
    return mapping


def find_header(sheet: Sheet) -> tuple[int, dict[int, str]]:
    """The first row (within the first ten) that names the required columns."""
    for position, (_number, cells) in enumerate(sheet.rows[:10]):
        mapping = map_header(cells)
        if all(key in mapping.values() for key in REQUIRED):
            return position, mapping
    labels = "、".join(_BY_KEY[k].label for k in REQUIRED)
    raise ImportFileError("ORG_IMPORT_MISSING_COLUMNS", f"找不到表头：前 10 行里没有同时包含 {labels} 的一行。")


# --- rows and the report ----------------------------------------------------------------


@dataclass
class RowError:
    row: int | None
    code: str
    message: str
    field: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "code": self.code, "field": self.field, "message": self.message}


@dataclass
class ImportRow:
    number: int
    name: str
    level: str
    uscc: str
    parent_ref: str
    industry_ref: str
    values: dict[str, Any]
    parent: ImportRow | Org | None = None
    industry_parent: ImportRow | Org | None = None
    org: Org | None = None
    failed: bool = False


@dataclass
class ImportReport:
    file: str
    format: str = ""
    encoding: str = ""
    rows: int = 0
    valid: int = 0  # rows that passed every check (created, or would be)
    created: int = 0  # orgs written and committed
    committed: bool = False
    dry_run: bool = False
    partial: bool = False
    by_level: dict[str, int] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "encoding": self.encoding,
            "rows": self.rows,
            "valid": self.valid,
            "created": self.created,
            "committed": self.committed,
            "dry_run": self.dry_run,
            "partial": self.partial,
            "by_level": self.by_level,
            "errors": [e.as_dict() for e in self.errors],
        }


def _parse_row(number: int, cells: list[Any], mapping: dict[int, str], excel: bool) -> tuple[ImportRow, list[RowError]]:
    raw = {key: cells[index] if index < len(cells) else None for index, key in mapping.items()}
    errors: list[RowError] = []
    values: dict[str, Any] = {}

    def attempt(parse: Callable[[], Any]) -> Any:
        try:
            return parse()
        except RowProblem as exc:
            errors.append(RowError(number, exc.code, exc.message, exc.field))
            return None

    name = cell_text(raw.get("name"))
    if not name:
        errors.append(RowError(number, "ORG_NAME_REQUIRED", "工会名称不能为空。", "工会名称"))
    level = attempt(lambda: parse_level(raw.get("level"))) or ""
    own_uscc = attempt(lambda: parse_uscc_cell(raw.get("uscc"), "工会统一社会信用代码", union=True)) or ""
    if own_uscc:
        values["uscc"] = own_uscc
    unit_uscc = attempt(lambda: parse_uscc_cell(raw.get("unit_uscc"), "单位统一社会信用代码", union=False)) or ""
    if unit_uscc:
        values["unit_uscc"] = unit_uscc
    for key in _TEXT_FIELDS:
        if key in raw:
            values[key] = cell_text(raw[key])
    if "unit_type" in raw:
        values["unit_type"] = attempt(lambda: parse_unit_type(raw["unit_type"])) or ""
    if "region_code" in raw:
        values["region_code"] = attempt(lambda: parse_region(raw["region_code"])) or ""
    for key in _COUNT_FIELDS:
        if key in raw:
            values[key] = attempt(lambda key=key: parse_count(raw[key], _BY_KEY[key].label))  # type: ignore[misc]
    for key in _DATE_FIELDS:
        if key in raw:
            values[key] = attempt(
                lambda key=key: parse_date(raw[key], _BY_KEY[key].label, excel=excel)  # type: ignore[misc]
            )
    row = ImportRow(
        number=number,
        name=name,
        level=level,
        uscc=own_uscc,
        parent_ref=cell_text(raw.get("parent")),
        industry_ref=cell_text(raw.get("industry_parent")),
        values=values,
        failed=bool(errors),
    )
    return row, errors


class _Resolver:
    """Finds the union a cell refers to: a row of this file first, then the database."""

    def __init__(self, rows: list[ImportRow]) -> None:
        self.by_uscc = {row.uscc: row for row in rows if row.uscc}
        self.by_name: dict[str, list[ImportRow]] = defaultdict(list)
        for row in rows:
            if row.name:
                self.by_name[row.name].append(row)
        self.cache: dict[str, ImportRow | Org | RowProblem] = {}

    def resolve(self, ref: str, label: str) -> ImportRow | Org:
        found = self.cache.get(ref)
        if found is None:
            found = self.cache[ref] = self._lookup(ref, label)
        if isinstance(found, RowProblem):
            raise found
        return found

    def _lookup(self, ref: str, label: str) -> ImportRow | Org | RowProblem:
        code = uscc.normalize(ref)
        if code in self.by_uscc:
            return self.by_uscc[code]
        if len(code) == 18:
            org: Org | None = Org.objects.filter(uscc=code).first()
            if org is not None:
                return org
        rows = self.by_name.get(ref, [])
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            numbers = "、".join(str(r.number) for r in rows)
            return RowProblem(
                "ORG_IMPORT_PARENT_AMBIGUOUS",
                f"{label}“{ref}”在文件里有多行（第 {numbers} 行）：请改填它的统一社会信用代码。",
                label,
            )
        orgs: list[Org] = list(Org.objects.filter(name=ref, status=OrgStatus.ACTIVE)[:2])
        if len(orgs) == 1:
            return orgs[0]
        if orgs:
            return RowProblem(
                "ORG_IMPORT_PARENT_AMBIGUOUS",
                f"{label}“{ref}”在系统中有重名的工会：请改填它的统一社会信用代码。",
                label,
            )
        return RowProblem("ORG_IMPORT_PARENT_NOT_FOUND", f"找不到{label}“{ref}”：文件和系统里都没有这个工会。", label)


def _creation_order(rows: list[ImportRow]) -> tuple[list[ImportRow], list[ImportRow]]:
    """Rows with their in-file parents first (Kahn); and the rows caught in a cycle."""
    waiting: dict[int, int] = {}
    children: dict[int, list[ImportRow]] = defaultdict(list)
    for row in rows:
        deps = {id(d): d for d in (row.parent, row.industry_parent) if isinstance(d, ImportRow)}
        waiting[id(row)] = len(deps)
        for dep in deps.values():
            children[id(dep)].append(row)
    queue = deque(row for row in rows if waiting[id(row)] == 0)
    order: list[ImportRow] = []
    while queue:
        row = queue.popleft()
        order.append(row)
        for child in children[id(row)]:
            waiting[id(child)] -= 1
            if waiting[id(child)] == 0:
                queue.append(child)
    placed = {id(r) for r in order}
    return order, [row for row in rows if id(row) not in placed]


class _Rollback(Exception):
    pass


def import_orgs(path: Path | str, *, actor: Any = None, dry_run: bool = False, partial: bool = False) -> ImportReport:
    """Read, check and create the unions of ``path``; never raises for bad rows or files."""
    path = Path(path)
    report = ImportReport(file=path.name, dry_run=dry_run, partial=partial)
    try:
        sheet = read_sheet(path)
        header_at, mapping = find_header(sheet)
    except ImportFileError as exc:
        report.errors.append(RowError(None, exc.code, exc.message))
        return report
    report.format, report.encoding = sheet.format, sheet.encoding
    rows: list[ImportRow] = []
    for number, cells in sheet.rows[header_at + 1 :]:
        if all(cell_text(c) == "" for c in cells):
            continue
        row, errors = _parse_row(number, cells, mapping, excel=sheet.format == "xlsx")
        rows.append(row)
        report.errors.extend(errors)
    report.rows = len(rows)
    if not rows:
        report.errors.append(RowError(None, "ORG_IMPORT_EMPTY", "文件里除了表头没有数据行。"))
        return report
    _check_duplicate_usccs(rows, report)
    _resolve_parents(rows, report)
    order, cyclic = _creation_order(rows)
    for row in cyclic:
        row.failed = True
        report.errors.append(
            RowError(row.number, "ORG_IMPORT_PARENT_CYCLE", "上级工会关系成环：这几行互为上级。", "上级工会")
        )
    try:
        with transaction.atomic():
            _create(order, actor, report)
            report.valid = sum(1 for row in rows if row.org is not None)
            keep = not dry_run and (partial or not report.errors) and report.valid > 0
            if not keep:
                raise _Rollback
            report.created = report.valid
            for row in rows:
                if row.org is not None:
                    report.by_level[row.level] = report.by_level.get(row.level, 0) + 1
            top = min((row.org for row in rows if row.org is not None), key=lambda org: len(org.path))
            audit.record(
                "org.import",
                actor=actor,
                actor_label="" if actor else "import_orgs",
                org=top,
                details={
                    "file": path.name,
                    "rows": report.rows,
                    "created": report.created,
                    "rejected": len({e.row for e in report.errors}),
                    "partial": partial,
                },
            )
            report.committed = True
    except _Rollback:
        for row in rows:
            if row.org is not None:
                report.by_level[row.level] = report.by_level.get(row.level, 0) + 1
            row.org = None
    report.errors.sort(key=lambda e: (e.row or 0, e.code))
    return report


def _check_duplicate_usccs(rows: list[ImportRow], report: ImportReport) -> None:
    first: dict[str, ImportRow] = {}
    for row in rows:
        if not row.uscc:
            continue
        if row.uscc in first:
            row.failed = True
            report.errors.append(
                RowError(
                    row.number,
                    "ORG_IMPORT_DUPLICATE_USCC",
                    f"工会统一社会信用代码与第 {first[row.uscc].number} 行重复。",
                    "工会统一社会信用代码",
                )
            )
        else:
            first[row.uscc] = row


def _resolve_parents(rows: list[ImportRow], report: ImportReport) -> None:
    resolver = _Resolver(rows)
    for row in rows:
        for ref, label, attr in (
            (row.parent_ref, "上级工会", "parent"),
            (row.industry_ref, "所属产业工会", "industry_parent"),
        ):
            if not ref:
                continue
            try:
                target = resolver.resolve(ref, label)
            except RowProblem as exc:
                row.failed = True
                report.errors.append(RowError(row.number, exc.code, exc.message, exc.field))
                continue
            if target is row:
                row.failed = True
                report.errors.append(RowError(row.number, "ORG_IMPORT_PARENT_CYCLE", f"{label}不能是它自己。", label))
                continue
            setattr(row, attr, target)
        if not row.parent_ref and row.level and row.level != OrgLevel.PROVINCE:
            row.failed = True
            report.errors.append(
                RowError(
                    row.number, "ORG_IMPORT_PARENT_REQUIRED", "请填写上级工会（名称或统一社会信用代码）。", "上级工会"
                )
            )


def _target_org(target: ImportRow | Org | None) -> Org | None:
    if isinstance(target, ImportRow):
        return target.org
    return target


def _create(order: list[ImportRow], actor: Any, report: ImportReport) -> None:
    for row in order:
        if row.failed:
            continue
        blocked = [
            (label, dep)
            for label, dep in (("上级工会", row.parent), ("所属产业工会", row.industry_parent))
            if isinstance(dep, ImportRow) and dep.org is None
        ]
        if blocked:
            label, dep = blocked[0]
            assert isinstance(dep, ImportRow)  # noqa: S101 - narrowed by the filter above
            row.failed = True
            report.errors.append(
                RowError(
                    row.number,
                    "ORG_IMPORT_PARENT_FAILED",
                    f"{label}（第 {dep.number} 行）未能导入，本行也不能导入。",
                    label,
                )
            )
            continue
        values = dict(row.values, name=row.name)
        industry = _target_org(row.industry_parent)
        if industry is not None:
            values["industry_parent"] = industry
        try:
            # A savepoint per row: on PostgreSQL a failed statement would otherwise poison
            # the whole transaction, and --partial must go on with the next row.
            with transaction.atomic():
                row.org = actions.create_org(
                    actor=actor, parent=_target_org(row.parent), level=row.level, values=values
                )
        except DomainError as exc:
            row.failed = True
            report.errors.append(RowError(row.number, exc.code, exc.message))


def iter_error_lines(report: ImportReport) -> Iterator[str]:
    """Human-readable error lines, one per problem."""
    for error in report.errors:
        where = f"第 {error.row} 行" if error.row else "文件"
        field_label = f"{error.field}：" if error.field and error.field not in error.message else ""
        yield f"{where} [{error.code}] {field_label}{error.message}"
