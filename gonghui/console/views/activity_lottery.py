"""抽奖 in the console: prizes (before the activity opens), the draw, winners and hand-over.

Every view reads the activity through ``selectors.get_for_cadre`` (another subtree's
activity is the console's 404) and writes through ``activities.kinds.lottery.actions``.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.lottery import actions, selectors
from gonghui.activities.kinds.lottery.models import Prize, Win, WinStatus
from gonghui.activities.models import Activity, ActivityState
from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.coupons import actions as coupon_actions

WIN_TONES = {
    WinStatus.WON: "amber",
    WinStatus.CLAIMED: "blue",
    WinStatus.HANDED_OVER: "green",
    WinStatus.EXPIRED: "grey",
    WinStatus.REDRAWN: "grey",
}


def _lottery(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    activity = activity_selectors.get_for_cadre(cadre(request), activity_id, perm)
    if activity.kind != "lottery":
        raise Http404
    return activity


def _detail(activity: Activity) -> str:
    return reverse("console:activity_detail", args=[activity.pk])


class PrizeForm(ConsoleForm):
    name = forms.CharField(label=_("奖品名称"), max_length=80)
    quantity = forms.IntegerField(label=_("数量"), min_value=1, max_value=actions.MAX_PRIZE_UNITS)
    order = forms.IntegerField(
        label=_("排序"), min_value=0, initial=0, required=False, help_text=_("数字小的先抽，一般一等奖在前。")
    )
    image = forms.ImageField(label=_("奖品图片"), required=False)
    claim_instructions = forms.CharField(
        label=_("领奖说明"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("领奖地点、时间、需携带的证件等，中奖会员可见。"),
    )
    coupon_template = forms.ChoiceField(
        label=_("奖品是券"),
        required=False,
        help_text=_("选择一种券，开奖时直接放入中奖会员的券包，无需领奖；只能选本级或上级工会启用中的券。"),
    )

    def __init__(self, *args: Any, activity: Activity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        templates = coupon_actions.usable_templates(activity.org_path).select_related("org").order_by("-created_at")
        cast(forms.ChoiceField, self.fields["coupon_template"]).choices = [("", _("（不是券，线下领奖）"))] + [
            (str(t.pk), f"{t.name}（{t.org.name}，剩 {t.remaining} 张）") for t in templates[:200]
        ]


class HandOverForm(ConsoleForm):
    claim_code = forms.CharField(label=_("领奖码"), max_length=16)


PRIZE_ERROR_FIELDS = {
    "LOTTERY_PRIZE_NAME": "name",
    "LOTTERY_PRIZE_QUANTITY": "quantity",
    "LOTTERY_PRIZE_NUMBER": "quantity",
    "LOTTERY_PRIZE_ORDER": "order",
    "COUPON_TEMPLATE_OUTSIDE": "coupon_template",
    "COUPON_TEMPLATE_INACTIVE": "coupon_template",
    "LOTTERY_COUPON_STOCK": "coupon_template",
}


def manage_links(activity: Activity) -> list[tuple[str, str]]:
    return [
        (str(_("奖品设置")), reverse("console:activity_lottery_prizes", args=[activity.pk])),
        (str(_("中奖名单与兑奖")), reverse("console:activity_lottery_winners", args=[activity.pk])),
        (str(_("公开开奖结果（会员端）")), reverse("portal:activity_lottery_results", args=[activity.pk])),
    ]


def results_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    record = selectors.draw_record(activity)
    drawn = bool(record and record.is_drawn)
    can_manage = access.can(cadre(request), Perm.ACTIVITY_MANAGE, activity.org_path)
    return {
        "prizes": selectors.prizes(activity),
        "entry_count": selectors.entry_count(activity),
        "record": record,
        "drawn": drawn,
        "can_draw": can_manage and activity.state == ActivityState.CLOSED and record is not None and not drawn,
        "claims": selectors.claim_counts(activity) if drawn else {},
        "winners": [{"win": w, "tone": WIN_TONES[WinStatus(w.status)]} for w in selectors.current_winners(activity)]
        if drawn
        else [],
        "winners_url": reverse("console:activity_lottery_winners", args=[activity.pk]),
        "prizes_url": reverse("console:activity_lottery_prizes", args=[activity.pk]),
    }


def _prize_values(form: forms.Form) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    data.pop("image", None)
    template = data.pop("coupon_template", "")
    data["coupon_template_id"] = int(template) if template else None
    return data


@cadre_required
def prizes(request: HttpRequest, activity_id: int) -> HttpResponse:
    """奖品设置: the list, and a form to add one while the activity has not opened."""
    activity = _lottery(request, activity_id)
    user = cadre(request)
    can_manage = access.can(user, Perm.ACTIVITY_MANAGE, activity.org_path)
    editable = can_manage and activity.state in (ActivityState.DRAFT, ActivityState.PUBLISHED)
    form = PrizeForm(request.POST or None, request.FILES or None, activity=activity)
    if request.method == "POST":
        if not editable:
            raise Http404
        if form.is_valid():
            try:
                prize = actions.add_prize(
                    actor=user, activity=activity, values=_prize_values(form), image=form.cleaned_data.get("image")
                )
            except DomainError as exc:
                add_domain_error(form, exc, PRIZE_ERROR_FIELDS)
            else:
                messages.success(request, _("已添加奖品：%(name)s") % {"name": prize.name})
                return redirect("console:activity_lottery_prizes", activity.pk)
    prize_list = selectors.prizes(activity)
    context = {
        "activity": activity,
        "prizes": prize_list,
        "slot_count": sum(p.quantity for p in prize_list),
        "form": form,
        "editable": editable,
        "record": selectors.draw_record(activity),
    }
    return page(
        request,
        "console/activities/lottery/prizes.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


def _prize(activity: Activity, prize_id: int) -> Prize:
    prize = Prize.objects.select_related("activity").filter(pk=prize_id, activity=activity).first()
    if prize is None:
        raise Http404
    return prize


@cadre_required
def prize_edit(request: HttpRequest, activity_id: int, prize_id: int) -> HttpResponse:
    activity = _lottery(request, activity_id, Perm.ACTIVITY_MANAGE)
    prize = _prize(activity, prize_id)
    initial = {
        "name": prize.name,
        "quantity": prize.quantity,
        "order": prize.order,
        "claim_instructions": prize.claim_instructions,
        "coupon_template": str(prize.coupon_template_id or ""),
    }
    form = PrizeForm(request.POST or None, request.FILES or None, initial=initial, activity=activity)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_prize(
                actor=cadre(request), prize=prize, values=_prize_values(form), image=form.cleaned_data.get("image")
            )
        except DomainError as exc:
            add_domain_error(form, exc, PRIZE_ERROR_FIELDS)
        else:
            messages.success(request, _("已保存奖品。"))
            return redirect("console:activity_lottery_prizes", activity.pk)
    context = {"activity": activity, "prize": prize, "form": form}
    return page(
        request,
        "console/activities/lottery/prize_edit.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@require_POST
@cadre_required
def prize_delete(request: HttpRequest, activity_id: int, prize_id: int) -> HttpResponse:
    activity = _lottery(request, activity_id, Perm.ACTIVITY_MANAGE)
    prize = _prize(activity, prize_id)
    return perform(
        request,
        lambda: actions.delete_prize(actor=cadre(request), prize=prize),
        _("已删除奖品：%(name)s") % {"name": prize.name},
        resolve_url("console:activity_lottery_prizes", activity.pk),
    )


@require_POST
@cadre_required
def draw(request: HttpRequest, activity_id: int) -> HttpResponse:
    """开奖: reveal the seed and draw (after the activity has closed)."""
    activity = _lottery(request, activity_id, Perm.ACTIVITY_MANAGE)
    try:
        wins = actions.run_draw(actor=cadre(request), activity=activity)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已开奖，抽出 %(n)s 名中奖者，已通知中奖会员。") % {"n": len(wins)})
    return redirect(_detail(activity))


@cadre_required
def winners(request: HttpRequest, activity_id: int) -> HttpResponse:
    """中奖名单与兑奖: every round's winners with their claim state; hand over by claim code."""
    activity = _lottery(request, activity_id)
    user = cadre(request)
    can_manage = access.can(user, Perm.ACTIVITY_MANAGE, activity.org_path)
    form = HandOverForm(request.POST or None)
    found: Win | None = None
    if request.method == "POST":
        if not can_manage:
            raise Http404
        if form.is_valid():
            try:
                found = actions.find_claim(activity, form.cleaned_data["claim_code"])
                actions.hand_over(actor=user, win=found, claim_code=form.cleaned_data["claim_code"])
            except DomainError as exc:
                add_domain_error(form, exc, {"LOTTERY_CLAIM_CODE": "claim_code"})
            else:
                messages.success(
                    request,
                    _("已兑奖：%(name)s 的 %(prize)s") % {"name": found.entry.member.name, "prize": found.prize.name},
                )
                return redirect("console:activity_lottery_winners", activity.pk)
    record = selectors.draw_record(activity)
    rows = [
        {
            "win": w,
            "tone": WIN_TONES[WinStatus(w.status)],
            "can_hand_over": can_manage and w.status == WinStatus.CLAIMED and w.coupon_id is None,
        }
        for w in selectors.all_wins(activity)
    ]
    context = {
        "activity": activity,
        "record": record,
        "rows": rows,
        "claims": selectors.claim_counts(activity),
        "entry_count": selectors.entry_count(activity),
        "form": form,
        "can_manage": can_manage,
    }
    return page(
        request,
        "console/activities/lottery/winners.html",
        context,
        section="activities",
        status=400 if form.errors else 200,
    )


