"""Member list export (xlsx or csv): masked by default, audited, with an expiring link.

``start_export`` validates the request (columns, format, the unmasked permission and its
reason), records the job and the audit row, then writes the file: inline for small
lists, as a background task (``members.exporting.run_export_task``) for large ones, with
``written_rows`` as its progress. Files live in the private storage and are only handed
out through ``open_download``, which refuses expired jobs and audits every download.

ID numbers and mobiles are text, never numbers: Excel would otherwise keep 15 significant
digits of an 18-digit ID and drop a mobile's meaning. In xlsx the cells carry the text
number format ``@``; csv is UTF-8 with a BOM so Excel reads the Chinese headers.
"""

from __future__ import annotations

import codecs
import csv
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import task

from gonghui.core import access, audit, pii
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.members import selectors
from gonghui.members.models import ExportJob, ImportJob, JobStatus, Member, MemberStatus
from gonghui.orgs.models import Org

INLINE_LIMIT = 5_000
CHUNK = 2_000
LINK_TTL = timedelta(hours=24)
FORMATS = ("xlsx", "csv")
REASON_MAX = 300
TEXT_FORMAT = "@"


class ExportExpired(DomainError):
    code = "EXPORT_EXPIRED"
    status = 410


class UnmaskedForbidden(DomainError):
    """The cadre may see the list but holds no role that allows plaintext export."""

    code = "EXPORT_UNMASKED_FORBIDDEN"
    status = 403


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    value: Callable[[Member, bool], str]
    text: bool = False  # written as text (IDs, mobiles, card numbers)


def _display(field: str) -> Callable[[Member, bool], str]:
    def get(member: Member, unmasked: bool) -> str:
        return str(getattr(member, f"get_{field}_display")() or "")

    return get


def _plain(field: str) -> Callable[[Member, bool], str]:
    def get(member: Member, unmasked: bool) -> str:
        value = getattr(member, field)
        return "" if value is None else str(value)

    return get


def _id_number(member: Member, unmasked: bool) -> str:
    if unmasked and member.erased_at is None:
        return member.reveal_id_number()
    return member.id_number_masked


def _mobile(member: Member, unmasked: bool) -> str:
    if not member.mobile:
        return ""
    return member.mobile if unmasked else pii.mask_mobile(member.mobile)


def _date(field: str) -> Callable[[Member, bool], str]:
    def get(member: Member, unmasked: bool) -> str:
        value = getattr(member, field)
        return value.isoformat() if value else ""

    return get


COLUMNS: dict[str, Column] = {
    c.key: c
    for c in (
        Column("name", "姓名", _plain("name")),
        Column("id_number", "身份证号", _id_number, text=True),
        Column("gender", "性别", _display("gender")),
        Column("birth_year", "出生年份", _plain("birth_year")),
        Column("ethnicity", "民族", _plain("ethnicity")),
        Column("mobile", "手机号", _mobile, text=True),
        Column("org", "所在工会", lambda m, _u: m.org.name),
        Column("workplace", "工作单位", _plain("workplace")),
        Column("education", "学历", _display("education")),
        Column("political_status", "政治面貌", _display("political_status")),
        Column("household_type", "户籍类型", _display("household_type")),
        Column("employment_status", "就业状态", _display("employment_status")),
        Column("is_migrant_worker", "农民工", lambda m, _u: "是" if m.is_migrant_worker else "否"),
        Column("new_employment_group", "新就业形态群体", _display("new_employment_group")),
        Column("skill_level", "技能等级", _display("skill_level")),
        Column("join_date", "入会日期", _date("join_date")),
        Column("card_number", "会员卡号", _plain("card_number"), text=True),
        Column("status", "会籍状态", _display("status")),
        Column("verification_status", "实名状态", _display("verification_status")),
    )
}
DEFAULT_COLUMNS = ("name", "id_number", "gender", "mobile", "org", "workplace", "join_date", "status")


