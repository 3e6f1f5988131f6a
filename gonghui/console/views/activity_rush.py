"""抢票 in the console: ticket types and stock (before the opening), live remaining and
granted counts, the grants list (masked names), and redeeming codes at the gate (核销).

Every view reads the activity through ``selectors.get_for_cadre`` (another subtree's
activity is the console's 404) and writes through ``activities.kinds.rush.actions``.
The organiser's export is the generic activity export (``RushKind.export``).
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gonghui.activities import registry
from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.rush import actions
from gonghui.activities.kinds.rush.models import Grant, GrantStatus, RushItem
from gonghui.activities.models import Activity, ActivityState
from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.pii import mask_name
from gonghui.coupons import actions as coupon_actions

PER_PAGE = 50
LIVE_SECONDS = 3
GRANT_TONES = {GrantStatus.GRANTED: "green", GrantStatus.REDEEMED: "blue", GrantStatus.CANCELLED: "grey"}
ITEM_ERROR_FIELDS = {
    "RUSH_ITEM_NAME": "name",
    "RUSH_ITEM_STOCK": "stock",
    "COUPON_TEMPLATE_OUTSIDE": "coupon_template",
    "COUPON_TEMPLATE_INACTIVE": "coupon_template",
    "RUSH_COUPON_STOCK": "coupon_template",
}


def _rush(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    activity = activity_selectors.get_for_cadre(cadre(request), activity_id, perm)
    if activity.kind != "rush":
        raise Http404
    return activity


class ItemForm(ConsoleForm):
    name = forms.CharField(label=_("票种名称"), max_length=80, help_text=_("如：平安返乡专列 G1234"))
    detail = forms.CharField(
        label=_("说明"), max_length=200, required=False, help_text=_("如：2027-01-28 广州南→长沙南")
    )
    stock = forms.IntegerField(label=_("投放数量"), min_value=1, max_value=10_000_000)
    coupon_template = forms.ChoiceField(
        label=_("抢的是券"),
        required=False,
        help_text=_("选择一种券：抢到即放入会员的券包，退票时券作废；只能选本级或上级工会启用中的券。"),
    )

    def __init__(self, *args: Any, activity: Activity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        templates = coupon_actions.usable_templates(activity.org_path).select_related("org").order_by("-created_at")
        cast(forms.ChoiceField, self.fields["coupon_template"]).choices = [("", _("（不是券）"))] + [
            (str(t.pk), f"{t.name}（{t.org.name}，剩 {t.remaining} 张）") for t in templates[:200]
        ]

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        template = data.pop("coupon_template", "")
        data["coupon_template_id"] = int(template) if template else None
        return data


class RedeemForm(ConsoleForm):
    code = forms.CharField(
        label=_("兑换码"), max_length=400, help_text=_("输入会员出示的兑换码，或用扫码枪扫描其二维码。")
    )


def manage_links(activity: Activity) -> list[tuple[str, str]]:
    return [
        (str(_("票种与库存")), reverse("console:activity_rush_items", args=[activity.pk])),
        (str(_("抢票名单")), reverse("console:activity_rush_grants", args=[activity.pk])),
        (str(_("核销兑换码")), reverse("console:activity_rush_redeem", args=[activity.pk])),
    ]


def results_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    results = registry.get("rush").results(activity, for_organiser=True)
    for row in results["items"]:
        row["taken_pct"] = round(100 * row["taken"] / row["stock"]) if row["stock"] else 0
    return {
        **results,
        "live": activity.state == ActivityState.OPEN,
        "live_url": reverse("console:activity_rush_live", args=[activity.pk]),
        "live_seconds": LIVE_SECONDS,
        "items_url": reverse("console:activity_rush_items", args=[activity.pk]),
        "grants_url": reverse("console:activity_rush_grants", args=[activity.pk]),
    }


@cadre_required
def live(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The results fragment again (htmx polls it while the rush is open)."""
    activity = _rush(request, activity_id)
    context = {"activity": activity, "results": results_context(request, activity)}
    return render(request, "console/activities/rush/results.html", context)


