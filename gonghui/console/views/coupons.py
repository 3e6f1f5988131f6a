"""券与商户: coupon templates and stock, issuing (one member or a filtered subtree, with
progress), merchants and their cashier accounts, and reports with charts.

Every read goes through ``core.access`` (``coupon.view``); every write is a
``coupons.actions`` call, which checks ``coupon.manage`` over the object's union and
raises 404 outside it, as everywhere in the console.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.coupons import actions, selectors
from gonghui.coupons.models import (
    BulkIssue,
    Coupon,
    CouponCategory,
    CouponTemplate,
    Merchant,
    MerchantKind,
    MerchantStatus,
    MerchantUser,
    TemplateStatus,
    ValidityKind,
)
from gonghui.members.models import EmploymentStatus, Member, MemberStatus, NewEmploymentGroup, VerificationStatus
from gonghui.members.selectors import search_members
from gonghui.orgs.models import Org, OrgStatus

PICKER_DEPTH = 2
PICKER_LIMIT = 300
PER_PAGE = 30

TEMPLATE_ERROR_FIELDS = {
    "COUPON_NAME_REQUIRED": "name",
    "COUPON_VALUE_REQUIRED": "benefit",
    "COUPON_BAD_VALUE": "face_value",
    "COUPON_BAD_LIMIT": "per_member_limit",
    "COUPON_BAD_VALIDITY": "valid_until",
    "COUPON_BAD_QUANTITY": "quantity",
    "COUPON_MERCHANT_OUTSIDE": "merchants",
}


def manage_orgs(user: Any) -> list[Org]:
    """Active unions where the cadre may manage coupons: their own and two levels below."""
    roots = [g for g in access.grants(user) if g.allows(Perm.COUPON_MANAGE)]
    if not roots:
        return []
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), Perm.COUPON_MANAGE)
    deepest = max(len(g.path) // Org.steplen for g in roots) + PICKER_DEPTH
    return list(qs.filter(depth__lte=deepest).order_by("path")[:PICKER_LIMIT])


def _org_choices(orgs: list[Org]) -> list[tuple[str, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs]


def _checkboxes(choices: Any, label: Any, required: bool = False) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=choices,
        required=required,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox"}),
    )


def _manageable_merchants(user: Any) -> list[Merchant]:
    """Merchants a template of the cadre's unions may name: in their subtrees or above them."""
    paths = access.scope_paths(user, Perm.COUPON_MANAGE)
    found: dict[int, Merchant] = {}
    for path in paths:
        for merchant in actions.merchants_for(path).select_related("org").order_by("name")[:PICKER_LIMIT]:
            found[merchant.pk] = merchant
    return sorted(found.values(), key=lambda m: (m.name, m.pk))


# --- templates -------------------------------------------------------------------------------


