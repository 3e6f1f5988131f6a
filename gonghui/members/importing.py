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
sheet is streamed, never held whole (a CSV decoded incrementally, an xlsx row by row out of
calamine); big sheets are parsed by a 2-process pool (``pool_size``). The dry run spills
its parsed rows, sealed with the PII key, next to the upload, and the commit reads them
instead of parsing again when they come from the same bytes (see "the spill"). The
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
import hashlib
import io
import itertools
import logging
import multiprocessing
import os
import pickle
import shutil
import struct
import tempfile
import unicodedata
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from django.conf import settings
from django.core.files.base import File
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from gonghui.core import audit, idnumbers, jobs, pii, sheets
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
_BLOCK = 1 << 20
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


@dataclass(slots=True)
class Row:
    """One data row, normalised and validated; a valid row also carries what its new
    member's insert needs (ciphertext, mask, pinyin), so the commit does no per-row work
    but classifying and writing. ``as_tuple``/``Row(*t)`` is its compact spill form."""

    number: int  # as the spreadsheet shows it
    index: int  # 0-based among the data rows
    name: str = ""
    bidx: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    gender: str = ""  # from the ID number
    birth_year: int = 0
    id_enc: bytes = b""
    id_masked: str = ""
    name_pinyin: str = ""
    name_initials: str = ""

    def as_tuple(self) -> tuple[Any, ...]:
        return (
            self.number,
            self.index,
            self.name,
            self.bidx,
            self.values,
            self.code,
            self.message,
            self.gender,
            self.birth_year,
            self.id_enc,
            self.id_masked,
            self.name_pinyin,
            self.name_initials,
        )


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
        rid = idnumbers.parse(raw.get("id_number") if raw.get("id_number") != "" else None)
        row.bidx = id_blind_index(rid.number)
    except idnumbers.IdNumberError as exc:
        row.code, row.message = exc.code, exc.message
        return row
    try:
        _check_values(row, rid, raw, excel, today or timezone.localdate())
    except RowRejected as exc:
        row.code, row.message = exc.code, exc.message
        return row
    row.gender, row.birth_year = rid.gender, rid.birth_date.year
    row.id_enc, row.id_masked = pii.encrypt(rid.number), pii.mask_id_number(rid.number)
    row.name_pinyin, row.name_initials = pinyin_keys(row.name)
    return row


def _check_values(row: Row, rid: idnumbers.ResidentId, raw: dict[str, Any], excel: bool, today: date) -> None:
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
        if join < rid.birth_date:
            raise RowRejected("DATE_INVALID", "入会日期早于出生日期，请核对。")
        values["join_date"] = join
    gender = _clean(raw.get("gender"))
    if gender:
        code = CHOICES["gender"].get(sheets.normalise_header(gender))
        if code is None:
            raise RowRejected("CHOICE_INVALID", f"性别“{gender[:10]}”无效：请填 男 或 女。")
        if code != rid.gender:
            raise RowRejected(
                "GENDER_MISMATCH", "性别与身份证号码不一致（身份证号第 17 位单数为男、双数为女），请核对。"
            )
    born = _date(raw.get("birth_date"), "出生日期", excel)
    if born is not None and born != rid.birth_date:
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


def _has_data(cells: list[Any]) -> bool:
    """Whether any cell holds something (a row of blanks, U+3000 included, is skipped)."""
    for value in cells:
        if value is None or value == "":
            continue
        if not isinstance(value, str) or (value.strip() if value.isascii() else sheets.cell_text(value)):
            return True
    return False


@dataclass
class Source:
    """A job's sheet, streamed: the header found, the data rows read on demand.

    ``data()`` yields the non-empty data rows; the first call continues the pass that found
    the header (an xlsx is loaded once), later calls start a new pass over the file."""

    sheet: sheets.SheetStream
    header_at: int  # rows before the header
    header: list[Any]
    mapping: dict[int, str]
    rows: int = -1  # data rows, when counted (``read_path(count=True)``)
    _pending: Iterator[tuple[int, list[Any]]] | None = None

    @property
    def header_labels(self) -> dict[str, str]:
        return {sheets.cell_text(self.header[i]): _BY_KEY[key].label for i, key in sorted(self.mapping.items())}

    def data(self) -> Iterator[tuple[int, list[Any]]]:
        rows, self._pending = self._pending, None
        if rows is None:
            rows = itertools.islice(self.sheet.rows(), self.header_at + 1, None)
        return ((number, cells) for number, cells in rows if _has_data(cells))


