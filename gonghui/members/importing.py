"""Bulk member import (会员批量导入): read, normalise, validate, de-duplicate, preview, commit.

Interface for the console (and the ``import_members`` command):

- ``create_job(actor, org, uploaded_file) -> ImportJob`` — needs ``Perm.MEMBER_CHANGE`` on
  ``org`` (else 404); stores the upload in the private storage, detects the format
  (xlsx/csv) and the csv's encoding, checks the header, and enqueues the dry run after
  commit. Bad files raise ``InvalidValue`` (codes ``IMPORT_FORMAT``, ``IMPORT_ENCODING``,
  ``IMPORT_UNREADABLE``, ``IMPORT_MISSING_COLUMNS``, ``IMPORT_EMPTY``, ``IMPORT_TARGET_INVALID``).
- ``commit_job(actor, job) -> ImportJob`` — refuses (``Conflict IMPORT_NOT_READY``) unless the
  dry run finished (status READY); then enqueues the commit.
- ``error_report_rows(job) -> list[dict]`` — ``{"row", "code", "message"}`` of every rejected
  row of a committed import, by row number.
- ``ImportJob`` fields: ``status`` (QUEUED → RUNNING → READY after the dry run; QUEUED →
  RUNNING → DONE after the commit; FAILED with ``error``), ``committing``, ``total_rows``,
  ``cursor`` / ``percent`` (progress bar), counters ``created/updated/transfers/unchanged/
  rejected``, ``preview`` (see ``dry_run``), ``error_report`` (file in the upload's format
  with an added ``错误原因`` column; serve it through a scoped view, never directly).

Engine (also run synchronously by the command): ``dry_run(job)`` and ``commit(job)``. The
commit works in chunks of ``CHUNK_SIZE`` rows, each one transaction holding the new
members (bulk insert, card numbers reserved as a block), their JOINED events, the
updates, the transfer requests, the ``ImportRejection`` rows and the job's cursor and
counters — a killed worker resumes after the last committed chunk and nothing is done
twice; the unique blind index is the last line against a double insert.

Outcomes per row: *new* (not on the platform), *update* (already a member of this union:
only changed, non-empty fields are written), *unchanged*, *transfer* (a member of another
union: a transfer request initiated by the importing cadre, never a silent move; an open
transfer counts without a second one), *rejected* with a stable code: the ``ID_*`` codes of
``core.idnumbers`` (``ID_NUMERIC_CELL`` for number cells and ``4.40106E+17`` text,
``ID_PRECISION_LOSS`` for a ``…000`` failing the check char), ``NAME_REQUIRED``,
``MOBILE_INVALID``, ``DATE_INVALID``, ``JOIN_DATE_IN_FUTURE``, ``GENDER_MISMATCH``,
``BIRTH_DATE_MISMATCH``, ``CHOICE_INVALID``, ``DUPLICATE_IN_FILE`` (with the first row's
number), ``MEMBER_LEFT`` (left members rejoin through an application), ``MEMBER_ERASED``,
``TRANSFER_*`` (the transfer could not be requested), ``TRANSFER_NEEDS_ACTOR`` (the command
was run without ``--user``).
"""

from __future__ import annotations

import csv
import io
import logging
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from gonghui.core import audit, idnumbers, pii, sheets
from gonghui.core.access import Perm, require
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.core.text import pinyin_keys
from gonghui.members import cards, datachecks, transfers
from gonghui.members.actions import PLAIN_FIELDS, id_blind_index, lock_receiving_org, update_member
from gonghui.members.models import (
    OPEN_TRANSFER_STATUSES,
    Education,
    EmploymentStatus,
    EventKind,
    Gender,
    HouseholdType,
    ImportJob,
    ImportRejection,
    JobStatus,
    Member,
    MembershipEvent,
    MemberStatus,
    NewEmploymentGroup,
    PoliticalStatus,
    SkillLevel,
    Transfer,
    TransferInitiator,
)
from gonghui.orgs.models import MEMBER_HOLDING_LEVELS, Org

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2000
PREVIEW_ROWS = 20
REASON_CODE = "错误原因"
_PREFIX = "IMPORT"