class TemplateForm(ConsoleForm):
    org = forms.ChoiceField(label=gettext_lazy("发券工会"))
    name = forms.CharField(label=gettext_lazy("券名称"), max_length=100)
    category = forms.ChoiceField(label=gettext_lazy("类别"), choices=CouponCategory.choices)
    face_value = forms.DecimalField(
        label=gettext_lazy("面值（元）"),
        required=False,
        min_value=Decimal(0),
        max_digits=9,
        decimal_places=2,
        help_text=gettext_lazy("不填则以权益说明为准（如客房一晚）。"),
    )
    benefit = forms.CharField(label=gettext_lazy("权益说明"), max_length=200, required=False)
    terms = forms.CharField(
        label=gettext_lazy("使用须知"), required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=4000
    )
    validity_kind = forms.ChoiceField(label=gettext_lazy("有效期方式"), choices=ValidityKind.choices)
    valid_from = forms.DateTimeField(
        label=gettext_lazy("生效时间"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    valid_until = forms.DateTimeField(
        label=gettext_lazy("失效时间"), required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    valid_days = forms.IntegerField(label=gettext_lazy("领取后有效天数"), required=False, min_value=1, max_value=3650)
    quantity = forms.IntegerField(label=gettext_lazy("发行总量（张）"), min_value=1, max_value=10_000_000)
    per_member_limit = forms.IntegerField(label=gettext_lazy("每人限领（张）"), min_value=1, max_value=100, initial=1)
    verified_only = forms.BooleanField(label=gettext_lazy("仅限实名认证会员"), required=False, initial=True)
    status = forms.ChoiceField(
        label=gettext_lazy("状态"), choices=TemplateStatus.choices, initial=TemplateStatus.ACTIVE
    )
    merchants = forms.MultipleChoiceField(
        label=gettext_lazy("适用商户"), required=False, widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox"})
    )

    def __init__(self, *args: Any, orgs: list[Org], merchants: list[Merchant], editing: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org"].choices = _org_choices(orgs)  # type: ignore[attr-defined]
        self.fields["merchants"].choices = [  # type: ignore[attr-defined]
            (str(m.pk), f"{m.name}（{m.get_kind_display()} · {m.org.name}）") for m in merchants
        ]
        if editing:
            del self.fields["org"]
            del self.fields["quantity"]
        else:
            del self.fields["status"]

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        fen = int(data["face_value"] * 100) if data.get("face_value") is not None else None
        values = {
            "name": data["name"],
            "category": data["category"],
            "face_value_fen": fen,
            "benefit": data.get("benefit") or "",
            "terms": data.get("terms") or "",
            "validity_kind": data["validity_kind"],
            "valid_from": data.get("valid_from"),
            "valid_until": data.get("valid_until"),
            "valid_days": data.get("valid_days"),
            "per_member_limit": data["per_member_limit"],
            "verified_only": data["verified_only"],
        }
        if "status" in data:
            values["status"] = data["status"]
        return values

    def merchant_ids(self) -> list[int]:
        return [int(i) for i in self.cleaned_data.get("merchants") or []]


def _template(request: HttpRequest, template_id: int) -> CouponTemplate:
    qs = CouponTemplate.objects.select_related("org", "created_by")
    return access.get_object_or_404(cadre(request), qs, Perm.COUPON_VIEW, pk=template_id)


@cadre_required
def template_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    qs = selectors.templates_for(user)
    q = request.GET.get("q", "").strip()[:50]
    if q:
        qs = qs.filter(name__contains=q)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    rows = selectors.template_report(
        CouponTemplate.objects.filter(pk__in=[t.pk for t in page_obj]).select_related("org")
    )
    rows.sort(key=lambda r: [t.pk for t in page_obj].index(r.template.pk))
    context = {
        "page_obj": page_obj,
        "rows": rows,
        "q": q,
        "can_manage": access.can_anywhere(user, Perm.COUPON_MANAGE),
    }
    return page(request, "console/coupons/list.html", context, section="coupons")


@cadre_required
def template_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = manage_orgs(user)
    if not orgs:
        return page(request, "console/404.html", {}, status=404)
    now = timezone.localtime().replace(second=0, microsecond=0)
    initial = {
        "org": str(orgs[0].pk),
        "validity_kind": ValidityKind.FIXED,
        "valid_from": now,
        "valid_until": now + timedelta(days=90),
        "per_member_limit": 1,
        "verified_only": True,
    }
    form = TemplateForm(
        request.POST or None, orgs=orgs, merchants=_manageable_merchants(user), editing=False, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        org = access.get_object_or_404(user, Org.objects.all(), Perm.COUPON_MANAGE, pk=form.cleaned_data["org"])
        try:
            template = actions.create_template(
                actor=user,
                org=org,
                values=form.values(),
                merchant_ids=form.merchant_ids(),
                quantity=form.cleaned_data["quantity"],
            )
        except DomainError as exc:
            add_domain_error(form, exc, TEMPLATE_ERROR_FIELDS)
        else:
            messages.success(request, _("券模板已创建。"))
            return redirect("console:coupon_template", template.pk)
    context = {"form": form, "editing": False}
    return page(request, "console/coupons/form.html", context, section="coupons", status=400 if form.errors else 200)


@cadre_required
def template_edit(request: HttpRequest, template_id: int) -> HttpResponse:
    user = cadre(request)
    template = _template(request, template_id)
    access.require(user, Perm.COUPON_MANAGE, template.org_path)
    initial = {
        "name": template.name,
        "category": template.category,
        "face_value": Decimal(template.face_value_fen) / 100 if template.face_value_fen is not None else None,
        "benefit": template.benefit,
        "terms": template.terms,
        "validity_kind": template.validity_kind,
        "valid_from": timezone.localtime(template.valid_from) if template.valid_from else None,
        "valid_until": timezone.localtime(template.valid_until) if template.valid_until else None,
        "valid_days": template.valid_days,
        "per_member_limit": template.per_member_limit,
        "verified_only": template.verified_only,
        "status": template.status,
        "merchants": [str(pk) for pk in template.merchants.values_list("pk", flat=True)],
    }
    merchants = _manageable_merchants(user)
    known = {m.pk for m in merchants}
    merchants += [m for m in template.merchants.select_related("org") if m.pk not in known]
    form = TemplateForm(request.POST or None, orgs=[], merchants=merchants, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_template(
                actor=user, template=template, values=form.values(), merchant_ids=form.merchant_ids()
            )
        except DomainError as exc:
            add_domain_error(form, exc, TEMPLATE_ERROR_FIELDS)
        else:
            messages.success(request, _("券模板已保存。"))
            return redirect("console:coupon_template", template.pk)
    context = {"form": form, "editing": True, "template": template}
    return page(request, "console/coupons/form.html", context, section="coupons", status=400 if form.errors else 200)


@cadre_required
def template_detail(request: HttpRequest, template_id: int) -> HttpResponse:
    user = cadre(request)
    template = _template(request, template_id)
    report = selectors.template_report(CouponTemplate.objects.filter(pk=template.pk))[0]
    recent = list(
        Coupon.objects.filter(template=template)
        .select_related("member", "redeemed_by_merchant")
        .order_by("-issued_at", "-pk")[:20]
    )
    context = {
        "template": template,
        "report": report,
        "merchants": list(template.merchants.select_related("org").order_by("name")),
        "recent": recent,
        "jobs": list(BulkIssue.objects.filter(template=template).order_by("-created_at")[:10]),
        "can_manage": access.can(user, Perm.COUPON_MANAGE, template.org_path),
        "issue_key": uuid.uuid4().hex,
        "chart": {
            "labels": [_("未使用"), _("已核销"), _("已过期"), _("已作废")],
            "values": [report.unused, report.redeemed, report.expired, report.revoked],
        },
    }
    return page(request, "console/coupons/detail.html", context, section="coupons")


@require_POST
@cadre_required
def template_stock(request: HttpRequest, template_id: int) -> HttpResponse:
    template = _template(request, template_id)
    try:
        quantity = int(request.POST.get("quantity", ""))
        actions.set_quantity(actor=cadre(request), template=template, quantity=quantity)
    except ValueError:
        messages.error(request, _("请填写整数张数。"))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("发行总量已改为 %(n)s 张。") % {"n": f"{quantity:,}"})
    return redirect("console:coupon_template", template.pk)


@require_POST
@cadre_required
def template_issue(request: HttpRequest, template_id: int) -> HttpResponse:
    """发给一名会员: found by mobile, ID number or name inside the template's union."""
    user = cadre(request)
    template = _template(request, template_id)
    access.require(user, Perm.COUPON_MANAGE, template.org_path)
    q = request.POST.get("member", "").strip()[:40]
    candidates = search_members(
        access.scope(user, Member.objects.filter(org_path__startswith=template.org_path), Perm.COUPON_MANAGE), q
    )
    found = list(candidates[:2]) if q else []
    if len(found) != 1:
        messages.error(
            request,
            _("没有找到该会员，请输入手机号、身份证号或完整姓名。")
            if not found
            else _("匹配到多名会员，请改用手机号或身份证号。"),
        )
        return redirect("console:coupon_template", template.pk)
    form_key = (request.POST.get("key") or uuid.uuid4().hex)[:40]
    try:
        result = actions.grant(actor=user, template=template, member=found[0], key=f"console:{user.pk}:{form_key}")
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("已发给 %(name)s，券码 %(code)s。") % {"name": found[0].name, "code": result.coupon.display_code},
        )
    return redirect("console:coupon_template", template.pk)


# --- bulk issue ------------------------------------------------------------------------------


class BulkForm(ConsoleForm):
    org = forms.ChoiceField(label=gettext_lazy("发放范围（该工会及其全部下级）"))
    status = _checkboxes(
        [(MemberStatus.ACTIVE, MemberStatus.ACTIVE.label), (MemberStatus.RETAINED, MemberStatus.RETAINED.label)],
        gettext_lazy("会籍状态"),
    )
    verification_status = _checkboxes(VerificationStatus.choices, gettext_lazy("实名状态"))
    employment_status = _checkboxes(EmploymentStatus.choices, gettext_lazy("就业状态"))
    new_employment_group = _checkboxes(NewEmploymentGroup.choices, gettext_lazy("新就业形态群体"))

    def __init__(self, *args: Any, orgs: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org"].choices = _org_choices(orgs)  # type: ignore[attr-defined]

    def filters(self) -> dict[str, list[str]]:
        keys = ("status", "verification_status", "employment_status", "new_employment_group")
        return {k: list(self.cleaned_data.get(k) or []) for k in keys if self.cleaned_data.get(k)}


@cadre_required
def bulk_new(request: HttpRequest, template_id: int) -> HttpResponse:
    user = cadre(request)
    template = _template(request, template_id)
    access.require(user, Perm.COUPON_MANAGE, template.org_path)
    orgs = [o for o in manage_orgs(user) if o.path.startswith(template.org_path)] or [template.org]
    form = BulkForm(request.POST or None, orgs=orgs, initial={"org": str(orgs[0].pk)})
    if request.method == "POST" and form.is_valid():
        org = access.get_object_or_404(user, Org.objects.all(), Perm.COUPON_MANAGE, pk=form.cleaned_data["org"])
        try:
            job = actions.start_bulk_issue(actor=user, template=template, org=org, filters=form.filters())
        except DomainError as exc:
            add_domain_error(form, exc, {"COUPON_AUDIENCE_OUTSIDE": "org"})
        else:
            messages.success(request, _("已开始发放，共 %(n)s 名会员。") % {"n": f"{job.total:,}"})
            return redirect("console:coupon_bulk", job.pk)
    context = {"form": form, "template": template}
    return page(
        request, "console/coupons/bulk_form.html", context, section="coupons", status=400 if form.errors else 200
    )


def _job(request: HttpRequest, job_id: int) -> BulkIssue:
    qs = BulkIssue.objects.select_related("template", "org", "created_by")
    return access.get_object_or_404(cadre(request), qs, Perm.COUPON_VIEW, pk=job_id)


def _job_context(request: HttpRequest, job: BulkIssue) -> dict[str, Any]:
    labels = {
        "COUPON_VERIFIED_ONLY": _("未实名认证"),
        "COUPON_LIMIT_REACHED": _("已达每人限领"),
        "COUPON_MEMBER_INELIGIBLE": _("已退会"),
        "COUPON_ALREADY_ISSUED": _("本批已发过"),
        "COUPON_TEMPLATE_INACTIVE": _("券已暂停发放"),
        "COUPON_TEMPLATE_ENDED": _("券有效期已过"),
    }
    reasons = [(labels.get(code, code), n) for code, n in sorted(job.skip_reasons.items())]
    return {
        "job": job,
        "reasons": reasons,
        "stale": actions.is_stale(job) and access.can(cadre(request), Perm.COUPON_MANAGE, job.org_path),
    }


@cadre_required
def bulk_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return page(request, "console/coupons/bulk_detail.html", _job_context(request, job), section="coupons")


@cadre_required
def bulk_progress(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return render(request, "console/coupons/_bulk_progress.html", _job_context(request, job))


@require_POST
@cadre_required
def bulk_resume(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job(request, job_id)
    return perform(
        request,
        lambda: actions.resume_bulk_issue(actor=cadre(request), job=job),
        _("已重新排队，将从中断处继续发放。"),
        resolve_url("console:coupon_bulk", job.pk),
    )


# --- merchants -------------------------------------------------------------------------------


class MerchantForm(ConsoleForm):
    org = forms.ChoiceField(label=gettext_lazy("签约工会"))
    name = forms.CharField(label=gettext_lazy("商户名称"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=MerchantKind.choices)
    address = forms.CharField(label=gettext_lazy("地址"), max_length=200, required=False)
    contact = forms.CharField(label=gettext_lazy("联系人及电话"), max_length=100, required=False)
    status = forms.ChoiceField(label=gettext_lazy("状态"), choices=MerchantStatus.choices)

    def __init__(self, *args: Any, orgs: list[Org] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if orgs is None:
            del self.fields["org"]
        else:
            self.fields["org"].choices = _org_choices(orgs)  # type: ignore[attr-defined]
            del self.fields["status"]

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "org"}


def _merchant(request: HttpRequest, merchant_id: int) -> Merchant:
    return access.get_object_or_404(
        cadre(request), Merchant.objects.select_related("org"), Perm.COUPON_VIEW, pk=merchant_id
    )


@cadre_required
def merchant_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    qs = selectors.merchants_visible(user).order_by("name", "pk")
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    rows = selectors.merchant_report(Merchant.objects.filter(pk__in=[m.pk for m in page_obj]).select_related("org"))
    context = {"page_obj": page_obj, "rows": rows, "can_manage": access.can_anywhere(user, Perm.COUPON_MANAGE)}
    return page(request, "console/coupons/merchants.html", context, section="coupons")


@cadre_required
def merchant_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = manage_orgs(user)
    if not orgs:
        return page(request, "console/404.html", {}, status=404)
    form = MerchantForm(request.POST or None, orgs=orgs, initial={"org": str(orgs[0].pk)})
    if request.method == "POST" and form.is_valid():
        org = access.get_object_or_404(user, Org.objects.all(), Perm.COUPON_MANAGE, pk=form.cleaned_data["org"])
        try:
            merchant = actions.create_merchant(actor=user, org=org, values=form.values())
        except DomainError as exc:
            add_domain_error(form, exc, {"MERCHANT_NAME_REQUIRED": "name"})
        else:
            messages.success(request, _("商户已添加，请为其开通核销账号。"))
            return redirect("console:coupon_merchant", merchant.pk)
    return page(request, "console/coupons/merchant_form.html", {"form": form}, section="coupons")


@cadre_required
def merchant_detail(request: HttpRequest, merchant_id: int) -> HttpResponse:
    user = cadre(request)
    merchant = _merchant(request, merchant_id)
    can_manage = access.can(user, Perm.COUPON_MANAGE, merchant.org_path)
    initial = {f: getattr(merchant, f) for f in ("name", "kind", "address", "contact", "status")}
    form = MerchantForm(request.POST or None, orgs=None, initial=initial)
    if request.method == "POST":
        access.require(user, Perm.COUPON_MANAGE, merchant.org_path)
        if form.is_valid():
            try:
                actions.update_merchant(actor=user, merchant=merchant, values=form.values())
            except DomainError as exc:
                add_domain_error(form, exc, {"MERCHANT_NAME_REQUIRED": "name"})
            else:
                messages.success(request, _("商户信息已保存。"))
                return redirect("console:coupon_merchant", merchant.pk)
    report = selectors.merchant_report(Merchant.objects.filter(pk=merchant.pk))[0]
    context = {
        "merchant": merchant,
        "form": form,
        "can_manage": can_manage,
        "report": report,
        "accounts": list(merchant.users.select_related("user").filter(is_active=True).order_by("created_at")),
        "redemptions": list(selectors.merchant_redemptions(merchant)[:20]),
        "templates": list(merchant.templates.select_related("org").order_by("-created_at")[:20]),
    }
    return page(request, "console/coupons/merchant_detail.html", context, section="coupons")


@require_POST
@cadre_required
def merchant_user_add(request: HttpRequest, merchant_id: int) -> HttpResponse:
    merchant = _merchant(request, merchant_id)
    try:
        link = actions.add_merchant_user(
            actor=cadre(request),
            merchant=merchant,
            mobile=request.POST.get("mobile", ""),
            name=request.POST.get("name", ""),
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, _("已开通核销账号 %(m)s：用该手机号以短信验证码登录会员门户即可核销。") % {"m": link.user.mobile}
        )
    return redirect("console:coupon_merchant", merchant.pk)


@require_POST
@cadre_required
def merchant_user_remove(request: HttpRequest, link_id: int) -> HttpResponse:
    user = cadre(request)
    qs = MerchantUser.objects.select_related("merchant")
    link = access.get_object_or_404(user, qs, Perm.COUPON_VIEW, path_field="merchant__org_path", pk=link_id)
    actions.remove_merchant_user(actor=user, link=link)
    messages.success(request, _("已停用该核销账号。"))
    return redirect("console:coupon_merchant", link.merchant_id)


# --- reports ---------------------------------------------------------------------------------


@cadre_required
def reports(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    rows = selectors.template_report(selectors.templates_for(user)[:50])
    merchant_ids = list(selectors.merchants_visible(user).order_by("name").values_list("pk", flat=True)[:50])
    merchant_rows = selectors.merchant_report(Merchant.objects.filter(pk__in=merchant_ids))
    merchant_rows.sort(key=lambda r: -r.redeemed)
    chart = {
        "templates": [r.template.name for r in rows],
        "unused": [r.unused for r in rows],
        "redeemed": [r.redeemed for r in rows],
        "expired": [r.expired for r in rows],
        "merchants": [r.merchant.name for r in merchant_rows],
        "merchant_redeemed": [r.redeemed for r in merchant_rows],
    }
    context = {"rows": rows, "merchant_rows": merchant_rows, "chart": chart}
    return page(request, "console/coupons/reports.html", context, section="coupons")
