"""Notices and broadcasts (群发消息): the composer, the list, and live delivery progress.

The composer publishes a notice on the union's home page and/or pushes it to the
members' message centre (``inbox.actions.publish_notice``); the push is a background
broadcast whose progress the detail page polls with htmx while it runs.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.inbox import actions
from gonghui.inbox.models import Broadcast
from gonghui.members.models import EmploymentStatus, MemberStatus, NewEmploymentGroup
from gonghui.orgs.models import Org, OrgStatus

# How far below each of the cadre's own unions the pickers reach, and how many they list.
PICKER_DEPTH = 2
PICKER_LIMIT = 300
PER_PAGE = 30

BROADCAST_ERROR_FIELDS = {
    "BROADCAST_TEXT_REQUIRED": "title",
    "BROADCAST_TITLE_TOO_LONG": "title",
    "BROADCAST_BODY_TOO_LONG": "body",
    "BROADCAST_ORG_OUTSIDE": "sub_org",
    "BROADCAST_ORG_CLOSED": "sub_org",
    "NOTICE_NO_CHANNEL": "push",
}


def scope_orgs(user: Any) -> list[Org]:
    """Active unions the cadre may send from: each of their own and up to two levels below."""
    roots = [g for g in access.grants(user) if g.allows(Perm.ORG_CHANGE)]
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), Perm.ORG_CHANGE)
    if roots:
        deepest = max(len(g.path) // Org.steplen for g in roots) + PICKER_DEPTH
        qs = qs.filter(depth__lte=deepest)
    return list(qs.order_by("path")[:PICKER_LIMIT])


def _choices(orgs: list[Org]) -> list[tuple[str, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs]


def _checkboxes(choices: Any) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=choices, required=False, widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox"})
    )


class BroadcastForm(ConsoleForm):
    org = forms.ChoiceField(label=gettext_lazy("发送工会"))
    sub_org = forms.ChoiceField(
        label=gettext_lazy("只发给下级工会"),
        required=False,
        help_text=gettext_lazy("不选则发给发送工会及其全部下级工会的会员。"),
    )
    title = forms.CharField(label=gettext_lazy("标题"), max_length=actions.TITLE_MAX)
    body = forms.CharField(
        label=gettext_lazy("正文"), max_length=actions.BODY_MAX, widget=forms.Textarea(attrs={"rows": 7})
    )
    status = _checkboxes(
        [(MemberStatus.ACTIVE, MemberStatus.ACTIVE.label), (MemberStatus.RETAINED, MemberStatus.RETAINED.label)]
    )
    employment_status = _checkboxes(EmploymentStatus.choices)
    new_employment_group = _checkboxes(NewEmploymentGroup.choices)
    publish = forms.BooleanField(label=gettext_lazy("在工会首页发布为通知公告"), required=False, initial=True)
    push = forms.BooleanField(label=gettext_lazy("同时推送到会员消息中心"), required=False, initial=True)
    send_sms = forms.BooleanField(label=gettext_lazy("同时给有手机号的会员发短信"), required=False)

    def __init__(self, *args: Any, orgs: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = _choices(orgs)
        self.fields["org"].choices = choices  # type: ignore[attr-defined]
        self.fields["sub_org"].choices = [("", _("全部下级（不限）")), *choices]  # type: ignore[attr-defined]
        self.fields["status"].label = _("会籍状态")
        self.fields["employment_status"].label = _("就业状态")
        self.fields["new_employment_group"].label = _("新就业形态群体")

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        filters: dict[str, Any] = {
            key: list(data.get(key) or []) for key in ("status", "employment_status", "new_employment_group")
        }
        if data.get("sub_org"):
            filters["org_id"] = int(data["sub_org"])
        return {k: v for k, v in filters.items() if v}


def _sender(user: Any, form: BroadcastForm) -> Org:
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ORG_CHANGE, pk=form.cleaned_data["org"])
    return org


@cadre_required
def broadcast_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = scope_orgs(user)
    if not orgs:
        return page(request, "console/404.html", {}, status=404)
    initial = {"org": request.GET.get("org") or str(orgs[0].pk)}
    form = BroadcastForm(request.POST or None, orgs=orgs, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            _notice, broadcast = actions.publish_notice(
                actor=user,
                org=_sender(user, form),
                title=data["title"],
                body=data["body"],
                publish=data["publish"],
                push=data["push"],
                filters=form.filters(),
                send_sms=data["send_sms"],
            )
        except DomainError as exc:
            add_domain_error(form, exc, BROADCAST_ERROR_FIELDS)
        else:
            if broadcast is not None:
                messages.success(request, _("已开始发送，共 %(n)s 名会员。") % {"n": f"{broadcast.total:,}"})
                return redirect("console:broadcast_detail", broadcast.pk)
            messages.success(request, _("通知公告已发布。"))
            return redirect("console:broadcasts")
    context = {"form": form}
    return page(
        request, "console/broadcast_form.html", context, section="broadcasts", status=400 if form.errors else 200
    )


@cadre_required
def broadcast_preview(request: HttpRequest) -> HttpResponse:
    """预计收件人数: one COUNT over the composer's current choices (htmx, on change)."""
    user = cadre(request)
    if not request.GET.get("org"):
        return render(request, "console/_broadcast_preview.html", {"error": _("请选择发送工会。")})
    # The sender is looked up in the cadre's scope directly (404 outside it), not through
    # the form's choices, which stop two levels down.
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ORG_CHANGE, pk=request.GET["org"])
    form = BroadcastForm(request.GET, orgs=[org])
    form.is_valid()  # only the audience fields matter here; title and body may be empty
    filters = {k: v for k, v in form.filters().items() if k != "org_id"}
    if request.GET.get("sub_org"):
        filters["org_id"] = request.GET["sub_org"]
    try:
        total = actions.count_recipients(org, filters)
    except DomainError as exc:
        return render(request, "console/_broadcast_preview.html", {"error": exc.message})
    return render(request, "console/_broadcast_preview.html", {"total": total})


