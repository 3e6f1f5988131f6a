"""网上入会: the apply page and the applicant's own list of applications.

Everything the applicant submits goes through ``members.joining``; these views only
parse the form and turn coded errors into messages. A worker already a member of
another union is shown which one and offered a transfer: straight to the transfer
request when their account is linked to that record, otherwise through claiming the
record first (关联会员档案), since a transfer is asked for by the member's own account.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from gonghui.core.errors import DomainError
from gonghui.core.models import User
from gonghui.members import joining
from gonghui.members.models import (
    Application,
    ApplicationStatus,
    EmploymentStatus,
    MemberStatus,
    NewEmploymentGroup,
)
from gonghui.orgs.models import Org, OrgStatus
from gonghui.portal.forms import PortalForm
from gonghui.portal.views.common import member_of, page

# Errors that belong to one field of the form; the rest are shown above it.
_FIELD_OF_CODE = {
    "MEMBER_NAME_REQUIRED": "name",
    "MEMBER_NAME_TOO_LONG": "name",
    "MOBILE_NOT_VERIFIED": "mobile",
    "MOBILE_INVALID": "mobile",
    "EMPLOYMENT_STATUS_INVALID": "employment_status",
    "NEW_EMPLOYMENT_GROUP_INVALID": "new_employment_group",
    "CONSENT_REQUIRED": "consent",
}


class ApplyForm(PortalForm):
    name = forms.CharField(
        label=gettext_lazy("姓名"),
        max_length=64,
        widget=forms.TextInput(attrs={"autocomplete": "name", "placeholder": gettext_lazy("与身份证一致")}),
    )
    id_number = forms.CharField(
        label=gettext_lazy("身份证号"),
        max_length=40,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": gettext_lazy("18 位居民身份证号码"),
            }
        ),
    )
    mobile = forms.CharField(
        label=gettext_lazy("手机号"),
        max_length=32,
        help_text=gettext_lazy("即您登录时短信验证过的手机号。"),
        widget=forms.TextInput(attrs={"readonly": "readonly", "inputmode": "tel"}),
    )
    workplace = forms.CharField(
        label=gettext_lazy("工作单位"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("单位全称；灵活就业可填平台或“无”")}),
    )
    employment_status = forms.ChoiceField(
        label=gettext_lazy("就业状态"), choices=EmploymentStatus.choices, initial=EmploymentStatus.EMPLOYED
    )
    new_employment_group = forms.ChoiceField(
        label=gettext_lazy("新就业形态群体"),
        choices=[("", gettext_lazy("不属于")), *NewEmploymentGroup.choices],
        required=False,
        help_text=gettext_lazy("快递员、外卖骑手、网约车司机等请选择所属群体。"),
    )
    consent = forms.BooleanField(
        label=gettext_lazy("我已阅读并同意《敏感个人信息处理授权书》"),
        required=False,
    )


def transfer_url() -> str:
    """The transfer request page, if the portal has it (it is another part of issue 3)."""
    try:
        return reverse("portal:transfer_request")
    except NoReverseMatch:
        return ""


def _active_org(org_id: int) -> Org:
    org: Org | None = Org.objects.filter(pk=org_id, status=OrgStatus.ACTIVE).first()
    if org is None:
        raise Http404
    return org


def _elsewhere_offer(request: HttpRequest, exc: DomainError) -> dict[str, Any]:
    """What to show when the applicant is a member of another union: where, and the way on."""
    target = transfer_url()
    member = member_of(request)
    if member is not None:
        action_url = target
    else:
        # Not linked yet: claim the record first, then continue to the transfer request.
        action_url = reverse("portal:claim") + (f"?{urlencode({'next': target})}" if target else "")
    return {
        "message": exc.message,
        "org_name": exc.details.get("org_name", ""),
        "action_url": action_url,
        "needs_claim": member is None,
    }


@sensitive_post_parameters("id_number")
@never_cache
def apply_view(request: HttpRequest, org_id: int) -> HttpResponse:
    org = _active_org(org_id)
    context: dict[str, Any] = {
        "org": org,
        "consent_text": joining.CONSENT_TEXT,
        "consent_version": joining.CONSENT_VERSION,
    }
    user: Any = request.user
    if not user.is_authenticated:
        here = request.get_full_path()
        context["login_url"] = f"{reverse('portal:login')}?{urlencode({'next': here})}"
        context["register_url"] = f"{reverse('portal:register')}?{urlencode({'next': here})}"
        return page(request, "portal/apply.html", context)
    if not isinstance(user, User):  # an authenticated user is always ours; be loud if not
        raise Http404
    member = member_of(request)
    if member is not None and member.status != MemberStatus.LEFT:
        context["member"] = member
        context["transfer_url"] = transfer_url() if member.org_id != org.pk else ""
        return page(request, "portal/apply.html", context)
    pending = Application.objects.filter(user=user, status=ApplicationStatus.PENDING).select_related("org").first()
    if pending is not None:
        context["pending"] = pending
        return page(request, "portal/apply.html", context)
    initial = {"mobile": user.mobile or "", "workplace": org.unit_name, "name": user.name}
    form = ApplyForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        data = joining.ApplicationInput(
            name=form.cleaned_data["name"],
            id_number=form.cleaned_data["id_number"],
            mobile=form.cleaned_data["mobile"],
            workplace=form.cleaned_data["workplace"],
            employment_status=form.cleaned_data["employment_status"],
            new_employment_group=form.cleaned_data["new_employment_group"],
        )
        try:
            joining.apply_for_membership(user, org, data, consent=form.cleaned_data["consent"])
        except DomainError as exc:
            status = 409 if exc.status == 409 else 400
            if exc.code == "MEMBER_ELSEWHERE":
                context["elsewhere"] = _elsewhere_offer(request, exc)
            elif exc.code.startswith("ID_"):
                form.add_error("id_number", exc.message)
            else:
                form.add_error(_FIELD_OF_CODE.get(exc.code), exc.message)
        else:
            messages.success(request, _("入会申请已提交，请等待%(org)s审批。") % {"org": org.name})
            return redirect("portal:applications")
    elif request.method == "POST":
        status = 400
    context["form"] = form
    return page(request, "portal/apply.html", context, status=status)


_BADGE: dict[str, str] = {
    ApplicationStatus.PENDING: "warn",
    ApplicationStatus.APPROVED: "ok",
    ApplicationStatus.REJECTED: "error",
    ApplicationStatus.WITHDRAWN: "muted",
}


def _user_id(request: HttpRequest) -> int:
    """The signed-in user's id (behind ``login_required``)."""
    pk = request.user.pk
    if pk is None:
        raise Http404
    return int(pk)


@never_cache
@login_required
def applications_view(request: HttpRequest) -> HttpResponse:
    rows = list(
        Application.objects.filter(user_id=_user_id(request))
        .select_related("org", "member")
        .defer("id_number_enc")
        .order_by("-created_at", "-id")[:50]
    )
    items = [{"app": row, "badge": _BADGE.get(row.status, "muted")} for row in rows]
    return page(request, "portal/applications.html", {"items": items}, tab="me")


@require_POST
@login_required
def withdraw_view(request: HttpRequest, application_id: int) -> HttpResponseRedirect:
    application = Application.objects.filter(pk=application_id, user_id=_user_id(request)).first()
    if application is None:
        raise Http404
    try:
        joining.withdraw(request.user, application)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已撤回入会申请。"))
    return redirect("portal:applications")
