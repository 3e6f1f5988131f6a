"""实名核验 in the console: batches with progress, and the member page's 实名核验 / 人工审核.

Reads are scoped by ``core.access``; every change is a ``members.verification`` action,
which checks the permission again and audits.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.console.views.common import cadre, cadre_required, is_htmx, page, perform
from gonghui.console.views.datachecks import picker_choices, picker_orgs
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.members import verification
from gonghui.members.models import Member, VerificationBatch
from gonghui.orgs.models import Org

LIST_SIZE = 50


def _rows(user: User, batches: list[VerificationBatch]) -> list[dict[str, object]]:
    return [
        {
            "b": b,
            "percent": verification.batch_percent(b),
            # 继续核验 only for a cadre who may resume it: the list shows batches to every
            # cadre who may view members, and ``resume_batch`` needs MEMBER_CHANGE.
            "stale": verification.is_stale(b) and access.can(user, Perm.MEMBER_CHANGE, b.org_path),
            "counts": {k: v for k, v in (b.counts or {}).items() if k != verification.MEMBER_IDS_KEY},
        }
        for b in batches
    ]


@cadre_required
def verification_batches(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    batches = list(
        access.scope(user, VerificationBatch.objects.select_related("org", "created_by"), Perm.MEMBER_VIEW).order_by(
            "-created_at", "-pk"
        )[:LIST_SIZE]
    )
    rows = _rows(user, batches)
    context = {
        "rows": rows,
        "any_open": any(r["b"].status in verification.BATCH_STATUSES_OPEN for r in rows),  # type: ignore[attr-defined]
        "choices": picker_choices(picker_orgs(user)),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "batch-list":
        return render(request, "console/_verification_batches.html", context)
    return page(request, "console/verification.html", context, section="verification")


@require_POST
@cadre_required
def verification_start(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_CHANGE, pk=request.POST.get("org") or 0)
    try:
        batch = verification.start_batch(user, org)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已开始核验 %(org)s 的 %(n)d 名未实名会员。") % {"org": org.name, "n": batch.total})
    return redirect("console:verification")


@require_POST
@cadre_required
def verification_resume(request: HttpRequest, batch_id: int) -> HttpResponse:
    user = cadre(request)
    batch = access.get_object_or_404(user, VerificationBatch.objects.all(), Perm.MEMBER_CHANGE, pk=batch_id)
    return perform(
        request,
        lambda: verification.resume_batch(user, batch),
        _("已继续核验，已完成的会员不会重复核验。"),
        resolve_url("console:verification"),
    )


def _member(request: HttpRequest, member_id: int) -> Member:
    return access.get_object_or_404(
        cadre(request), Member.objects.select_related("org"), Perm.MEMBER_CHANGE, pk=member_id
    )


def _to_member(member: Member) -> HttpResponse:
    return redirect(reverse("console:member_detail", args=[member.pk]) + "#verification")


@require_POST
@cadre_required
def member_verify(request: HttpRequest, member_id: int) -> HttpResponse:
    """实名核验 one member now through the configured provider."""
    member = _member(request, member_id)
    try:
        attempt = verification.verify_member(cadre(request), member)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if attempt.outcome == "match":
            messages.success(request, _("%(name)s 实名核验通过。") % {"name": member.name})
        elif attempt.outcome == "error":
            messages.error(
                request, _("核验服务暂时不可用（%(code)s），请稍后重试或人工审核。") % {"code": attempt.error_code}
            )
        else:
            messages.error(
                request,
                _("%(name)s 实名核验未通过：%(outcome)s。")
                % {"name": member.name, "outcome": attempt.get_outcome_display()},
            )
    return _to_member(member)


@require_POST
@cadre_required
def member_manual_review(request: HttpRequest, member_id: int) -> HttpResponse:
    """人工审核: the cadre has seen the documents and confirms (or rejects) the identity."""
    member = _member(request, member_id)
    approve = request.POST.get("decision") == "approve"
    try:
        verification.manual_review(cadre(request), member, approve, request.POST.get("note", "")[:300])
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("人工审核已记录：%(result)s。") % {"result": _("通过") if approve else _("不通过")})
    return _to_member(member)
