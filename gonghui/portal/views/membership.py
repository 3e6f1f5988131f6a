"""The member's own membership: request a transfer (转会), leave (退会), the history.

A member picks the receiving union with the same search as "找工会"; with no receiving
union they pick their residence district and one of its street/district unions, where
the membership waits. An open transfer shows its progress and can be cancelled.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.core.errors import DomainError
from gonghui.members import lifecycle, transfers
from gonghui.members.history import history
from gonghui.members.models import Member, MemberStatus, Transfer, TransferStatus
from gonghui.orgs.models import Org, OrgStatus
from gonghui.orgs.regions import union_regions
from gonghui.orgs.selectors import find_unions, parents_of, suggest_for_region
from gonghui.portal.views.common import member_of, page

MAX_QUERY = 100


class TransferForm(forms.Form):
    mode = forms.ChoiceField(choices=[("union", "union"), ("residence", "residence")], initial="union")
    to_org = forms.IntegerField(
        required=False, error_messages={"invalid": gettext_lazy("请选择接收工会。")}, widget=forms.HiddenInput
    )
    residence_org = forms.IntegerField(required=False)
    new_workplace = forms.CharField(label=gettext_lazy("新工作单位"), max_length=200, required=False)
    reason = forms.CharField(label=gettext_lazy("转会原因"), max_length=500, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        key = "residence_org" if data.get("mode") == "residence" else "to_org"
        if not data.get(key):
            message = _("请选择居住地工会。") if key == "residence_org" else _("请先搜索并选择接收工会。")
            self.add_error(None, message)
        return data


def _member_or_404(request: HttpRequest) -> Member:
    member = member_of(request)
    if member is None:
        raise Http404
    return member


def _steps(transfer: Transfer) -> list[dict[str, Any]]:
    """The progress bar of a transfer: submitted → released → accepted (or declined)."""
    status = transfer.status
    released = status in (TransferStatus.RELEASED, TransferStatus.ACCEPTED) or bool(transfer.released_at)
    return [
        {"label": _("提交申请"), "state": "done", "at": transfer.created_at},
        {
            "label": _("原工会同意转出"),
            "state": "done" if released else ("current" if status == TransferStatus.REQUESTED else "todo"),
            "at": transfer.released_at,
        },
        {
            "label": _("新工会接收") if status != TransferStatus.DECLINED else _("新工会不予接收"),
            "state": (
                "done"
                if status == TransferStatus.ACCEPTED
                else "failed"
                if status == TransferStatus.DECLINED
                else "current"
                if status == TransferStatus.RELEASED
                else "todo"
            ),
            "at": transfer.decided_at if status in (TransferStatus.ACCEPTED, TransferStatus.DECLINED) else None,
        },
    ]


def _districts() -> list[tuple[str, list[tuple[str, str]]]]:
    """Districts that have unions, grouped by city: ``[(city name, [(code, name)…])…]``."""
    groups: list[tuple[str, list[tuple[str, str]]]] = []
    for province in union_regions():
        for city in province.children:
            if city.children:
                groups.append((f"{province.name} · {city.name}", [(d.code, d.name) for d in city.children]))
    return groups


@never_cache
@login_required
def transfer_request(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    context: dict[str, Any] = {"member": member}
    if member is None or member.status != MemberStatus.ACTIVE or member.erased_at is not None:
        return page(request, "portal/transfer_request.html", context, tab="me")
    current = transfers.open_transfer(member)
    last = (
        Transfer.objects.select_related("from_org", "to_org")
        .filter(member=member)
        .exclude(status__in=(TransferStatus.REQUESTED, TransferStatus.RELEASED))
        .order_by("-created_at", "-pk")
        .first()
    )
    form = TransferForm(request.POST or None)
    status = 200
    if request.method == "POST" and current is None:
        if form.is_valid():
            data = form.cleaned_data
            try:
                if data["mode"] == "residence":
                    residence = Org.objects.filter(pk=data["residence_org"], status=OrgStatus.ACTIVE).first()
                    if residence is None:
                        raise Http404
                    transfers.request_to_residence(
                        actor=request.user,
                        member=member,
                        residence_org=residence,
                        reason=data["reason"],
                        new_workplace=data["new_workplace"],
                    )
                else:
                    target = Org.objects.filter(pk=data["to_org"], status=OrgStatus.ACTIVE).first()
                    if target is None:
                        raise Http404
                    transfers.request_transfer(
                        actor=request.user,
                        member=member,
                        to_org=target,
                        reason=data["reason"],
                        new_workplace=data["new_workplace"],
                    )
            except DomainError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("转会申请已提交，请等待原工会办理转出。"))
                return redirect("portal:transfer_request")
        status = 400
    context.update(
        {
            "current": current,
            "steps": _steps(current) if current else [],
            "last": last,
            "last_steps": _steps(last) if last and last.status == TransferStatus.DECLINED else [],
            "form": form,
            "districts": _districts(),
            "mode": (request.POST if form.is_bound else request.GET).get("mode", "union"),
            **_targets(request, member),
        }
    )
    return page(request, "portal/transfer_request.html", context, tab="me", status=status)


def _targets(request: HttpRequest, member: Member) -> dict[str, Any]:
    """Receiving unions matching ``q``, and the residence unions of ``district``."""
    params = request.POST if request.method == "POST" else request.GET
    q = params.get("q", "").strip()[:MAX_QUERY]
    district = params.get("district", "").strip()[:6]
    orgs = [o for o in find_unions(q, None) if o.pk != member.org_id] if q else []
    parents = parents_of(orgs)
    options = [o for o in suggest_for_region(district) if o.pk != member.org_id] if district else []
    chosen = params.get("to_org", "")
    return {
        "q": q,
        "results": [(org, parents.get(org.pk)) for org in orgs],
        "district": district,
        "options": options,
        "chosen_org": chosen,
        "chosen_residence": params.get("residence_org", ""),
    }


@login_required
def transfer_targets(request: HttpRequest) -> HttpResponse:
    """The live search of receiving unions (htmx partial), or a district's residence unions."""
    member = _member_or_404(request)
    context = _targets(request, member)
    if "district" in request.GET:
        return render(request, "portal/_transfer_residence.html", context)
    return render(request, "portal/_transfer_targets.html", context)