# --- columns ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: str  # the template's header
    aliases: tuple[str, ...] = ()
    required: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("name", "姓名", ("会员姓名", "职工姓名", "名字", "name"), True),
    Column(
        "id_number",
        "身份证号",
        ("公民身份号码", "证件号码", "身份证号码", "身份证", "居民身份证号码", "证件号", "id_number"),
        True,
    ),
    Column("mobile", "手机号", ("手机", "联系电话", "手机号码", "电话", "联系方式", "mobile")),
    Column("join_date", "入会日期", ("入会时间", "加入工会日期", "join_date")),
    Column("gender", "性别", ("gender",)),
    Column("birth_date", "出生日期", ("出生年月日", "生日", "birth_date")),
    Column("ethnicity", "民族", ("ethnicity",)),
    Column("education", "学历", ("文化程度", "最高学历", "education")),
    Column("political_status", "政治面貌", ("political_status",)),
    Column("household_type", "户籍类型", ("户口性质", "户籍性质", "户口类型", "household_type")),
    Column("employment_status", "就业状态", ("在岗状态", "employment_status")),
    Column("is_migrant_worker", "是否农民工", ("农民工", "is_migrant_worker")),
    Column(
        "new_employment_group",
        "新就业形态",
        ("新就业形态群体", "新就业形态劳动者", "新就业群体", "new_employment_group"),
    ),
    Column("skill_level", "技能等级", ("职业技能等级", "skill_level")),
    Column("workplace", "工作单位", ("单位", "单位名称", "所在单位", "workplace")),
)
_BY_KEY = {c.key: c for c in COLUMNS}
REQUIRED = tuple(c.key for c in COLUMNS if c.required)
_HEADER_INDEX: dict[str, str] = {
    sheets.normalise_header(name): column.key for column in COLUMNS for name in (column.label, *column.aliases)
}


def _choices(enum: Any, extra: dict[str, str]) -> dict[str, str]:
    table = {sheets.normalise_header(str(label)): value for value, label in enum.choices}
    table.update({sheets.normalise_header(value): value for value, _label in enum.choices})
    table.update({sheets.normalise_header(alias): value for alias, value in extra.items()})
    return table


CHOICES: dict[str, dict[str, str]] = {
    "gender": _choices(Gender, {"男性": "M", "女性": "F"}),
    "education": _choices(
        Education,
        {
            "小学": "primary",
            "高中": "senior",
            "中专": "senior",
            "技校": "senior",
            "职高": "senior",
            "大学本科": "bachelor",
            "大学": "bachelor",
            "专科": "college",
            "大学专科": "college",
            "硕士": "master",
            "研究生": "master",
            "博士": "doctor",
        },
    ),
    "political_status": _choices(
        PoliticalStatus,
        {"党员": "cpc", "共产党员": "cpc", "预备党员": "cpc_prob", "团员": "cyl", "共青团员": "cyl"},
    ),
    "household_type": _choices(HouseholdType, {"农业": "agri", "非农业": "non_agri", "城镇": "non_agri"}),
    "employment_status": _choices(EmploymentStatus, {"在职": "employed", "已退休": "retired"}),
    "new_employment_group": _choices(
        NewEmploymentGroup,
        {
            "外卖员": "food_delivery",
            "外卖骑手": "food_delivery",
            "骑手": "food_delivery",
            "网约车": "ride_hailing",
            "快递": "courier",
            "保安": "security",
            "家政": "housekeeping",
            "其他": "other",
            "无": "",
            "否": "",
        },
    ),
    "skill_level": _choices(SkillLevel, {"初级": "junior", "中级": "intermediate", "高级": "senior"}),
}
_YES = {"是", "y", "yes", "true", "1", "√"}
_NO = {"否", "n", "no", "false", "0", ""}
_TEXT_FIELDS = ("ethnicity", "workplace")
# Fields compared for an update: the file's non-empty values win.
UPDATE_FIELDS = ("name", "mobile", *(f for f in PLAIN_FIELDS if f != "bank_name"))

# --- rows -------------------------------------------------------------------------------


class RowRejected(DomainError):
    pass


@dataclass
class Row:
    number: int  # as the spreadsheet shows it
    index: int  # 0-based among the data rows
    name: str = ""
    rid: idnumbers.ResidentId | None = None
    bidx: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""


