"""Member import (会员导入): upload, the dry run's preview, commit with live progress, error report.

``members.importing`` does the work: ``create_job`` stores the upload and queues the dry
run, ``commit_job`` queues the resumable commit. These pages show where a job is; while
it runs the state card polls ``import_progress`` every second with htmx.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.labels import field_label
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.console.views.exports import org_choices, scope_orgs
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.members import exporting, importing
from gonghui.members.models import ExportJob, ImportJob, JobStatus
from gonghui.orgs.models import MEMBER_HOLDING_LEVELS, Org

PER_PAGE = 30
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
OUTCOMES = (
    ("created", gettext_lazy("新增")),
    ("updated", gettext_lazy("更新")),
    ("transfers", gettext_lazy("转会")),
    ("unchanged", gettext_lazy("未变化")),
    ("rejected", gettext_lazy("拒绝")),
)


class ImportForm(ConsoleForm):
    org = forms.ChoiceField(label=gettext_lazy("导入到工会"))
    file = forms.FileField(
        label=gettext_lazy("会员名单文件"),
        help_text=gettext_lazy("支持 xlsx 和 csv（UTF-8、带 BOM 的 UTF-8、GBK/GB18030）。"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx,.csv"}),
    )

    def __init__(self, *args: Any, orgs: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org"].choices = org_choices(orgs)  # type: ignore[attr-defined]

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            raise forms.ValidationError(_("文件过大（上限 200 MB）。"))
        return upload


@cadre_required
def import_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    jobs = access.scope(user, ImportJob.objects.select_related("org", "created_by"), Perm.MEMBER_CHANGE)
    exports = access.scope(user, ExportJob.objects.select_related("org", "created_by"), Perm.MEMBER_VIEW)
    context = {
        "page_obj": Paginator(jobs, PER_PAGE).get_page(request.GET.get("page")),
        "exports": list(exports[:10]),
        "can_import": access.can_anywhere(user, Perm.MEMBER_CHANGE),
    }
    return page(request, "console/import_list.html", context, section="imports")


@cadre_required
def import_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    # Members are imported into unions that hold members directly (grassroots and below).
    orgs = [o for o in scope_orgs(user, Perm.MEMBER_CHANGE, depth=6) if o.level in MEMBER_HOLDING_LEVELS]
    if not orgs:
        return page(request, "console/404.html", {}, status=404)
    form = ImportForm(
        request.POST or None,
        request.FILES or None,
        orgs=orgs,
        initial={"org": request.GET.get("org") or str(orgs[0].pk)},
    )
    if request.method == "POST" and form.is_valid():
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_CHANGE, pk=form.cleaned_data["org"])
        try:
            job = importing.create_job(user, org, form.cleaned_data["file"])
        except DomainError as exc:
            add_domain_error(form, exc, {exc.code: "file"})
        else:
            return redirect("console:import_detail", job.pk)
    context = {"form": form, "has_template": True}
    return page(request, "console/import_form.html", context, section="imports", status=400 if form.errors else 200)


@cadre_required
def import_template(request: HttpRequest) -> HttpResponse:
    """The blank template (Chinese headers, ID columns formatted as text)."""
    cadre(request)
    data = importing.template_xlsx()
    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = (
        "attachment; filename*=UTF-8''%E4%BC%9A%E5%91%98%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
    )
    return response


def _job(request: HttpRequest, job_id: int) -> ImportJob:
    qs = ImportJob.objects.select_related("org", "created_by")
    return access.get_object_or_404(cadre(request), qs, Perm.MEMBER_CHANGE, pk=job_id)


def _as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def preview_context(job: ImportJob) -> dict[str, Any]:
    """The dry run's figures in one shape for the templates, whatever extra the JSON holds."""
    preview: dict[str, Any] = job.preview or {}
    counts = preview.get("counts") or {}
    aliases = {
        "created": ("created", "new"),
        "updated": ("updated", "update"),
        "transfers": ("transfers", "transfer"),
        "unchanged": ("unchanged",),
        "rejected": ("rejected",),
    }
    figures = []
    for key, label in OUTCOMES:
        value = next((counts[a] for a in aliases[key] if a in counts), None)
        figures.append({"key": key, "label": label, "value": _as_int(value)})
    reasons_raw = preview.get("reasons") or {}
    reasons: list[dict[str, Any]] = []
    if isinstance(reasons_raw, dict):
        for code, item in reasons_raw.items():
            if isinstance(item, dict):
                reasons.append({"code": code, "count": _as_int(item.get("count")), "message": item.get("message", "")})
            else:
                reasons.append({"code": code, "count": _as_int(item), "message": ""})
    elif isinstance(reasons_raw, list):
        reasons = [
            {"code": r.get("code", ""), "count": _as_int(r.get("count")), "message": r.get("message", "")}
            for r in reasons_raw
            if isinstance(r, dict)
        ]
    rejected = preview.get("rejected_rows") or preview.get("first_rejected") or preview.get("rejections") or []
    # The preview keeps one message per shown row; a reason's wording comes from them.
    messages_by_code = {r.get("code"): r.get("message", "") for r in rejected if isinstance(r, dict)}
    for reason in reasons:
        reason["message"] = reason["message"] or messages_by_code.get(reason["code"], "")
    reasons.sort(key=lambda r: -r["count"])
    updates = preview.get("updates") or preview.get("first_updates") or []
    shown_updates = []
    for item in updates if isinstance(updates, list) else []:
        if not isinstance(item, dict):
            continue
        changed = item.get("changes") or item.get("fields") or item.get("changed") or []
        names = list(changed.keys()) if isinstance(changed, dict) else list(changed)
        shown_updates.append(
            {
                "row": item.get("row") or item.get("row_number") or "",
                "name": item.get("name") or "",
                "labels": [field_label(str(n)) for n in names],
            }
        )
    shown_rejected = [
        {
            "row": r.get("row") or r.get("row_number") or "",
            "name": r.get("name") or "",
            "code": r.get("code") or "",
            "message": r.get("message") or "",
        }
        for r in (rejected if isinstance(rejected, list) else [])
        if isinstance(r, dict)
    ]
    return {"figures": figures, "reasons": reasons, "rejected_rows": shown_rejected, "updates": shown_updates}


def _state_context(request: HttpRequest, job: ImportJob) -> dict[str, Any]:
    final = {
        "created": job.created,
        "updated": job.updated,
        "transfers": job.transfers,
        "unchanged": job.unchanged,
        "rejected": job.rejected,
    }
    return {
        "job": job,
        "running": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "percent": job.percent if job.committing else None,
        "final": [{"key": k, "label": label, "value": final[k]} for k, label in OUTCOMES],
        **preview_context(job),
    }


@cadre_required
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return page(request, "console/import_detail.html", _state_context(request, job), section="imports")


@cadre_required
def import_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return render(request, "console/_import_state.html", _state_context(request, job))


@require_POST
@cadre_required
def import_commit(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    try:
        importing.commit_job(cadre(request), job)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("console:import_detail", job.pk)


@cadre_required
def import_report(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if not job.error_report:
        raise Http404
    handle = exporting.open_import_report(cadre(request), job)
    stem = job.original_name.rsplit(".", 1)[0] or "import"
    suffix = (job.error_report.name or "").rsplit(".", 1)[-1]
    # The console gate types views as returning HttpResponse; a stream works the same there.
    return cast(HttpResponse, FileResponse(handle, as_attachment=True, filename=f"{stem}-错误报告.{suffix}"))
