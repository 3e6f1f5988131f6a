"""转会办理: the transfer inbox (转入) and outbox (转出) of a cadre's subtree.

转入 lists transfers whose receiving union is in the cadre's subtree and that the
outgoing union has released: accept, or decline with a reason the member sees. 转出 lists
requests waiting for the outgoing union's release — including, for a common parent
union, the ones escalated to it after the deadline. A transfer outside both sides of
the cadre's subtree does not exist (404).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.console.views.common import cadre, cadre_required, page, safe_next
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.members import transfers
from gonghui.members.models import Member, TransferInitiator, TransferStatus
from gonghui.orgs.models import Org, OrgStatus
from gonghui.orgs.selectors import find_unions, parents_of

PAGE_SIZE = 50


@cadre_required
def transfer_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    box = request.GET.get("box", "in")
    if box not in transfers.BOXES:
        box = "in"
    rows = list(transfers.box_queryset(user, box)[:PAGE_SIZE])
    now = timezone.now()
    items = [
        {
            "t": t,
            "overdue": t.status == TransferStatus.REQUESTED and t.release_due_at < now,
            "can_release": box == "out" and transfers.can_release(user, t),
            "can_decide": box == "in" and transfers.can_decide(user, t),
        }
        for t in rows
    ]
    counts = {
        "in": transfers.box_queryset(user, "in").count(),
        "out": transfers.box_queryset(user, "out").count(),
        "overdue": transfers.box_queryset(user, "out").filter(release_due_at__lt=now).count(),
    }
    context = {"box": box, "items": items, "counts": counts, "more": len(rows) >= PAGE_SIZE}
    return page(request, "console/transfers.html", context, section="transfers")


def _back(request: HttpRequest, box: str) -> HttpResponse:
    target = safe_next(request)
    return redirect(target or f"{reverse('console:transfers')}?box={box}")


def _act(request: HttpRequest, transfer_id: int, box: str, done: str, step: Any, **kwargs: Any) -> HttpResponse:
    user = cadre(request)
    transfer = transfers.get_visible(user, transfer_id)
    try:
        step(actor=user, transfer=transfer, **kwargs)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done % {"name": transfer.member.name})
    return _back(request, box)


@require_POST
@cadre_required
def transfer_release(request: HttpRequest, transfer_id: int) -> HttpResponse:
    return _act(request, transfer_id, "out", _("已同意 %(name)s 转出，等待转入工会接收。"), transfers.release)


@require_POST
@cadre_required
def transfer_accept(request: HttpRequest, transfer_id: int) -> HttpResponse:
    return _act(request, transfer_id, "in", _("已接收 %(name)s 转入。"), transfers.accept)


@require_POST
@cadre_required
def transfer_decline(request: HttpRequest, transfer_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "").strip()[:500]
    return _act(
        request, transfer_id, "in", _("已不予接收 %(name)s，原因已通知本人。"), transfers.decline, reason=reason
    )


@require_POST
@cadre_required
def transfer_cancel(request: HttpRequest, transfer_id: int) -> HttpResponse:
    note = request.POST.get("note", "").strip()[:200]
    return _act(request, transfer_id, "out", _("已取消 %(name)s 的转会。"), transfers.cancel, note=note)


@cadre_required
def transfer_start(request: HttpRequest, member_id: int) -> HttpResponse:
    """A cadre of the member's union starts a transfer on the member's behalf."""
    user = cadre(request)
    member: Member = access.get_object_or_404(
        user, Member.objects.select_related("org"), Perm.MEMBER_CHANGE, pk=member_id
    )
    q = request.GET.get("q", "").strip()[:100]
    error = ""
    if request.method == "POST":
        target = Org.objects.filter(pk=request.POST.get("to_org") or 0, status=OrgStatus.ACTIVE).first()
        if target is None:
            error = _("请先搜索并选择接收工会。")
        else:
            try:
                transfers.request_transfer(
                    actor=user,
                    member=member,
                    to_org=target,
                    reason=request.POST.get("reason", ""),
                    new_workplace=request.POST.get("new_workplace", ""),
                    initiated_by=TransferInitiator.CADRE,
                )
            except DomainError as exc:
                error = exc.message
            else:
                messages.success(request, _("已为 %(name)s 发起转会。") % {"name": member.name})
                return redirect("console:member_detail", member.pk)
        q = request.POST.get("q", q)
    orgs = [o for o in find_unions(q, None) if o.pk != member.org_id] if q else []
    parents = parents_of(orgs)
    context = {
        "member": member,
        "q": q,
        "results": [(o, parents.get(o.pk)) for o in orgs],
        "error": error,
        "open_transfer": transfers.open_transfer(member),
    }
    return page(request, "console/transfer_start.html", context, section="members", status=400 if error else 200)