def _clean(value: Any) -> str:
    """NFKC (full-width → half-width), invisible characters out, spaces collapsed."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        if value.isascii():  # NFKC leaves ASCII alone
            return " ".join(value.split())
        return _clean_text(value)
    text = sheets.cell_text(value)
    return " ".join(text.split())


@lru_cache(maxsize=65536)
def _clean_text(value: str) -> str:
    text = sheets.cell_text(value)
    if not text.isascii():
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split())


def _date(value: Any, label: str, excel: bool) -> date | None:
    try:
        return sheets.date_from_cell(value, excel=excel)
    except ValueError:
        raise RowRejected(
            "DATE_INVALID", f"{label}“{_clean(value)[:20]}”不是有效日期，请写成 2020-01-02 或 2020年1月2日。"
        ) from None


def parse_row(
    number: int, index: int, cells: list[Any], mapping: dict[int, str], excel: bool, today: date | None = None
) -> Row:
    """One sheet row → a ``Row`` with normalised values, or with ``code``/``message`` set."""
    raw = {key: cells[i] if i < len(cells) else None for i, key in mapping.items()}
    row = Row(number, index)
    # The ID first: a duplicate is recognised even when another cell of the row is bad.
    try:
        row.rid = idnumbers.parse(raw.get("id_number") if raw.get("id_number") != "" else None)
        row.bidx = id_blind_index(row.rid.number)
    except idnumbers.IdNumberError as exc:
        row.code, row.message = exc.code, exc.message
        return row
    try:
        _check_values(row, raw, excel, today or timezone.localdate())
    except RowRejected as exc:
        row.code, row.message = exc.code, exc.message
    return row


def _check_values(row: Row, raw: dict[str, Any], excel: bool, today: date) -> None:
    assert row.rid is not None  # noqa: S101 - set by the caller
    row.name = _clean(raw.get("name"))
    if not row.name.isascii():
        row.name = row.name.replace(" ", "")  # 张 三 → 张三; Latin names keep their spaces
    if not row.name:
        raise RowRejected("NAME_REQUIRED", "姓名不能为空。")
    if len(row.name) > 64:
        raise RowRejected("NAME_TOO_LONG", "姓名不能超过 64 个字。")
    values = row.values
    mobile = raw.get("mobile")
    if mobile not in (None, "") and _clean(mobile):
        try:
            values["mobile"] = normalize_mobile(mobile if isinstance(mobile, int | str) else _clean(mobile))
        except MobileError as exc:
            raise RowRejected("MOBILE_INVALID", exc.message) from exc
    join = _date(raw.get("join_date"), "入会日期", excel)
    if join is not None:
        if join > today:
            raise RowRejected("JOIN_DATE_IN_FUTURE", "入会日期不能晚于今天。")
        if join < row.rid.birth_date:
            raise RowRejected("DATE_INVALID", "入会日期早于出生日期，请核对。")
        values["join_date"] = join
    gender = _clean(raw.get("gender"))
    if gender:
        code = CHOICES["gender"].get(sheets.normalise_header(gender))
        if code is None:
            raise RowRejected("CHOICE_INVALID", f"性别“{gender[:10]}”无效：请填 男 或 女。")
        if code != row.rid.gender:
            raise RowRejected(
                "GENDER_MISMATCH", "性别与身份证号码不一致（身份证号第 17 位单数为男、双数为女），请核对。"
            )
    born = _date(raw.get("birth_date"), "出生日期", excel)
    if born is not None and born != row.rid.birth_date:
        raise RowRejected("BIRTH_DATE_MISMATCH", "出生日期与身份证号码中的出生日期不一致，请核对。")
    for key in _TEXT_FIELDS:
        text = _clean(raw.get(key))
        if text:
            values[key] = text[:200] if key == "workplace" else text[:16]
    for key, table in CHOICES.items():
        if key == "gender":
            continue
        text = _clean(raw.get(key))
        if not text:
            continue
        value = table.get(sheets.normalise_header(text))
        if value is None:
            labels = "、".join(dict.fromkeys(str(label) for label in _enum_labels(key)))
            raise RowRejected("CHOICE_INVALID", f"{_BY_KEY[key].label}“{text[:20]}”无效：可填 {labels}。")
        if value:
            values[key] = value
    migrant = _clean(raw.get("is_migrant_worker")).lower()
    if migrant:
        if migrant in _YES:
            values["is_migrant_worker"] = True
        elif migrant in _NO:
            values["is_migrant_worker"] = False
        else:
            raise RowRejected("CHOICE_INVALID", "是否农民工请填 是 或 否。")


def _enum_labels(key: str) -> list[str]:
    enums: dict[str, Any] = {
        "education": Education,
        "political_status": PoliticalStatus,
        "household_type": HouseholdType,
        "employment_status": EmploymentStatus,
        "new_employment_group": NewEmploymentGroup,
        "skill_level": SkillLevel,
    }
    return [str(label) for _value, label in enums[key].choices]


# --- reading a job's file ---------------------------------------------------------------


def map_header(cells: list[Any]) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for index, cell in enumerate(cells):
        key = _HEADER_INDEX.get(sheets.normalise_header(sheets.cell_text(cell)))
        if key is not None and key not in mapping.values():
            mapping[index] = key
    return mapping


@dataclass
class Parsed:
    sheet: sheets.Sheet
    header_at: int  # position in sheet.rows
    mapping: dict[int, str]
    data: list[tuple[int, list[Any]]]  # non-empty data rows

    @property
    def header_labels(self) -> dict[str, str]:
        cells = self.sheet.rows[self.header_at][1]
        return {sheets.cell_text(cells[i]): _BY_KEY[key].label for i, key in sorted(self.mapping.items())}


def read_path(path: Path, file_format: str = "") -> Parsed:
    sheet = sheets.read_sheet(path, _PREFIX, file_format=file_format)
    for position, (_number, cells) in enumerate(sheet.rows[:10]):
        mapping = map_header(cells)
        if all(key in mapping.values() for key in REQUIRED):
            data = [(n, c) for n, c in sheet.rows[position + 1 :] if any(sheets.cell_text(v) for v in c)]
            if not data:
                raise InvalidValue("IMPORT_EMPTY", "文件里除了表头没有数据行。")
            return Parsed(sheet, position, mapping, data)
    raise InvalidValue("IMPORT_MISSING_COLUMNS", "找不到表头：前 10 行里没有同时包含 姓名、身份证号 的一行。")


def _job_path(job: ImportJob) -> tuple[Path, Callable[[], None]]:
    """A local path of the job's file (a temporary copy if the storage is not local)."""
    try:
        return Path(job.source.path), lambda: None
    except NotImplementedError:
        handle = tempfile.NamedTemporaryFile(suffix=Path(job.original_name).suffix, delete=False)  # noqa: SIM115
        with job.source.open("rb") as source:
            handle.write(source.read())
        handle.close()
        return Path(handle.name), lambda: Path(handle.name).unlink(missing_ok=True)


