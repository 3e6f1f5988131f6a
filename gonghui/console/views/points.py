"""积分管理: the earning rules of a union, a member's points, cadre grants and
deductions, and the points report of the cadre's subtree.

- Rules: what each way of earning pays members of a union now — its own version or one
  inherited from a union above (named) — every version the union has set, and a form to
  add a version effective now or from a later date (versions are never edited).
- A member's points: balance, soon-expiring points and every entry; a grant or deduction
  with a reason. The form carries a nonce made when the page was drawn; the ledger key is
  built from it, so a double submit (or a reload of the POST) pays once.
- Report: points issued, spent and expired per month in the subtree (ECharts).

Reads are scoped through ``core.access`` (``Perm.POINTS_VIEW``); writes need
``Perm.POINTS_MANAGE`` over the union or member; outside the subtree everything is 404.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.orgs.models import Org, OrgStatus
from gonghui.points import ledger, rules, statement
from gonghui.points.models import EarningRule, RuleKind

PER_PAGE = 30
PICKER_DEPTH = 2
PICKER_LIMIT = 300
DATETIME_INPUT = "%Y-%m-%dT%H:%M"
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

RULE_ERROR_FIELDS = {"POINTS_RULE_PAST": "effective_from", "POINTS_RULE_KIND": "kind"}
ADJUST_ERROR_FIELDS = {"POINTS_REASON_REQUIRED": "reason", "POINTS_AMOUNT": "amount", "POINTS_INSUFFICIENT": "amount"}


def _orgs(user: Any, perm: Perm) -> list[Org]:
    roots = [g for g in access.grants(user) if g.allows(perm)]
    if not roots:
        return []
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), perm)
    deepest = max(len(g.path) // Org.steplen for g in roots) + PICKER_DEPTH
    return list(qs.filter(depth__lte=deepest).order_by("path")[:PICKER_LIMIT])


def _org_choices(orgs: list[Org]) -> list[tuple[str, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs]


def _chosen_org(request: HttpRequest, orgs: list[Org], perm: Perm) -> Org | None:
    """The union named by ``?org=`` (inside the scope: else 404), or the cadre's first."""
    raw = request.GET.get("org")
    if raw:
        org: Org = access.get_object_or_404(cadre(request), Org.objects.all(), perm, pk=raw)
        return org
    return orgs[0] if orgs else None


# --- earning rules ------------------------------------------------------------------------