def _find_header(stream: sheets.SheetStream, rows: Iterator[tuple[int, list[Any]]]) -> Source:
    for position, (_number, cells) in enumerate(itertools.islice(rows, 10)):
        mapping = map_header(cells)
        if all(key in mapping.values() for key in REQUIRED):
            return Source(stream, position, list(cells), mapping)
    raise InvalidValue("IMPORT_MISSING_COLUMNS", "找不到表头：前 10 行里没有同时包含 姓名、身份证号 的一行。")


def read_path(path: Path, file_format: str = "", *, count: bool = False) -> Source:
    """Find the header (in the first 10 rows) and make sure a data row follows; with
    ``count`` also count the data rows (one pass over the file)."""
    try:
        stream = sheets.open_sheet(path, _PREFIX, file_format=file_format)
        rows = stream.rows()
        source = _find_header(stream, rows)
        source._pending = rows  # the pass goes on after the header
        data = source.data()
        first = next(data, None)
        if first is None:
            raise InvalidValue("IMPORT_EMPTY", "文件里除了表头没有数据行。")
        if count:
            source.rows = 1 + sum(1 for _ in data)
        else:
            source._pending = itertools.chain([first], data)
        return source
    except sheets.SheetError as exc:
        raise InvalidValue(exc.code, exc.message) from exc
    except UnicodeDecodeError as exc:  # only if the file changed after its encoding was found
        raise InvalidValue(f"{_PREFIX}_ENCODING", "无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV。") from exc


@contextmanager
def _local_path(job: ImportJob) -> Iterator[Path]:
    """A local path of the job's file (a temporary copy if the storage is not local)."""
    try:
        yield Path(job.source.path)
        return
    except NotImplementedError:
        pass
    with tempfile.NamedTemporaryFile(suffix=Path(job.original_name).suffix) as handle:
        with job.source.open("rb") as source:
            shutil.copyfileobj(source, handle, _BLOCK)
        handle.flush()
        yield Path(handle.name)


def _parse_chunk(
    raw: list[tuple[int, list[Any]]], first_index: int, mapping: dict[int, str], excel: bool, today: date
) -> list[tuple[Any, ...]]:
    """Parse, validate, encrypt and romanise one chunk (in a pool process, or here)."""
    return [
        parse_row(number, index, cells, mapping, excel, today).as_tuple()
        for index, (number, cells) in enumerate(raw, first_index)
    ]


@dataclass
class _Pass:
    """What one pass over the data learns besides the rows: the widest row (the error
    report's 错误原因 column goes after it)."""

    width: int = 0


POOL_MIN_ROWS = 20_000  # below this a pool's start-up is not worth it


def pool_size(rows: int) -> int:
    """Processes for parsing a sheet of ``rows``: 2 on a machine with 2+ cores for big sheets.

    Measured on 2 cores shared with PostgreSQL (docs/PERFORMANCE.md): parsing is ≈ 90 % of
    the dry run and needs no database, so a second process nearly halves it; more than
    two buys nothing there."""
    return 2 if rows >= POOL_MIN_ROWS and (os.cpu_count() or 1) >= 2 else 1