def _read_job(job: ImportJob) -> Parsed:
    path, cleanup = _job_path(job)
    try:
        return read_path(path, job.file_format)
    finally:
        cleanup()


def iter_rows(parsed: Parsed) -> Iterator[Row]:
    """Every data row parsed, with duplicates within the file marked (first one wins)."""
    excel = parsed.sheet.format == "xlsx"
    first: dict[str, int] = {}
    today = timezone.localdate()
    for index, (number, cells) in enumerate(parsed.data):
        row = parse_row(number, index, cells, parsed.mapping, excel, today)
        if row.bidx:
            earlier = first.get(row.bidx)
            if earlier is None:
                first[row.bidx] = number
            else:
                row.code, row.message = "DUPLICATE_IN_FILE", f"与第 {earlier} 行是同一个人（身份证号相同）。"
        yield row


# --- classifying against the platform ---------------------------------------------------

NEW, UPDATE, UNCHANGED, TRANSFER, REJECTED = "new", "update", "unchanged", "transfer", "rejected"


@dataclass
class Decision:
    row: Row
    outcome: str
    member: Member | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    open_transfer: bool = False


def _changes(member: Member, row: Row) -> dict[str, Any]:
    wanted = dict(row.values, name=row.name)
    return {key: wanted[key] for key in UPDATE_FIELDS if key in wanted and getattr(member, key) != wanted[key]}


def classify(org: Org, rows: list[Row]) -> list[Decision]:
    valid = [row for row in rows if not row.code]
    existing = {
        m.id_number_bidx: m
        for m in Member.objects.filter(id_number_bidx__in=[r.bidx for r in valid]).select_related("org")
    }
    open_ids = set(
        Transfer.objects.filter(member__in=list(existing.values()), status__in=OPEN_TRANSFER_STATUSES).values_list(
            "member_id", flat=True
        )
    )
    decisions: list[Decision] = []
    for row in rows:
        if row.code:
            decisions.append(Decision(row, REJECTED))
            continue
        member = existing.get(row.bidx)
        if member is None:
            decisions.append(Decision(row, NEW))
        elif member.erased_at is not None:
            row.code, row.message = "MEMBER_ERASED", "该身份证号对应的会员个人信息已依法删除，不能通过导入恢复。"
            decisions.append(Decision(row, REJECTED, member))
        elif member.status == MemberStatus.LEFT:
            row.code, row.message = (
                "MEMBER_LEFT",
                f"此人已于 {member.org.name} 退会；重新入会请通过入会申请办理，导入不会自动恢复会籍。",
            )
            decisions.append(Decision(row, REJECTED, member))
        elif member.org_id == org.pk:
            changes = _changes(member, row)
            decisions.append(Decision(row, UPDATE if changes else UNCHANGED, member, changes))
        elif member.status == MemberStatus.RETAINED:
            row.code, row.message = (
                "TRANSFER_MEMBER_RETAINED",
                f"此人在 {member.org.name} 保留会籍，不能转会；请先由原工会恢复正常会籍。",
            )
            decisions.append(Decision(row, REJECTED, member))
        else:
            decisions.append(Decision(row, TRANSFER, member, open_transfer=member.pk in open_ids))
    return decisions


# --- results ----------------------------------------------------------------------------