@cadre_required
def broadcast_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    qs = access.scope(user, Broadcast.objects.select_related("org", "created_by"), Perm.ORG_VIEW)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page_obj,
        "can_send": access.can_anywhere(user, Perm.ORG_CHANGE),
    }
    return page(request, "console/broadcast_list.html", context, section="broadcasts")


def _broadcast(request: HttpRequest, broadcast_id: int) -> Broadcast:
    qs = Broadcast.objects.select_related("org", "created_by", "notice")
    return access.get_object_or_404(cadre(request), qs, Perm.ORG_VIEW, pk=broadcast_id)


def _progress_context(request: HttpRequest, broadcast: Broadcast) -> dict[str, Any]:
    user = cadre(request)
    return {
        "b": broadcast,
        "stale": actions.is_stale(broadcast) and access.can(user, Perm.ORG_CHANGE, broadcast.org_path),
    }


def _filter_labels(broadcast: Broadcast) -> list[str]:
    labels: list[str] = []
    filters = broadcast.filters
    if filters.get("org_id"):
        name = Org.objects.filter(pk=filters["org_id"]).values_list("name", flat=True).first()
        labels.append(_("下级工会：%(name)s") % {"name": name or filters["org_id"]})
    for key, enum in (
        ("status", MemberStatus),
        ("employment_status", EmploymentStatus),
        ("new_employment_group", NewEmploymentGroup),
    ):
        names = dict(enum.choices)
        labels.extend(str(names.get(v, v)) for v in filters.get(key, []))
    return labels


@cadre_required
def broadcast_detail(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    context = {**_progress_context(request, broadcast), "filter_labels": _filter_labels(broadcast)}
    return page(request, "console/broadcast_detail.html", context, section="broadcasts")


@cadre_required
def broadcast_progress(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    """The progress card alone: polled every second while the broadcast is open."""
    broadcast = _broadcast(request, broadcast_id)
    return render(request, "console/_broadcast_progress.html", _progress_context(request, broadcast))


@require_POST
@cadre_required
def broadcast_resume(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    broadcast = _broadcast(request, broadcast_id)
    return perform(
        request,
        lambda: actions.resume_broadcast(actor=cadre(request), broadcast=broadcast),
        _("已重新排队，将从中断处继续发送。"),
        resolve_url("console:broadcast_detail", broadcast.pk),
    )