def members_for(actor: Any, org: Org, filters: dict[str, Any]) -> QuerySet[Member]:
    """The members a console list with ``filters`` (``q``, ``status``) under ``org`` shows."""
    qs = Member.objects.select_related("org").defer("bank_account_enc")
    qs = selectors.visible(actor, qs, Perm.MEMBER_VIEW, within=org.path)
    if filters.get("status"):
        qs = qs.filter(status=filters["status"])
    if filters.get("q"):
        qs = selectors.search_members(qs, str(filters["q"]))
    return qs.order_by("pk")


def _clean_filters(filters: dict[str, Any]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    q = str(filters.get("q") or "").strip()[:40]
    if q:
        cleaned["q"] = q
    status = str(filters.get("status") or "")
    if status:
        if status not in MemberStatus.values:
            raise InvalidValue("EXPORT_FILTER_INVALID", "筛选条件无效。")
        cleaned["status"] = status
    return cleaned


def start_export(
    actor: Any,
    org: Org,
    filters: dict[str, Any],
    columns: list[str],
    fmt: str,
    unmasked: bool = False,
    reason: str = "",
) -> ExportJob:
    """Record an export of the members under ``org`` and write it (inline when small).

    The caller found ``org`` in the actor's MEMBER_VIEW scope. Unmasked needs
    MEMBER_EXPORT_UNMASKED on ``org`` and a stated reason; both kinds are audited.
    """
    access.require(actor, Perm.MEMBER_VIEW, org.path)
    if fmt not in FORMATS:
        raise InvalidValue("EXPORT_FORMAT_INVALID", "导出格式只能是 xlsx 或 csv。")
    chosen = [key for key in columns if key in COLUMNS]
    if not chosen or len(chosen) != len(columns):
        raise InvalidValue("EXPORT_COLUMNS_INVALID", "请至少选择一列，且只能选择列表中的列。")
    chosen = list(dict.fromkeys(chosen))
    reason = reason.strip()
    if unmasked:
        if not access.can(actor, Perm.MEMBER_EXPORT_UNMASKED, org.path):
            raise UnmaskedForbidden(message="您没有导出明文身份证号和手机号的权限。")
        if not reason:
            raise InvalidValue("EXPORT_REASON_REQUIRED", "导出明文数据须填写导出事由。")
        if len(reason) > REASON_MAX:
            raise InvalidValue("EXPORT_REASON_TOO_LONG", "导出事由过长。")
    cleaned = _clean_filters(filters)
    total = members_for(actor, org, cleaned).count()
    with transaction.atomic():
        job = ExportJob.objects.create(
            org=org,
            org_path=org.path,
            created_by=actor if getattr(actor, "pk", None) else None,
            filters=cleaned,
            columns=chosen,
            file_format=fmt,
            unmasked=unmasked,
            reason=reason,
            total_rows=total,
        )
        audit.record(
            "member.export_unmasked" if unmasked else "member.export",
            actor=actor,
            obj=job,
            org=org,
            details={"filters": cleaned, "columns": chosen, "format": fmt, "rows": total, "reason": reason[:200]},
        )
        job_id = job.pk
        if total > INLINE_LIMIT:
            transaction.on_commit(lambda: run_export_task.enqueue(job_id))
    if total <= INLINE_LIMIT:
        run_export(job_id)
        job.refresh_from_db()
    return job


@task()
def run_export_task(job_id: int) -> None:
    run_export(job_id)


def _rows(job: ExportJob, actor: Any, cols: list[Column]) -> Iterator[list[str]]:
    qs = members_for(actor, job.org, job.filters)
    for member in qs.iterator(chunk_size=CHUNK):
        yield [col.value(member, job.unmasked) for col in cols]


def run_export(job_id: int) -> None:
    """Write the file of one export job. Re-running a finished job does nothing.

    An export is cheap to redo, so a killed worker simply starts the file again: the
    claim below (QUEUED/RUNNING → RUNNING) lets a re-enqueued task take it over.
    """
    claimed = ExportJob.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
        status=JobStatus.RUNNING, written_rows=0
    )
    if not claimed:
        return
    job = ExportJob.objects.select_related("org", "created_by").get(pk=job_id)
    cols = [COLUMNS[key] for key in job.columns if key in COLUMNS]
    # The list is read with the creator's scope as it was asked for (a role revoked in
    # between shrinks it, never widens it).
    actor = job.created_by
    try:
        with tempfile.TemporaryFile() as tmp:
            if job.file_format == "xlsx":
                written = _write_xlsx(tmp, job, actor, cols)
            else:
                written = _write_csv(tmp, job, actor, cols)
            tmp.seek(0)
            stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
            job.file.save(f"members-{job.pk}-{stamp}.{job.file_format}", File(tmp), save=False)
    except Exception as exc:
        ExportJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error=str(exc)[:500])
        raise
    now = timezone.now()
    ExportJob.objects.filter(pk=job_id).update(
        status=JobStatus.DONE,
        file=job.file.name,
        written_rows=written,
        total_rows=written,
        finished_at=now,
        expires_at=now + LINK_TTL,
    )