@dataclass
class Summary:
    rows: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, list[int]] = field(default_factory=dict)
    rejected_rows: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def add(self, decision: Decision) -> None:
        self.rows += 1
        self.counts[decision.outcome] += 1
        row = decision.row
        if decision.outcome == REJECTED:
            self.reasons.setdefault(row.code, []).append(row.number)
            if len(self.rejected_rows) < PREVIEW_ROWS:
                self.rejected_rows.append({"row": row.number, "code": row.code, "message": row.message})
        elif decision.outcome == UPDATE and len(self.updates) < PREVIEW_ROWS:
            self.updates.append({"row": row.number, "name": row.name, "fields": sorted(decision.changes)})

    def preview(self, parsed: Parsed) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "counts": {k: self.counts.get(k, 0) for k in (NEW, UPDATE, TRANSFER, UNCHANGED, REJECTED)},
            "reasons": {code: len(rows) for code, rows in sorted(self.reasons.items())},
            "rejected_rows": self.rejected_rows,
            "updates": self.updates,
            "header": parsed.header_labels,
            "format": parsed.sheet.format,
            "encoding": parsed.sheet.encoding,
        }


# --- jobs -------------------------------------------------------------------------------


def _check_target(org: Org) -> None:
    if not org.is_active:
        raise InvalidValue("ORG_CLOSED", f"{org.name} 已撤销，不能接收会员。")
    if org.level not in MEMBER_HOLDING_LEVELS:
        raise InvalidValue("IMPORT_TARGET_INVALID", f"{org.name} 不直接接收会员，请导入到基层工会。")


def new_job(actor: Any, org: Org, uploaded_file: File[Any], name: str = "") -> ImportJob:
    """Store the file and check it can be read; no permission check, nothing enqueued."""
    _check_target(org)
    original = Path(name or uploaded_file.name or "upload").name
    try:
        file_format = sheets.sheet_format(original, _PREFIX)
    except sheets.SheetError as exc:
        raise InvalidValue(exc.code, exc.message) from exc
    job = ImportJob(
        org=org,
        org_path=org.path,
        created_by=actor if getattr(actor, "pk", None) else None,
        original_name=original[:255],
        file_format=file_format,
    )
    job.source.save(original, uploaded_file, save=False)
    try:
        parsed = _read_job(job)
    except sheets.SheetError as exc:
        job.source.delete(save=False)
        raise InvalidValue(exc.code, exc.message) from exc
    except InvalidValue:
        job.source.delete(save=False)
        raise
    job.encoding = parsed.sheet.encoding
    job.total_rows = len(parsed.data)
    job.save()
    audit.record(
        "import.upload",
        actor=actor,
        actor_label="" if actor else "import_members",
        obj=job,
        org=org,
        details={"file": original, "rows": job.total_rows, "format": file_format},
    )
    return job


@transaction.atomic
def create_job(actor: Any, org: Org, uploaded_file: File[Any]) -> ImportJob:
    """Upload: store, detect format and encoding, enqueue the dry run (see module doc)."""
    require(actor, Perm.MEMBER_CHANGE, org.path)
    job = new_job(actor, org, uploaded_file)
    job_id = job.pk
    transaction.on_commit(lambda: _enqueue("dry_run", job_id))
    return job


@transaction.atomic
def commit_job(actor: Any, job: ImportJob) -> ImportJob:
    """The cadre confirms the preview: enqueue the commit (only from READY)."""
    require(actor, Perm.MEMBER_CHANGE, job.org_path)
    locked = ImportJob.objects.select_for_update().get(pk=job.pk)
    if locked.status != JobStatus.READY or locked.committing:
        raise Conflict("IMPORT_NOT_READY", "预检尚未完成或已经提交，不能再次提交。")
    locked.committing = True
    locked.status = JobStatus.QUEUED
    locked.heartbeat_at = timezone.now()
    locked.save(update_fields=["committing", "status", "heartbeat_at"])
    audit.record("import.confirm", actor=actor, obj=locked, org=locked.org, details={"rows": locked.total_rows})
    job_id = locked.pk
    transaction.on_commit(lambda: _enqueue("commit", job_id))
    return locked


def _enqueue(kind: str, job_id: int) -> None:
    from gonghui.members import tasks

    if kind == "dry_run":
        tasks.run_import_dry_run.enqueue(job_id)
    else:
        tasks.run_import_commit.enqueue(job_id)


def error_report_rows(job: ImportJob) -> list[dict[str, Any]]:
    """Every rejected row of a committed import: ``{"row", "code", "message"}`` by row number."""
    return [
        {"row": r.row_number, "code": r.code, "message": r.message}
        for r in job.rejections.order_by("row_number").only("row_number", "code", "message")
    ]


def _actor(job: ImportJob) -> Any:
    return job.created_by