class RuleForm(ConsoleForm):
    kind = forms.ChoiceField(label=gettext_lazy("规则"), choices=RuleKind.choices)
    points = forms.IntegerField(label=gettext_lazy("每次积分"), min_value=0, max_value=1_000_000, required=False)
    daily_cap = forms.IntegerField(label=gettext_lazy("每日上限"), min_value=0, max_value=1_000_000, required=False)
    monthly_cap = forms.IntegerField(label=gettext_lazy("每月上限"), min_value=0, max_value=1_000_000, required=False)
    streak_days = forms.IntegerField(
        label=gettext_lazy("连续签到天数"), min_value=0, max_value=366, required=False, help_text=gettext_lazy("仅签到")
    )
    streak_bonus = forms.IntegerField(
        label=gettext_lazy("连续签到奖励"), min_value=0, max_value=1_000_000, required=False
    )
    min_read_seconds = forms.IntegerField(
        label=gettext_lazy("最短阅读秒数"),
        min_value=0,
        max_value=3600,
        required=False,
        help_text=gettext_lazy("仅阅读资讯"),
    )
    effective_from = forms.DateTimeField(
        label=gettext_lazy("生效时间"),
        required=False,
        input_formats=[DATETIME_INPUT, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
        help_text=gettext_lazy("留空即现在生效；只能是现在或将来，已发放的积分不受影响。"),
    )


def _rule_rows(org: Org) -> list[dict[str, Any]]:
    in_effect = rules.rules_in_effect(org)
    ids = [r.pk for r in in_effect.values() if r is not None]
    by_id = {r.pk: r for r in EarningRule.objects.filter(pk__in=ids).select_related("org")}
    rows = []
    for kind, label in RuleKind.choices:
        rule = in_effect.get(kind)
        rule = by_id.get(rule.pk) if rule is not None else None
        rows.append(
            {
                "kind": kind,
                "label": label,
                "rule": rule,
                "own": rule is not None and rule.org_id == org.pk,
                "source": rule.org.name if rule is not None else "",
            }
        )
    return rows


@cadre_required
def rules_page(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = _orgs(user, Perm.POINTS_VIEW)
    org = _chosen_org(request, orgs, Perm.POINTS_VIEW)
    if org is None:
        raise Http404
    return _rules_response(request, org, orgs, RuleForm(initial={"kind": request.GET.get("kind") or RuleKind.SIGNIN}))


def _rules_response(request: HttpRequest, org: Org, orgs: list[Org], form: RuleForm, status: int = 200) -> HttpResponse:
    user = cadre(request)
    now = timezone.now()
    history = [{"rule": r, "pending": r.effective_from > now} for r in rules.history(org)]
    context = {
        "org": org,
        "org_choices": _org_choices(orgs if org in orgs else [org, *orgs]),
        "rows": _rule_rows(org),
        "history": history,
        "form": form,
        "can_manage": access.can(user, Perm.POINTS_MANAGE, org.path),
    }
    return page(request, "console/points/rules.html", context, section="points_rules", status=status)


@require_POST
@cadre_required
def rule_add(request: HttpRequest, org_id: int) -> HttpResponse:
    user = cadre(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.POINTS_MANAGE, pk=org_id)
    form = RuleForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        values = {name: data.get(name) for name in rules.RULE_FIELDS}
        effective: datetime | None = data.get("effective_from")
        try:
            rule = rules.set_rule(actor=user, org=org, kind=data["kind"], values=values, effective_from=effective)
        except DomainError as exc:
            add_domain_error(form, exc, RULE_ERROR_FIELDS)
        else:
            when = timezone.localtime(rule.effective_from).strftime("%Y-%m-%d %H:%M")
            messages.success(
                request,
                _("已为%(org)s新增“%(kind)s”规则版本，%(when)s 起生效。")
                % {"org": org.name, "kind": rule.get_kind_display(), "when": when},
            )
            return redirect(f"{reverse('console:points_rules')}?org={org.pk}")
    return _rules_response(request, org, _orgs(user, Perm.POINTS_VIEW), form, status=400)


# --- a member's points --------------------------------------------------------------------


class AdjustForm(ConsoleForm):
    direction = forms.ChoiceField(
        label=gettext_lazy("操作"),
        choices=[("grant", gettext_lazy("发放（增加积分）")), ("deduct", gettext_lazy("扣减（减少积分）"))],
        widget=forms.RadioSelect,
    )
    amount = forms.IntegerField(label=gettext_lazy("积分数"), min_value=1, max_value=1_000_000)
    reason = forms.CharField(
        label=gettext_lazy("原因"), max_length=200, help_text=gettext_lazy("会员在积分明细中能看到。")
    )
    nonce = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def clean_nonce(self) -> str:
        value = str(self.cleaned_data["nonce"])
        if not NONCE.match(value):
            raise forms.ValidationError(_("表单已失效，请刷新页面后重试。"))
        return value


def _member(request: HttpRequest, member_id: int) -> Member:
    member: Member = access.get_object_or_404(
        cadre(request), Member.objects.select_related("org"), Perm.POINTS_VIEW, pk=member_id
    )
    return member


def _member_points_response(
    request: HttpRequest, member: Member, form: AdjustForm | None = None, status: int = 200
) -> HttpResponse:
    user = cadre(request)
    page_obj = Paginator(statement.entries_of(member).select_related("actor"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "member": member,
        "summary": statement.summary(member),
        "page_obj": page_obj,
        "params": {},
        "form": form or AdjustForm(initial={"direction": "grant", "nonce": secrets.token_urlsafe(24)}),
        "can_manage": access.can(user, Perm.POINTS_MANAGE, member.org_path),
        "expiring_days": statement.EXPIRING_DAYS,
    }
    return page(request, "console/points/member.html", context, section="members", status=status)


@cadre_required
def member_points(request: HttpRequest, member_id: int) -> HttpResponse:
    return _member_points_response(request, _member(request, member_id))


@require_POST
@cadre_required
def member_points_adjust(request: HttpRequest, member_id: int) -> HttpResponse:
    user = cadre(request)
    member = _member(request, member_id)
    access.require(user, Perm.POINTS_MANAGE, member.org_path)
    form = AdjustForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        amount = data["amount"] if data["direction"] == "grant" else -data["amount"]
        try:
            movement = ledger.adjust(
                actor=user,
                member=member,
                amount=amount,
                reason=data["reason"],
                key=f"console:{user.pk}:{data['nonce']}",
            )
        except DomainError as exc:
            add_domain_error(form, exc, ADJUST_ERROR_FIELDS)
        else:
            if movement.replayed:
                messages.info(request, _("这笔调整已经处理过了（重复提交不会重复发放）。"))
            elif amount > 0:
                messages.success(request, _("已为%(name)s发放 %(n)s 积分。") % {"name": member.name, "n": amount})
            else:
                messages.success(request, _("已扣减%(name)s %(n)s 积分。") % {"name": member.name, "n": -amount})
            return redirect("console:member_points", member.pk)
    return _member_points_response(request, member, form, status=400)


# --- report -------------------------------------------------------------------------------


@cadre_required
def points_report(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = _orgs(user, Perm.POINTS_VIEW)
    if not orgs:
        raise Http404
    org: Org | None = None
    if request.GET.get("org"):
        org = _chosen_org(request, orgs, Perm.POINTS_VIEW)
    paths = [org.path] if org is not None else access.scope_paths(user, Perm.POINTS_VIEW)
    months = statement.monthly_report(paths)
    accounts = statement.scoped_accounts(user)
    if org is not None:
        accounts = accounts.filter(org_path__startswith=org.path)
    totals = accounts.aggregate(n=Count("id"), balance=Sum("balance"), earned=Sum("earned_total"))
    context = {
        "org": org,
        "org_choices": _org_choices(orgs),
        "months": months,
        "sums": {
            "issued": sum(m.issued for m in months),
            "spent": sum(m.spent for m in months),
            "expired": sum(m.expired for m in months),
        },
        "totals": {k: int(v or 0) for k, v in totals.items()},
        "chart": {
            "months": [m.month for m in months],
            "issued": [m.issued for m in months],
            "spent": [m.spent for m in months],
            "expired": [m.expired for m in months],
            "labels": {"issued": _("发放"), "spent": _("消费"), "expired": _("过期")},
        },
    }
    return page(request, "console/points/report.html", context, section="points_report")
