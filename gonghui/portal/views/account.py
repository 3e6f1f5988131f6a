"""Accounts on the portal: register with a mobile and an SMS code; claim a member record.

Registration is the SMS login for a number that has no account yet: the code proves the
mobile, an account without a password is made and signed in. It is throttled and
audited through the same ``core.auth`` helpers as the login, and asking for a code for a
number that already has an account counts as a failure, so the form is no faster a way
to sweep numbers than the login form.

Claiming (关联会员档案) links the signed-in account to the record a cadre entered or
imported, when name, ID number and the account's own mobile all match.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from gonghui.core import pii, sms
from gonghui.core.auth import clear_failures, ensure_not_throttled, note_failure, record_login, record_login_failure
from gonghui.core.errors import DomainError
from gonghui.core.middleware import client_ip
from gonghui.core.models import User
from gonghui.members import joining
from gonghui.portal.forms import PortalForm, SendCodeForm, SmsLoginForm
from gonghui.portal.views.auth import RESEND_SECONDS, CodeFeedback
from gonghui.portal.views.common import member_of, page

SMS_PURPOSE = "register"
_BACKEND = "gonghui.core.auth.MobileOrUsernameBackend"


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return ""


def _already_registered() -> str:
    return _("该手机号已注册，请直接登录。")


def _send_register_code(request: HttpRequest) -> tuple[CodeFeedback, str]:
    form = SendCodeForm(request.POST)
    if not form.is_valid():
        return CodeFeedback(False, str(form.errors["mobile"][0])), request.POST.get("mobile", "")
    mobile: str = form.cleaned_data["mobile"]
    ip = client_ip(request)
    try:
        ensure_not_throttled(mobile, ip)
        if User.objects.filter(mobile=mobile).exists():
            note_failure(mobile, ip)
            return CodeFeedback(False, _already_registered()), mobile
        sms.send_code(mobile, SMS_PURPOSE)
    except DomainError as exc:
        return CodeFeedback(False, exc.message), mobile
    text = _("验证码已发送至 %(mobile)s，%(minutes)s 分钟内有效。") % {
        "mobile": pii.mask_mobile(mobile),
        "minutes": settings.SMS_CODE_TTL_SECONDS // 60,
    }
    return CodeFeedback(True, text, RESEND_SECONDS), mobile


def _register(request: HttpRequest, form: SmsLoginForm) -> HttpResponseRedirect | None:
    if not form.is_valid():
        return None
    mobile: str = form.cleaned_data["mobile"]
    ip = client_ip(request)
    try:
        ensure_not_throttled(mobile, ip)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None
    if User.objects.filter(mobile=mobile).exists():
        form.add_error(None, _already_registered())
        return None
    if not sms.check_code(mobile, SMS_PURPOSE, form.cleaned_data["code"]):
        record_login_failure(request, mobile, "sms", reason="register_bad_code")
        form.add_error("code", _("验证码错误或已过期，请重新获取。"))
        return None
    try:
        user = joining.register_account(mobile)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None
    clear_failures(mobile)
    login(request, user, backend=_BACKEND)
    record_login(request, user, "sms")
    messages.success(request, _("注册成功，已为您登录。"))
    return redirect(_safe_next(request) or reverse("portal:find_union"))


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def register_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request) or reverse("portal:me"))
    form = SmsLoginForm()
    feedback: CodeFeedback | None = None
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "send_code":
            feedback, mobile = _send_register_code(request)
            form = SmsLoginForm(initial={"mobile": mobile})
        else:
            form = SmsLoginForm(request.POST)
            if (done := _register(request, form)) is not None:
                return done
            status = 400
    next_url = _safe_next(request)
    context = {
        "form": form,
        "feedback": feedback,
        "next": next_url,
        "resend_seconds": RESEND_SECONDS,
        "login_url": reverse("portal:login") + (f"?{urlencode({'next': next_url})}" if next_url else ""),
    }
    return page(request, "portal/register.html", context, status=status)


@require_POST
@csrf_protect
@never_cache
def register_code_view(request: HttpRequest) -> HttpResponse:
    """The "获取验证码" button of the registration form under htmx."""
    feedback, _mobile = _send_register_code(request)
    return render(request, "portal/_code_feedback.html", {"feedback": feedback})


class ClaimForm(PortalForm):
    name = forms.CharField(
        label=gettext_lazy("姓名"), max_length=64, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    id_number = forms.CharField(
        label=gettext_lazy("身份证号"),
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}),
    )


@sensitive_post_parameters("id_number")
@never_cache
@login_required
def claim_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    next_url = _safe_next(request)
    if member_of(request) is not None:
        messages.info(request, _("您的账号已关联会员档案。"))
        return redirect(next_url or reverse("portal:me"))
    form = ClaimForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            # Throttled per account: each try names an ID number, so guesses are limited.
            key, ip = f"claim:{user.pk}", client_ip(request)
            try:
                ensure_not_throttled(key, ip)
                member = joining.claim_member(user, form.cleaned_data["name"], form.cleaned_data["id_number"])
            except DomainError as exc:
                if exc.code != "LOGIN_THROTTLED":
                    note_failure(key, ip)
                form.add_error("id_number" if exc.code.startswith("ID_") else None, exc.message)
            else:
                clear_failures(key)
                messages.success(
                    request, _("已关联会员档案：%(org)s会员 %(name)s。") % {"org": member.org.name, "name": member.name}
                )
                return redirect(next_url or reverse("portal:me"))
    context = {"form": form, "next": next_url, "mobile_masked": pii.mask_mobile(user.mobile or "")}
    return page(request, "portal/claim.html", context, tab="me", status=status)