def mark_failed(job: ImportJob, exc: DomainError) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.FAILED, error=f"[{exc.code}] {exc.message}"[:500], finished_at=timezone.now()
    )


def _start(job: ImportJob) -> tuple[Org, Parsed]:
    """Mark the job running and read its sheet; a bad file or union fails the job."""
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=now, heartbeat_at=now)
    try:
        org = Org.objects.get(pk=job.org_id)
        _check_target(org)
        return org, _read_job(job)
    except sheets.SheetError as exc:
        mark_failed(job, exc)
        raise InvalidValue(exc.code, exc.message) from exc
    except DomainError as exc:
        mark_failed(job, exc)
        raise


def dry_run(job: ImportJob) -> Summary:
    """Classify every row without writing; fills ``job.preview`` and sets READY."""
    org, parsed = _start(job)
    summary = Summary()
    batch: list[Row] = []

    def flush() -> None:
        for decision in classify(org, batch):
            summary.add(decision)
        batch.clear()
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())

    for row in iter_rows(parsed):
        batch.append(row)
        if len(batch) >= CHUNK_SIZE:
            flush()
    flush()
    job.preview = summary.preview(parsed)
    job.total_rows = summary.rows
    job.status = JobStatus.READY
    job.finished_at = timezone.now()
    with transaction.atomic():
        job.save(update_fields=["preview", "total_rows", "status", "finished_at"])
        audit.record(
            "import.dry_run",
            actor=_actor(job),
            actor_label="" if job.created_by_id else "import_members",
            obj=job,
            org=org,
            details={"rows": summary.rows, **job.preview["counts"], "reasons": job.preview["reasons"]},
        )
    return summary


def _chunk_committed(job: ImportJob, chunk: int) -> None:
    """Hook after each committed chunk (tests make it raise to simulate a killed worker)."""


def commit(job: ImportJob, *, chunk_size: int = CHUNK_SIZE) -> ImportJob:
    """Write the import, resuming after ``job.cursor``; then the error report. Idempotent."""
    job.refresh_from_db()
    if job.status in (JobStatus.DONE, JobStatus.CANCELLED):
        return job
    if not job.committing:
        raise Conflict("IMPORT_NOT_READY", "预检尚未完成或尚未确认，不能写入。")
    org, parsed = _start(job)
    batch: list[Row] = []
    chunk_no = 0
    for row in iter_rows(parsed):
        if row.index <= job.cursor:
            continue  # committed by an earlier run (still parsed: in-file duplicates need it)
        batch.append(row)
        if len(batch) >= chunk_size:
            _commit_chunk(job, org, batch)
            chunk_no += 1
            _chunk_committed(job, chunk_no)
            batch = []
    if batch:
        _commit_chunk(job, org, batch)
    _write_error_report(job, parsed)
    job.refresh_from_db()
    job.status = JobStatus.DONE
    job.finished_at = timezone.now()
    with transaction.atomic():
        job.save(update_fields=["status", "finished_at"])
        audit.record(
            "import.commit",
            actor=_actor(job),
            actor_label="" if job.created_by_id else "import_members",
            obj=job,
            org=org,
            details={
                "rows": job.total_rows,
                "created": job.created,
                "updated": job.updated,
                "transfers": job.transfers,
                "unchanged": job.unchanged,
                "rejected": job.rejected,
            },
        )
        # 数据对比智能校验 on what was imported: the checks run over the target union's
        # subtree as a follow-up task (idempotent: re-running adds no finding twice).
        org_id = org.pk
        transaction.on_commit(lambda: datachecks.run_checks_task.enqueue(org_id))
    return job


def _commit_chunk(job: ImportJob, org: Org, rows: list[Row], attempts: int = 3) -> None:
    for attempt in range(attempts):
        # Rows may have been marked by an earlier attempt's classification: start clean.
        saved = [(row.code, row.message) for row in rows]
        try:
            with transaction.atomic():
                _write_chunk(job, org, rows)
            return
        except IntegrityError:
            # Someone inserted one of these people meanwhile: the unique blind index said
            # no. Classify again (they are now an update or a transfer).
            for row, (code, message) in zip(rows, saved, strict=True):
                row.code, row.message = code, message
            if attempt == attempts - 1:
                raise