@require_POST
@cadre_required
def hand_over(request: HttpRequest, activity_id: int, win_id: int) -> HttpResponse:
    activity = _lottery(request, activity_id, Perm.ACTIVITY_MANAGE)
    win = Win.objects.select_related("entry__member", "prize").filter(pk=win_id, activity=activity).first()
    if win is None:
        raise Http404
    try:
        actions.hand_over(actor=cadre(request), win=win)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("已兑奖：%(name)s 的 %(prize)s") % {"name": win.entry.member.name, "prize": win.prize.name}
        )
    return redirect("console:activity_lottery_winners", activity.pk)


urlpatterns = [
    path("activities/<int:activity_id>/lottery/prizes/", prizes, name="activity_lottery_prizes"),
    path("activities/<int:activity_id>/lottery/prizes/<int:prize_id>/", prize_edit, name="activity_lottery_prize_edit"),
    path(
        "activities/<int:activity_id>/lottery/prizes/<int:prize_id>/delete/",
        prize_delete,
        name="activity_lottery_prize_delete",
    ),
    path("activities/<int:activity_id>/lottery/draw/", draw, name="activity_lottery_draw"),
    path("activities/<int:activity_id>/lottery/winners/", winners, name="activity_lottery_winners"),
    path(
        "activities/<int:activity_id>/lottery/wins/<int:win_id>/hand-over/",
        hand_over,
        name="activity_lottery_hand_over",
    ),
]