def _parsed(
    raw_chunks: Iterator[tuple[list[tuple[int, list[Any]]], int]],
    mapping: dict[int, str],
    excel: bool,
    today: date,
    workers: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """The chunks parsed in order, by ``workers`` forked processes when more than one.

    A forked child inherits the loaded settings and keys and never touches the database
    (parsing needs none); at most ``2 × workers`` chunks are in flight, so memory stays
    flat however big the file."""
    if workers <= 1:
        for raw, first in raw_chunks:
            yield _parse_chunk(raw, first, mapping, excel, today)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        window: deque[Future[list[tuple[Any, ...]]]] = deque()
        for raw, first in raw_chunks:
            window.append(pool.submit(_parse_chunk, raw, first, mapping, excel, today))
            if len(window) > 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def prepared_chunks(
    source: Source, size: int = CHUNK_SIZE, seen: _Pass | None = None, workers: int = 1
) -> Iterator[list[Row]]:
    """Every data row parsed, in chunks of ``size``, duplicates within the file marked
    (the first one wins). The in-file index is the first 16 bytes of each blind index
    (128 bits: no two people collide) → the row number: ≈ 120 bytes a row."""
    excel = source.sheet.format == "xlsx"
    first: dict[bytes, int] = {}
    tally = seen or _Pass()

    def raw_chunks() -> Iterator[tuple[list[tuple[int, list[Any]]], int]]:
        data, index = source.data(), 0
        while raw := list(itertools.islice(data, size)):
            tally.width = max(tally.width, *(len(cells) for _n, cells in raw))
            yield raw, index
            index += len(raw)

    for parsed in _parsed(raw_chunks(), source.mapping, excel, timezone.localdate(), workers):
        rows = [Row(*values) for values in parsed]
        for row in rows:
            if row.bidx:
                earlier = first.setdefault(bytes.fromhex(row.bidx[:32]), row.number)
                if earlier != row.number:
                    row.code, row.message = "DUPLICATE_IN_FILE", f"与第 {earlier} 行是同一个人（身份证号相同）。"
        yield rows


# --- the spill: the dry run's rows, kept for the commit ----------------------------------
#
# The dry run writes its parsed rows (before classifying: the platform may change before
# the commit) next to the upload; the commit reads them instead of parsing the file a
# second time when the spill is complete and was made from the same bytes (SHA-256). Each
# record is AES-GCM with the current PII key (the rows hold names and mobiles), bound to
# the job and its position, so the pickle inside is only ever one this server wrote. A
# missing or stale spill only costs the second parse.

_SPILL_VERSION = 1


def _spill_path(job: ImportJob) -> Path | None:
    try:
        return Path(job.source.path + ".rows")
    except NotImplementedError:  # remote storage: the commit parses the file again
        return None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _drop_spill(job: ImportJob) -> None:
    path = _spill_path(job)
    if path is not None:
        path.unlink(missing_ok=True)
        path.with_name(path.name + ".part").unlink(missing_ok=True)


class _SpillWriter:
    def __init__(self, job: ImportJob, path: Path, digest: str) -> None:
        self.job_id, self.path, self.part = job.pk, path, path.with_name(path.name + ".part")
        self.handle = self.part.open("wb")
        self.records = 0
        self.write({"version": _SPILL_VERSION, "job": job.pk, "sha256": digest})

    def write(self, payload: Any) -> None:
        ring = pii.keyring()
        nonce = os.urandom(12)
        aad = f"import-spill:{self.job_id}:{self.records}".encode()
        sealed = ring.keys[ring.current_id].encrypt(nonce, pickle.dumps(payload, pickle.HIGHEST_PROTOCOL), aad)
        self.handle.write(struct.pack(">BI", ring.current_id, len(sealed)) + nonce + sealed)
        self.records += 1

    def finish(self) -> None:
        self.write(None)  # the end mark: a spill cut short is never taken for whole
        self.handle.close()
        self.part.replace(self.path)

    def abandon(self) -> None:
        self.handle.close()
        self.part.unlink(missing_ok=True)


def _spill_records(job: ImportJob, path: Path) -> Iterator[Any]:
    ring = pii.keyring()
    with path.open("rb") as handle:
        for number in itertools.count():
            head = handle.read(5)
            if len(head) < 5:
                raise ValueError("the spill is cut short")
            key_id, size = struct.unpack(">BI", head)
            nonce, sealed = handle.read(12), handle.read(size)
            aad = f"import-spill:{job.pk}:{number}".encode()
            data = ring.keys[key_id].decrypt(nonce, sealed, aad)
            payload = pickle.loads(data)  # noqa: S301 - authenticated above: written by this server
            if payload is None:
                return
            yield payload


def _spilled_chunks(job: ImportJob, path: Path) -> Iterator[list[Row]] | None:
    """The dry run's rows if its spill is whole and made from this very file, else None."""
    spill = _spill_path(job)
    if spill is None or not spill.is_file():
        return None
    try:
        records = _spill_records(job, spill)
        head = next(records)
        if head != {"version": _SPILL_VERSION, "job": job.pk, "sha256": _file_digest(path)}:
            return None
    except (OSError, ValueError, KeyError, InvalidTag, pickle.UnpicklingError, StopIteration, struct.error):
        logger.warning("import %s: spill unreadable, parsing the file again", job.pk)
        return None
    return ([Row(*values) for values in chunk] for chunk in records)


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


def _member_ids(bidxs: list[str]) -> list[int]:
    """Members with these blind indexes. On PostgreSQL one text parameter split by the
    server: an ``IN`` of 2,000 placeholders costs more to build and parse than the index
    lookups themselves, and even a ``text[]`` parameter costs psycopg ≈ 4.6 ms of CPU to
    quote per 2,000 keys against 0.2 ms for one comma-joined string (hex keys hold no
    comma; docs/PERFORMANCE.md). An import of new people mostly finds nobody."""
    if not bidxs:
        return []
    if connection.vendor != "postgresql":
        return list(Member.objects.filter(id_number_bidx__in=bidxs).values_list("pk", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {connection.ops.quote_name(Member._meta.db_table)} "  # noqa: S608
            "WHERE id_number_bidx = ANY(string_to_array(%s, ','))",
            [",".join(bidxs)],
        )
        return [pk for (pk,) in cursor.fetchall()]


def classify(org: Org, rows: list[Row]) -> list[Decision]:
    valid = [row for row in rows if not row.code]
    ids = _member_ids([r.bidx for r in valid])
    existing = {m.id_number_bidx: m for m in Member.objects.filter(pk__in=ids).select_related("org")} if ids else {}
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

    def preview(self, source: Source, width: int) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "counts": {k: self.counts.get(k, 0) for k in (NEW, UPDATE, TRANSFER, UNCHANGED, REJECTED)},
            "reasons": {code: len(rows) for code, rows in sorted(self.reasons.items())},
            "rejected_rows": self.rejected_rows,
            "updates": self.updates,
            "header": source.header_labels,
            "format": source.sheet.format,
            "encoding": source.sheet.encoding,
            "width": width,  # the widest data row: where the error report's reason goes
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
        with _local_path(job) as path:
            source = read_path(path, file_format, count=True)
    except InvalidValue:
        job.source.delete(save=False)
        raise
    job.encoding = source.sheet.encoding
    job.total_rows = source.rows
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
    _drop_spill(job)


def _start(job: ImportJob) -> Org:
    """Mark the job running; a union that cannot take members fails the job."""
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=now, heartbeat_at=now)
    try:
        org: Org = Org.objects.get(pk=job.org_id)
        _check_target(org)
    except DomainError as exc:
        mark_failed(job, exc)
        raise
    return org


def _read(job: ImportJob, path: Path) -> Source:
    """The job's sheet; a file that cannot be read (any more) fails the job."""
    try:
        return read_path(path, job.file_format)
    except DomainError as exc:
        mark_failed(job, exc)
        raise


def dry_run(job: ImportJob) -> Summary:
    """Classify every row without writing; fills ``job.preview`` and sets READY. The parsed
    rows are spilled next to the upload for the commit (see "the spill")."""
    org = _start(job)
    summary = Summary()
    seen = _Pass()
    with _local_path(job) as path:
        source = _read(job, path)
        _drop_spill(job)
        spill_path = _spill_path(job)
        spill = _SpillWriter(job, spill_path, _file_digest(path)) if spill_path is not None else None
        try:
            for rows in prepared_chunks(source, CHUNK_SIZE, seen, pool_size(job.total_rows)):
                if spill is not None:
                    spill.write([row.as_tuple() for row in rows])  # before classify marks rows
                for decision in classify(org, rows):
                    summary.add(decision)
                ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        except BaseException:
            if spill is not None:
                spill.abandon()
            raise
        if spill is not None:
            spill.finish()
    job.preview = summary.preview(source, max(seen.width, len(source.header)))
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


def _rows_to_commit(job: ImportJob, path: Path) -> Iterator[Row]:
    """The rows after ``job.cursor``: from the dry run's spill when it is good, else (or if
    the spill breaks midway) parsed from the file again. Earlier rows are still parsed in
    that case: in-file duplicates need every earlier ID."""
    chunks = _spilled_chunks(job, path)
    done = job.cursor
    if chunks is not None:
        try:
            for rows in chunks:
                if rows and rows[-1].index > done:
                    for row in rows:
                        if row.index > done:
                            yield row
                            done = row.index
            return
        except (OSError, ValueError, KeyError, InvalidTag, pickle.UnpicklingError, struct.error):
            logger.warning("import %s: spill broke after row %s, parsing the file again", job.pk, done)
    for rows in prepared_chunks(_read(job, path), workers=pool_size(job.total_rows)):
        for row in rows:
            if row.index > done:
                yield row


def commit(job: ImportJob, *, chunk_size: int = CHUNK_SIZE) -> ImportJob:
    """Write the import, resuming after ``job.cursor``; then the error report. Idempotent."""
    job.refresh_from_db()
    if job.status in (JobStatus.DONE, JobStatus.CANCELLED):
        _drop_spill(job)
        return job
    if not job.committing:
        raise Conflict("IMPORT_NOT_READY", "预检尚未完成或尚未确认，不能写入。")
    org = _start(job)
    with _local_path(job) as path:
        batch: list[Row] = []
        chunk_no = 0
        for row in _rows_to_commit(job, path):
            batch.append(row)
            if len(batch) >= chunk_size:
                _commit_chunk(job, org, batch)
                chunk_no += 1
                _chunk_committed(job, chunk_no)
                batch = []
        if batch:
            _commit_chunk(job, org, batch)
        _write_error_report(job, path)
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
    _drop_spill(job)
    return job


def _commit_chunk(job: ImportJob, org: Org, rows: list[Row], attempts: int = 3) -> None:
    for attempt in range(attempts):
        # Rows may have been marked by an earlier attempt's classification: start clean.
        saved = [(row.code, row.message) for row in rows]
        try:
            with transaction.atomic():
                if connection.vendor == "postgresql":
                    # The chunk and the cursor that records it commit together, so a chunk
                    # lost to a database crash is one the resume writes again: no need to
                    # wait for each chunk's WAL flush (≈ 60 ms a chunk here). The job's
                    # final DONE commit is synchronous and flushes everything before it.
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL synchronous_commit TO OFF")
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
        values = dict(row.values)
        members.append(
            {
                "org_id": org.pk,
                "org_path": org.path,
                "name": row.name,
                "name_pinyin": row.name_pinyin,
                "name_initials": row.name_initials,
                "id_number_enc": row.id_enc,
                "id_number_bidx": row.bidx,
                "id_number_masked": row.id_masked,
                "gender": row.gender,
                "birth_year": row.birth_year,
                "mobile": values.pop("mobile", ""),
                "join_date": values.pop("join_date", today),
                "card_number": cards.format_number(prefix, region, first + offset),
                **values,
            }
        )
    if connection.vendor == "postgresql":
        # Ids drawn from the table's sequence first: COPY returns none, and reading them
        # back by blind index costs a query of 2,000 parameters a chunk.
        for member, pk in zip(members, _next_ids(Member, len(members)), strict=True):
            member["id"] = pk
        _fast_insert(Member, members, with_pk=True)
        by_bidx = {m["id_number_bidx"]: m["id"] for m in members}
    else:
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


def _next_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` values of the model's id sequence (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _fast_insert(model: type[models.Model], rows: list[dict[str, Any]], *, with_pk: bool = False) -> None:
    """Insert ``rows`` (field attnames → values; the rest take the field defaults): COPY on
    PostgreSQL, ``bulk_create`` elsewhere.

    The ORM's multi-row INSERT spends ~1 ms a row compiling SQL, and a model instance per
    row costs more than the row's encryption; COPY streams plain tuples. A duplicate blind
    index still fails the whole COPY (IntegrityError), as it should.
    """
    if connection.vendor != "postgresql":
        model._default_manager.bulk_create([model(**row) for row in rows])
        return
    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    now = timezone.now()
    defaults: list[Any] = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            defaults.append(now)
        else:  # what the model's __init__ would set: the default, "" or None
            defaults.append(f.get_db_prep_save(f.get_default(), connection))
    columns = [(f.attname, default) for f, default in zip(fields, defaults, strict=True)]
    types = [_copy_type(f) for f in fields]
    binary = all(types)
    quote = connection.ops.quote_name
    sql = f"COPY {quote(str(model._meta.db_table))} ({', '.join(quote(str(f.column)) for f in fields)}) FROM STDIN" + (
        " (FORMAT BINARY)" if binary else ""
    )
    with connection.wrap_database_errors, connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        if binary:
            copy.set_types(types)
        for row in rows:
            copy.write_row([row.get(name, default) for name, default in columns])


# PostgreSQL types COPY can take in binary form (the server then parses no text: dates,
# timestamps, bytea hex); a column of any other type keeps the table on text COPY.
_BINARY_COPY_TYPES = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "boolean": "bool",
    "date": "date",
    "bytea": "bytea",
    "text": "text",
    "varchar": "varchar",
    "timestamp with time zone": "timestamptz",
}


def _copy_type(field: models.Field[Any, Any]) -> str:
    """The name ``Copy.set_types`` knows for ``field``'s column type, or "" if none."""
    db_type = field.db_type(connection) or ""
    return _BINARY_COPY_TYPES.get(db_type.split("(", 1)[0].strip(), "")


# --- the error report -------------------------------------------------------------------


def _write_error_report(job: ImportJob, path: Path) -> None:
    """The rejected rows as uploaded, plus a 错误原因 column, in the upload's format.

    Streams: the rejections are read in row order and merged with a new pass over the
    file; the report is written row by row to a temporary file (openpyxl write-only for
    xlsx), so neither the sheet nor the report is ever held whole."""
    reasons = (
        ImportRejection.objects.filter(job_id=job.pk)
        .order_by("row_number")
        .values_list("row_number", "code", "message")
        .iterator(chunk_size=5000)
    )
    pending = next(reasons, None)
    if pending is None:
        return
    source = _read(job, path)
    width = int((job.preview or {}).get("width") or 0)
    if not width:  # a job previewed before the width was recorded
        width = max(len(source.header), *(len(cells) for _n, cells in read_path(path, job.file_format).data()))

    def lines() -> Iterator[list[Any]]:
        nonlocal pending
        yield [*source.header, *[""] * (width - len(source.header)), REASON_CODE]
        for number, cells in source.data():
            while pending is not None and pending[0] < number:
                pending = next(reasons, None)
            if pending is None:
                return
            if pending[0] == number:
                yield [*cells, *[""] * (width - len(cells)), f"[{pending[1]}] {pending[2]}"]

    stem = Path(job.original_name).stem[:80]
    with tempfile.TemporaryFile() as out:
        if source.sheet.format == "xlsx":
            _write_xlsx(out, lines())
            name = f"{stem}-错误报告.xlsx"
        else:
            text = io.TextIOWrapper(out, encoding=source.sheet.encoding or "utf-8", errors="replace", newline="")
            writer = csv.writer(text, delimiter=source.sheet.delimiter)
            for line in lines():
                writer.writerow(["" if v is None else v for v in line])
            text.flush()
            text.detach()  # ``out`` stays open for the upload below
            name = f"{stem}-错误报告.csv"
        out.seek(0)
        if job.error_report:
            job.error_report.delete(save=False)
        job.error_report.save(name, File(out), save=False)
    ImportJob.objects.filter(pk=job.pk).update(error_report=job.error_report.name)


def _write_xlsx(out: IO[bytes], lines: Iterator[list[Any]]) -> None:
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
    workbook.save(out)


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
    return jobs.sweep_stale(
        ImportJob.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING)),
        after=stale_after(),
        audit_action="import.resume",
        actor_label="resume_imports",
        details=lambda job: {"cursor": job.cursor, "committing": job.committing},
        enqueue=lambda job: _enqueue("commit" if job.committing else "dry_run", job.pk),
        now=now,
    )
