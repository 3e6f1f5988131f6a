"""Member export (会员导出): choose columns and format, masked or (audited) unmasked, download.

The member list's "导出" button carries its filters (``q``, ``status``, ``org``) here;
``members.exporting`` writes the file (inline when small, in the background when large)
and hands it out only until the link expires, auditing each download.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.members import exporting
from gonghui.members.models import ExportJob, JobStatus, MemberStatus
from gonghui.orgs.models import Org, OrgStatus

PICKER_DEPTH = 2
PICKER_LIMIT = 300
EXPORT_ERROR_FIELDS = {
    "EXPORT_FORMAT_INVALID": "file_format",
    "EXPORT_COLUMNS_INVALID": "columns",
    "EXPORT_UNMASKED_FORBIDDEN": "unmasked",
    "EXPORT_REASON_REQUIRED": "reason",
    "EXPORT_REASON_TOO_LONG": "reason",
}


def scope_orgs(user: Any, perm: Perm, depth: int = PICKER_DEPTH) -> list[Org]:
    """Active unions where the cadre holds ``perm``: their own and up to ``depth`` levels below."""
    roots = [g for g in access.grants(user) if g.allows(perm)]
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), perm)
    if roots:
        deepest = max(len(g.path) // Org.steplen for g in roots) + depth
        qs = qs.filter(depth__lte=deepest)
    return list(qs.order_by("path")[:PICKER_LIMIT])


def org_choices(orgs: list[Org]) -> list[tuple[str, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs]


class ExportForm(ConsoleForm):
    org = forms.ChoiceField(label=gettext_lazy("导出范围（工会及其下级）"))
    q = forms.CharField(label=gettext_lazy("搜索条件"), max_length=40, required=False)
    status = forms.ChoiceField(
        label=gettext_lazy("会籍状态"),
        choices=[("", gettext_lazy("全部状态")), *MemberStatus.choices],
        required=False,
    )
    columns = forms.MultipleChoiceField(
        label=gettext_lazy("导出列"),
        choices=[(c.key, c.header) for c in exporting.COLUMNS.values()],
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox"}),
    )
    file_format = forms.ChoiceField(
        label=gettext_lazy("文件格式"),
        choices=[
            ("xlsx", gettext_lazy("Excel 工作簿（.xlsx）")),
            ("csv", gettext_lazy("CSV（UTF-8，Excel 可直接打开）")),
        ],
        initial="xlsx",
    )
    unmasked = forms.BooleanField(
        label=gettext_lazy("导出明文身份证号和手机号（需相应权限，写入审计日志）"), required=False
    )
    reason = forms.CharField(
        label=gettext_lazy("导出事由"),
        max_length=exporting.REASON_MAX,
        required=False,
        help_text=gettext_lazy("导出明文时必填，例如：报送上级工会年度会员统计。"),
    )

    def __init__(self, *args: Any, orgs: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org"].choices = org_choices(orgs)  # type: ignore[attr-defined]


@cadre_required
def export_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = scope_orgs(user, Perm.MEMBER_VIEW)
    if not orgs:
        return page(request, "console/404.html", {}, status=404)
    source = request.POST if request.method == "POST" else request.GET
    picked = source.get("org")
    if picked:
        # A union from the member list may lie deeper than the picker reaches: look it up
        # in the cadre's scope (404 outside it) and offer it too.
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_VIEW, pk=picked)
        if org not in orgs:
            orgs = [org, *orgs]
    initial = {
        "org": picked or str(orgs[0].pk),
        "q": request.GET.get("q", "")[:40],
        "status": request.GET.get("status", ""),
        "columns": list(exporting.DEFAULT_COLUMNS),
        "file_format": "xlsx",
    }
    form = ExportForm(request.POST or None, orgs=orgs, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_VIEW, pk=data["org"])
        try:
            job = exporting.start_export(
                user,
                org,
                {"q": data["q"], "status": data["status"]},
                list(data["columns"]),
                data["file_format"],
                unmasked=data["unmasked"],
                reason=data["reason"],
            )
        except DomainError as exc:
            add_domain_error(form, exc, EXPORT_ERROR_FIELDS)
        else:
            return redirect("console:export_detail", job.pk)
    context = {
        "form": form,
        "can_unmask": any(access.can(user, Perm.MEMBER_EXPORT_UNMASKED, o.path) for o in orgs),
        "inline_limit": exporting.INLINE_LIMIT,
    }
    return page(request, "console/export_form.html", context, section="members", status=400 if form.errors else 200)


def _job(request: HttpRequest, job_id: int) -> ExportJob:
    qs = ExportJob.objects.select_related("org", "created_by")
    return access.get_object_or_404(cadre(request), qs, Perm.MEMBER_VIEW, pk=job_id)


def _context(job: ExportJob) -> dict[str, Any]:
    percent = 100 if not job.total_rows else min(100, job.written_rows * 100 // job.total_rows)
    if job.status == JobStatus.DONE:
        percent = 100
    return {
        "job": job,
        "percent": percent,
        "running": job.status in (JobStatus.QUEUED, JobStatus.RUNNING),
        "expired": exporting.is_expired(job),
        "columns": [exporting.COLUMNS[k].header for k in job.columns if k in exporting.COLUMNS],
        "status_label": dict(MemberStatus.choices).get(job.filters.get("status", ""), ""),
    }


@cadre_required
def export_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return page(request, "console/export_detail.html", _context(job), section="members")


@cadre_required
def export_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return render(request, "console/_export_progress.html", _context(job))


@cadre_required
def export_download(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    if exporting.is_expired(job) or job.status != JobStatus.DONE:
        return page(request, "console/export_expired.html", _context(job), section="members", status=410)
    handle = exporting.open_download(cadre(request), job)
    stamp = job.created_at.strftime("%Y%m%d")
    filename = f"会员名单-{job.org.name}-{stamp}.{job.file_format}"
    # The console gate types views as returning HttpResponse; a stream works the same there.
    return cast(HttpResponse, FileResponse(handle, as_attachment=True, filename=filename))
