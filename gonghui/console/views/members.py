"""Members: a keyset-paged, scoped list with search; the record; reveal; edit.

The list never counts a million rows on its own: it fetches one page more than it shows
(``?after=<id>`` continues below the last id) and shows an exact total only for a single
grassroots-level union, or when the cadre presses "统计总数".
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from gonghui.console.forms import (
    MEMBER_ERROR_FIELDS,
    REVEAL_REASONS,
    MemberEditForm,
    MemberFilterForm,
    RevealForm,
    add_domain_error,
)
from gonghui.console.views.common import cadre, cadre_required, is_htmx, page
from gonghui.console.views.lifecycle import membership_context
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent
from gonghui.members import actions, selectors
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgLevel

PAGE_SIZE = 50
TRAIL_SIZE = 50
# A union at these levels holds its members directly and is small enough to count.
COUNTABLE_LEVELS = {OrgLevel.GRASSROOTS, OrgLevel.BRANCH, OrgLevel.GROUP}


def _filtered(request: HttpRequest, form: MemberFilterForm) -> tuple[QuerySet[Member], Org | None]:
    """The scoped, filtered member queryset (without the page cut) and the org filter."""
    user = cadre(request)
    # Ciphertexts are never shown in lists: leave them in the database.
    members = Member.objects.select_related("org").defer("id_number_enc", "bank_account_enc")
    org = None
    data = form.cleaned_data
    if data.get("org"):
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MEMBER_VIEW, pk=data["org"])
    qs = selectors.visible(user, members, Perm.MEMBER_VIEW, within=org.path if org else None)
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("q"):
        qs = selectors.search_members(qs, data["q"])
    return qs, org


@cadre_required
def member_list(request: HttpRequest) -> HttpResponse:
    form = MemberFilterForm(request.GET)
    if not form.is_valid():
        form = MemberFilterForm({"q": request.GET.get("q", "")[:40]})
        form.is_valid()
    qs, org = _filtered(request, form)
    after = form.cleaned_data.get("after")
    page_qs = qs.filter(pk__lt=after) if after else qs
    rows = list(selectors.newest_first(page_qs)[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    exact_total = None
    if org is not None and org.level in COUNTABLE_LEVELS and org.numchild == 0:
        exact_total = qs.count()
    filters = {k: v for k, v in request.GET.items() if k in ("q", "status", "org") and v}
    context = {
        "form": form,
        "rows": rows,
        "org": org,
        "next_after": rows[-1].pk if more else None,
        "is_first_page": not after,
        "exact_total": exact_total,
        "filters": filters,
        "search_kind": selectors.member_search_kind(form.cleaned_data.get("q") or ""),
    }
    if is_htmx(request) and request.headers.get("HX-Target") == "member-results":
        return render(request, "console/_member_results.html", context)
    return page(request, "console/member_list.html", context, section="members")


@cadre_required
def member_count(request: HttpRequest) -> HttpResponse:
    """The "统计总数" button: one COUNT over the current filter, on request only."""
    form = MemberFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest()
    qs, _org = _filtered(request, form)
    return render(request, "console/_member_count.html", {"total": qs.count()})


def _member(request: HttpRequest, member_id: int, perm: Perm = Perm.MEMBER_VIEW) -> Member:
    return access.get_object_or_404(cadre(request), Member.objects.select_related("org"), perm, pk=member_id)


def _detail_context(request: HttpRequest, member: Member) -> dict[str, Any]:
    user = cadre(request)
    can_audit = access.can(user, Perm.AUDIT_VIEW, member.org_path)
    trail: list[AuditEvent] = []
    if can_audit:
        # The record's whole history, also from before a transfer: it is this record's trail.
        trail = list(AuditEvent.objects.filter(object_type="members.member", object_id=str(member.pk))[:TRAIL_SIZE])
    return {
        "member": member,
        "can_reveal": access.can(user, Perm.MEMBER_REVEAL, member.org_path),
        "can_change": access.can(user, Perm.MEMBER_CHANGE, member.org_path),
        "can_audit": can_audit,
        "can_view_org": access.can(user, Perm.ORG_VIEW, member.org_path),
        "trail": trail,
        "reveal_reasons": REVEAL_REASONS,
        "revealed": {},
        **membership_context(member),
    }


@cadre_required
def member_detail(request: HttpRequest, member_id: int) -> HttpResponse:
    member = _member(request, member_id)
    return page(request, "console/member_detail.html", _detail_context(request, member), section="members")


@require_POST
@cadre_required
def member_reveal(request: HttpRequest, member_id: int) -> HttpResponse:
    """查看明文: the action checks the reveal permission (404 without it) and writes the audit row."""
    member = _member(request, member_id)
    form = RevealForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    field = form.cleaned_data["field"]
    try:
        value = actions.reveal_pii(
            actor=cadre(request), member=member, field_name=field, reason=form.cleaned_data["reason"].strip()
        )
    except DomainError as exc:
        return HttpResponseBadRequest(exc.message)
    context = _detail_context(request, member)
    if is_htmx(request):
        # The reveal itself is now in the trail: refresh it out of band beside the value.
        trail = context["trail"] if context["can_audit"] else None
        response = render(request, "console/_pii_value.html", {"field": field, "value": value, "trail": trail})
    else:
        context["revealed"] = {field: value}
        response = page(request, "console/member_detail.html", context, section="members")
    # Plaintext personal data: never stored by a browser or proxy cache.
    response["Cache-Control"] = "no-store"
    return response


@cadre_required
def member_edit(request: HttpRequest, member_id: int) -> HttpResponse:
    user = cadre(request)
    member = _member(request, member_id, Perm.MEMBER_CHANGE)
    initial = {name: getattr(member, name) for name in MemberEditForm.base_fields}
    form = MemberEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_member(actor=user, member=member, values=dict(form.cleaned_data))
        except DomainError as exc:
            add_domain_error(form, exc, MEMBER_ERROR_FIELDS)
        else:
            messages.success(request, _("已保存 %(name)s 的会员信息。") % {"name": member.name})
            return redirect("console:member_detail", member.pk)
    context = {"form": form, "member": member}
    return page(request, "console/member_form.html", context, section="members", status=400 if form.errors else 200)