def _write_chunk(job: ImportJob, org: Org, rows: list[Row]) -> None:
    actor = _actor(job)
    locked_org = lock_receiving_org(org)
    decisions = classify(locked_org, rows)
    counts: Counter[str] = Counter()
    new = [d for d in decisions if d.outcome == NEW]
    if new:
        _insert_members(locked_org, new, actor)
    counts[NEW] = len(new)
    for decision in decisions:
        if decision.outcome == UPDATE:
            assert decision.member is not None  # noqa: S101
            update_member(actor=actor, member=decision.member, values=decision.changes)
        elif decision.outcome == TRANSFER:
            _request_transfer(decision, locked_org, actor)
        counts[decision.outcome] += 0 if decision.outcome == NEW else 1
    rejections = [
        ImportRejection(job=job, row_number=d.row.number, code=d.row.code[:40], message=d.row.message[:300])
        for d in decisions
        if d.outcome == REJECTED
    ]
    ImportRejection.objects.bulk_create(rejections, ignore_conflicts=True)
    ImportJob.objects.filter(pk=job.pk).update(
        cursor=rows[-1].index,
        created=F("created") + counts[NEW],
        updated=F("updated") + counts[UPDATE],
        transfers=F("transfers") + counts[TRANSFER],
        unchanged=F("unchanged") + counts[UNCHANGED],
        rejected=F("rejected") + counts[REJECTED],
        heartbeat_at=timezone.now(),
    )
    job.cursor = rows[-1].index


def _request_transfer(decision: Decision, org: Org, actor: Any) -> None:
    row, member = decision.row, decision.member
    assert member is not None  # noqa: S101
    if decision.open_transfer:
        return
    if actor is None:
        decision.outcome = REJECTED
        row.code, row.message = (
            "TRANSFER_NEEDS_ACTOR",
            "此人是其他工会的会员，需由干部账号发起转会（命令行请加 --user）。",
        )
        return
    try:
        with transaction.atomic():
            transfers.request_transfer(
                actor=actor,
                member=member,
                to_org=org,
                reason="会员批量导入",
                new_workplace=str(row.values.get("workplace", "")),
                initiated_by=TransferInitiator.CADRE,
            )
    except Conflict as exc:
        if exc.code == "TRANSFER_ALREADY_OPEN":
            return
        decision.outcome = REJECTED
        row.code, row.message = exc.code, exc.message
    except DomainError as exc:
        decision.outcome = REJECTED
        row.code, row.message = exc.code, exc.message


def _insert_members(org: Org, decisions: list[Decision], actor: Any) -> None:
    prefix = cards.prefix_for(org)
    first = cards.reserve_block(prefix, len(decisions))
    region = cards.region_of(org)
    today = timezone.localdate()
    members: list[dict[str, Any]] = []
    for offset, decision in enumerate(decisions):
        row = decision.row
        assert row.rid is not None  # noqa: S101
        full, initials = _pinyin(row.name)
        values = dict(row.values)
        number = row.rid.number
        members.append(
            {
                "org_id": org.pk,
                "org_path": org.path,
                "name": row.name,
                "name_pinyin": full,
                "name_initials": initials,
                "id_number_enc": pii.encrypt(number),
                "id_number_bidx": row.bidx,
                "id_number_masked": pii.mask_id_number(number),
                "gender": row.rid.gender,
                "birth_year": row.rid.birth_date.year,
                "mobile": values.pop("mobile", ""),
                "join_date": values.pop("join_date", today),
                "card_number": cards.format_number(prefix, region, first + offset),
                **values,
            }
        )
    _fast_insert(Member, members)
    by_bidx = dict(
        Member.objects.filter(id_number_bidx__in=[m["id_number_bidx"] for m in members]).values_list(
            "id_number_bidx", "pk"
        )
    )
    actor_id = actor.pk if getattr(actor, "pk", None) else None
    _fast_insert(
        MembershipEvent,
        [
            {
                "member_id": by_bidx[m["id_number_bidx"]],
                "kind": EventKind.JOINED,
                "org_id": org.pk,
                "on_date": m["join_date"],
                "note": "批量导入",
                "actor_id": actor_id,
            }
            for m in members
        ],
    )


_PINYIN: dict[str, tuple[str, str]] = {}


def _pinyin(name: str) -> tuple[str, str]:
    """``pinyin_keys`` remembered per distinct name for the life of the worker (names repeat)."""
    keys = _PINYIN.get(name)
    if keys is None:
        if len(_PINYIN) >= 500_000:
            _PINYIN.clear()
        keys = _PINYIN[name] = pinyin_keys(name)
    return keys


