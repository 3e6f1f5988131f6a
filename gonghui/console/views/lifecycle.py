"""Membership steps on the member record: retain, restore, leave, erase; the inactivity review.

Each view finds the member inside the cadre's subtree (404 outside it) and calls one
action in ``members.lifecycle``, which checks the permission again and audits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.console.views.common import cadre, cadre_required, page, safe_next
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.members import lifecycle, selectors, transfers
from gonghui.members.history import history
from gonghui.members.models import LeaveReason, Member, MemberStatus, RetainReason

PAGE_SIZE = 50


def membership_context(member: Member) -> dict[str, Any]:
    """What the member detail page shows about the membership: history, open transfer, steps."""
    return {
        "membership_events": list(history(member)),
        "open_transfer": transfers.open_transfer(member),
        "retain_reasons": [(c.value, c.label) for c in (RetainReason.RETIRED, RetainReason.UNEMPLOYED)],
        "leave_reasons": LeaveReason.choices,
    }


def _member(request: HttpRequest, member_id: int, perm: Perm = Perm.MEMBER_CHANGE) -> Member:
    return access.get_object_or_404(cadre(request), Member.objects.select_related("org"), perm, pk=member_id)


def _done(request: HttpRequest, member: Member) -> HttpResponse:
    return redirect(safe_next(request) or reverse("console:member_detail", args=[member.pk]) + "#membership")


def _step(request: HttpRequest, member_id: int, step: Callable[..., Any], done: str, **values: Any) -> HttpResponse:
    """Run one lifecycle action on a member of the cadre's subtree; flash its outcome."""
    member = _member(request, member_id)
    try:
        step(actor=cadre(request), member=member, note=request.POST.get("note", "").strip()[:200], **values)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done % {"name": member.name})
    return _done(request, member)


@require_POST
@cadre_required
def member_retain(request: HttpRequest, member_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")
    return _step(request, member_id, lifecycle.retain, _("%(name)s 已转为保留会籍。"), reason=reason)


@require_POST
@cadre_required
def member_restore(request: HttpRequest, member_id: int) -> HttpResponse:
    return _step(request, member_id, lifecycle.restore, _("%(name)s 已恢复正常会籍。"))


@require_POST
@cadre_required
def member_leave(request: HttpRequest, member_id: int) -> HttpResponse:
    reason = request.POST.get("reason", LeaveReason.VOLUNTARY)
    return _step(request, member_id, lifecycle.leave, _("已为 %(name)s 办理退会。"), reason=reason)


@require_POST
@cadre_required
def member_clear_inactive(request: HttpRequest, member_id: int) -> HttpResponse:
    return _step(request, member_id, lifecycle.clear_inactive_flag, _("已核查 %(name)s，会籍继续保持。"))


@cadre_required
def member_erase(request: HttpRequest, member_id: int) -> HttpResponse:
    """删除个人信息: a confirmation page with the typed legal basis (chair or admin only)."""
    member = _member(request, member_id, Perm.MEMBER_VIEW)
    access.require(cadre(request), Perm.MEMBER_REVEAL, member.org_path)
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm_name", "").strip() != member.name:
            error = _("请输入会员姓名以确认。")
        else:
            try:
                lifecycle.erase_personal_data(
                    actor=cadre(request), member=member, legal_basis=request.POST.get("legal_basis", "")
                )
            except DomainError as exc:
                error = exc.message
            else:
                messages.success(request, _("已依法删除该会员的个人信息，档案保留为匿名记录。"))
                return redirect("console:member_detail", member.pk)
    context = {"member": member, "error": error, "legal_basis": request.POST.get("legal_basis", "")}
    return page(request, "console/member_erase.html", context, section="members", status=400 if error else 200)


@cadre_required
def inactive_list(request: HttpRequest) -> HttpResponse:
    """长期未活跃待核查: members flagged by the housekeeping run, oldest flag first."""
    user = cadre(request)
    qs = (
        selectors.visible(user, Member.objects.select_related("org"), Perm.MEMBER_VIEW)
        .defer("id_number_enc", "bank_account_enc")
        .filter(inactive_flagged_at__isnull=False, status=MemberStatus.ACTIVE)
        .order_by("inactive_flagged_at", "pk")
    )
    after = request.GET.get("after", "")
    if after.isdigit():
        qs = qs.filter(pk__gt=int(after))
    rows = list(qs[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    context = {
        "rows": rows,
        "next_after": rows[-1].pk if more else None,
        "can_change": {m.pk for m in rows if access.can(user, Perm.MEMBER_CHANGE, m.org_path)},
    }
    return page(request, "console/inactive_members.html", context, section="members")