@cadre_required
def items(request: HttpRequest, activity_id: int) -> HttpResponse:
    """票种与库存: the list, and a form to add one before the rush opens."""
    activity = _rush(request, activity_id)
    user = cadre(request)
    can_manage = access.can(user, Perm.ACTIVITY_MANAGE, activity.org_path)
    editable = can_manage and activity.state in (ActivityState.DRAFT, ActivityState.PUBLISHED)
    form = ItemForm(request.POST or None, activity=activity)
    if request.method == "POST":
        if not editable:
            raise Http404
        if form.is_valid():
            try:
                item = actions.add_item(actor=user, activity=activity, **form.values())
            except DomainError as exc:
                add_domain_error(form, exc, ITEM_ERROR_FIELDS)
            else:
                messages.success(request, _("已添加票种：%(name)s") % {"name": item.name})
                return redirect("console:activity_rush_items", activity.pk)
    rows = list(RushItem.objects.filter(activity=activity).select_related("coupon_template"))
    context = {
        "activity": activity,
        "items": rows,
        "stock": sum(i.stock for i in rows),
        "form": form,
        "editable": editable,
    }
    return page(
        request, "console/activities/rush/items.html", context, section="activities", status=400 if form.errors else 200
    )


def _item(activity: Activity, item_id: int) -> RushItem:
    item = RushItem.objects.filter(pk=item_id, activity=activity).first()
    if item is None:
        raise Http404
    return item


@cadre_required
def item_edit(request: HttpRequest, activity_id: int, item_id: int) -> HttpResponse:
    activity = _rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    item = _item(activity, item_id)
    initial = {
        "name": item.name,
        "detail": item.detail,
        "stock": item.stock,
        "coupon_template": str(item.coupon_template_id or ""),
    }
    form = ItemForm(request.POST or None, initial=initial, activity=activity)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_item(actor=cadre(request), activity=activity, item=item, **form.values())
        except DomainError as exc:
            add_domain_error(form, exc, ITEM_ERROR_FIELDS)
        else:
            messages.success(request, _("已保存票种。"))
            return redirect("console:activity_rush_items", activity.pk)
    context = {"activity": activity, "item": item, "form": form}
    return page(
        request,
        "console/activities/rush/item_edit.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@require_POST
@cadre_required
def item_delete(request: HttpRequest, activity_id: int, item_id: int) -> HttpResponse:
    activity = _rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    item = _item(activity, item_id)
    return perform(
        request,
        lambda: actions.delete_item(actor=cadre(request), activity=activity, item=item),
        _("已删除票种：%(name)s") % {"name": item.name},
        resolve_url("console:activity_rush_items", activity.pk),
    )


@cadre_required
def grants(request: HttpRequest, activity_id: int) -> HttpResponse:
    """抢票名单: who holds which ticket (names masked), newest first, by status."""
    activity = _rush(request, activity_id)
    status = request.GET.get("status", "")
    qs = (
        Grant.objects.filter(activity=activity)
        .select_related("item", "member__org", "coupon")
        .order_by("-created_at", "-pk")
    )
    if status in GrantStatus.values:
        qs = qs.filter(status=status)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"grant": g, "name": mask_name(g.member.name), "tone": GRANT_TONES[GrantStatus(g.status)]} for g in page_obj
    ]
    context = {
        "activity": activity,
        "rows": rows,
        "page_obj": page_obj,
        "status": status,
        "statuses": GrantStatus.choices,
        "can_manage": access.can(cadre(request), Perm.ACTIVITY_MANAGE, activity.org_path),
    }
    return page(request, "console/activities/rush/grants.html", context, section="activities")


@cadre_required
def redeem(request: HttpRequest, activity_id: int) -> HttpResponse:
    """核销: a cadre at the gate types or scans a member's code; each code works once."""
    activity = _rush(request, activity_id, Perm.ACTIVITY_MANAGE)
    form = RedeemForm(request.POST or None)
    done: Grant | None = None
    if request.method == "POST" and form.is_valid():
        try:
            done = actions.redeem(actor=cadre(request), activity=activity, scanned=form.cleaned_data["code"])
        except DomainError as exc:
            add_domain_error(
                form, exc, {"RUSH_CODE_UNKNOWN": "code", "RUSH_CODE_INVALID": "code", "RUSH_REDEEM_COUPON": "code"}
            )
        else:
            form = RedeemForm()
    context = {
        "activity": activity,
        "form": form,
        "done": done,
        "done_name": mask_name(done.member.name) if done else "",
    }
    return page(
        request,
        "console/activities/rush/redeem.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


urlpatterns = [
    path("activities/<int:activity_id>/rush/items/", items, name="activity_rush_items"),
    path("activities/<int:activity_id>/rush/items/<int:item_id>/", item_edit, name="activity_rush_item_edit"),
    path(
        "activities/<int:activity_id>/rush/items/<int:item_id>/delete/", item_delete, name="activity_rush_item_delete"
    ),
    path("activities/<int:activity_id>/rush/grants/", grants, name="activity_rush_grants"),
    path("activities/<int:activity_id>/rush/redeem/", redeem, name="activity_rush_redeem"),
    path("activities/<int:activity_id>/rush/live/", live, name="activity_rush_live"),
]