def _fast_insert(model: type[models.Model], rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (field attnames → values; the rest take the field defaults): COPY on
    PostgreSQL, ``bulk_create`` elsewhere.

    The ORM's multi-row INSERT spends ~1 ms a row compiling SQL, and a model instance per
    row costs more than the row's encryption; COPY streams plain tuples. A duplicate blind
    index still fails the whole COPY (IntegrityError), as it should.
    """
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create([model(**row) for row in rows])
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    defaults: list[Any] = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults.append(now)
        else:  # what the model's __init__ would set: the default, "" or None
            defaults.append(f.get_db_prep_save(f.get_default(), connection))
    columns = [(f.attname, default) for f, default in zip(fields, defaults, strict=True)]
    quote = connection.ops.quote_name
    sql = f"COPY {quote(str(model._meta.db_table))} ({', '.join(quote(str(f.column)) for f in fields)}) FROM STDIN"
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row([row.get(name, default) for name, default in columns])


# --- the error report -------------------------------------------------------------------


def _write_error_report(job: ImportJob, parsed: Parsed) -> None:
    """The rejected rows as uploaded, plus a 错误原因 column, in the upload's format."""
    reasons = {
        number: f"[{code}] {message}"
        for number, code, message in ImportRejection.objects.filter(job_id=job.pk).values_list(
            "row_number", "code", "message"
        )
    }
    if not reasons:
        return
    _header_number, header = parsed.sheet.rows[parsed.header_at]
    width = max([len(header), *(len(c) for _n, c in parsed.data)])
    lines: list[list[Any]] = [[*header, *[""] * (width - len(header)), REASON_CODE]]
    for number, cells in parsed.data:
        if number in reasons:
            lines.append([*cells, *[""] * (width - len(cells)), reasons[number]])
    stem = Path(job.original_name).stem[:80]
    if parsed.sheet.format == "xlsx":
        content = _xlsx_bytes(lines)
        name = f"{stem}-错误报告.xlsx"
    else:
        encoding = parsed.sheet.encoding or "utf-8"
        buffer = io.StringIO(newline="")
        csv.writer(buffer, delimiter=parsed.sheet.delimiter).writerows(
            [["" if v is None else v for v in line] for line in lines]
        )
        content = buffer.getvalue().encode(encoding, errors="replace")
        name = f"{stem}-错误报告.csv"
    if job.error_report:
        job.error_report.delete(save=False)
    job.error_report.save(name, ContentFile(content), save=False)
    ImportJob.objects.filter(pk=job.pk).update(error_report=job.error_report.name)


def _xlsx_bytes(lines: list[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("错误报告")
    for line in lines:
        cells = []
        for value in line:
            cell = WriteOnlyCell(sheet, value="" if value is None else value)
            if isinstance(value, str):
                cell.number_format = "@"  # keep ID numbers text if the file is fixed and re-uploaded
            elif isinstance(value, datetime | date):
                cell.number_format = "yyyy-mm-dd"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- the template -----------------------------------------------------------------------


def template_xlsx() -> bytes:
    """The downloadable template: Chinese headers, text-formatted ID/mobile columns, one example."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # noqa: S101
    sheet.title = "会员信息"
    sheet.append([c.label + ("*" if c.required else "") for c in COLUMNS])
    example = {
        "name": "张三",
        "id_number": idnumbers.make("440106", date(1990, 1, 1), 123),
        "mobile": "13800138000",
        "join_date": "2020-01-02",
        "gender": "男",
        "birth_date": "1990-01-01",
        "ethnicity": "汉族",
        "education": "本科",
        "political_status": "群众",
        "household_type": "非农业户口",
        "employment_status": "在岗",
        "is_migrant_worker": "否",
        "new_employment_group": "",
        "skill_level": "",
        "workplace": "示例有限公司",
    }
    sheet.append([example[c.key] for c in COLUMNS])
    for index, column in enumerate(COLUMNS, 1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = 22 if column.key in ("id_number", "workplace") else 14
        if column.key in ("id_number", "mobile", "join_date", "birth_date"):
            for r in range(1, 5001):
                sheet.cell(row=r, column=index).number_format = "@"
    sheet.cell(row=1, column=2).comment = Comment("请保持“文本”格式，按证件填写 18 位号码，不要粘贴为数字。", "工会")
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- resuming ---------------------------------------------------------------------------


def stale_after() -> timedelta:
    return timedelta(seconds=settings.IMPORT_STALE_SECONDS)


def resume_imports(now: datetime | None = None) -> list[int]:
    """Re-enqueue every running or queued import whose worker went silent (cron; idempotent:
    a second worker on the same job serialises on the org lock and the cursor)."""
    now = now or timezone.now()
    resumed: list[int] = []
    for job in ImportJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)).order_by("pk"):
        last = job.heartbeat_at or job.created_at
        if last >= now - stale_after():
            continue
        with transaction.atomic():
            ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=now)
            audit.record(
                "import.resume",
                obj=job,
                org=job.org,
                actor_label="resume_imports",
                details={"cursor": job.cursor, "committing": job.committing},
            )
            kind, job_id = ("commit" if job.committing else "dry_run"), job.pk
            transaction.on_commit(lambda kind=kind, job_id=job_id: _enqueue(kind, job_id))  # type: ignore[misc]
        resumed.append(job.pk)
    return resumed