def _progress(job_id: int, written: int) -> None:
    if written % CHUNK == 0:
        ExportJob.objects.filter(pk=job_id).update(written_rows=written)


def _write_xlsx(out: IO[bytes], job: ExportJob, actor: Any, cols: list[Column]) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("会员")
    bold = Font(bold=True)
    header = []
    for col in cols:
        cell = WriteOnlyCell(ws, value=col.header)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    written = 0
    for values in _rows(job, actor, cols):
        row: list[Any] = []
        for col, value in zip(cols, values, strict=True):
            if col.text:
                cell = WriteOnlyCell(ws, value=value)
                cell.number_format = TEXT_FORMAT
                row.append(cell)
            else:
                row.append(value)
        ws.append(row)
        written += 1
        _progress(job.pk, written)
    wb.save(out)
    return written


def _write_csv(out: IO[bytes], job: ExportJob, actor: Any, cols: list[Column]) -> int:
    out.write(codecs.BOM_UTF8)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow([col.header for col in cols])
    written = 0
    for values in _rows(job, actor, cols):
        # A leading tab keeps Excel from reading an ID or mobile as a number (scientific
        # notation, lost digits); it is the usual way to mark csv text for Excel.
        writer.writerow([f"\t{v}" if col.text and v else v for col, v in zip(cols, values, strict=True)])
        written += 1
        _progress(job.pk, written)
    text.flush()
    text.detach()
    return written


def is_expired(job: ExportJob) -> bool:
    return job.expires_at is not None and job.expires_at <= timezone.now()


def open_download(actor: Any, job: ExportJob) -> IO[bytes]:
    """The file of a finished, unexpired export; writes the ``member.export_download`` row.

    The caller found ``job`` in the actor's scope.
    """
    if job.status != JobStatus.DONE or not job.file:
        raise Conflict("EXPORT_NOT_READY", "导出文件尚未生成。")
    if is_expired(job):
        raise ExportExpired(message="下载链接已过期，请重新导出。")
    handle = job.file.open("rb")
    audit.record(
        "member.export_download",
        actor=actor,
        obj=job,
        org=job.org,
        details={"unmasked": job.unmasked, "rows": job.total_rows, "format": job.file_format},
    )
    return handle


def open_import_report(actor: Any, job: ImportJob) -> IO[bytes]:
    """An import's error report (the rejected rows with their reasons); audited.

    The caller found ``job`` in the actor's scope. Lives here beside the export
    downloads: both hand personal data out of the private storage.
    """
    if not job.error_report:
        raise Conflict("IMPORT_REPORT_MISSING", "这次导入没有错误报告。")
    handle = job.error_report.open("rb")
    audit.record("import.report_download", actor=actor, obj=job, org=job.org, details={"rejected": job.rejected})
    return handle