@require_POST
@login_required
def transfer_cancel(request: HttpRequest, transfer_id: int) -> HttpResponse:
    member = _member_or_404(request)
    transfer = Transfer.objects.filter(pk=transfer_id, member=member).first()
    if transfer is None:
        raise Http404
    try:
        transfers.cancel(actor=request.user, transfer=transfer)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("转会申请已取消。"))
    return redirect("portal:transfer_request")


@never_cache
@login_required
def leave(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    error = ""
    if request.method == "POST" and member is not None:
        if request.POST.get("confirm") != "yes":
            error = _("请勾选确认后再提交。")
        else:
            try:
                lifecycle.leave(actor=request.user, member=member, note=request.POST.get("note", "").strip()[:200])
            except DomainError as exc:
                error = exc.message
            else:
                messages.success(request, _("您已退会。会籍记录会保留，今后可以重新申请入会。"))
                return redirect("portal:membership_history")
    context = {"member": member, "error": error, "open_transfer": transfers.open_transfer(member) if member else None}
    return page(request, "portal/leave.html", context, tab="me", status=400 if error else 200)


@never_cache
@login_required
def membership_history(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    context: dict[str, Any] = {"member": member}
    if member is not None:
        events = list(history(member))
        stays: list[Org] = []
        for event in events:
            if not stays or stays[-1].pk != event.org_id:
                stays.append(event.org)
        context.update(
            {
                "events": list(reversed(events)),
                "stays": stays,
                "open_transfer": transfers.open_transfer(member),
            }
        )
    return page(request, "portal/membership_history.html", context, tab="me")
