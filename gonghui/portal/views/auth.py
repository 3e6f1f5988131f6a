"""Member login: by mobile and SMS code, or by login name / mobile and password.

Both ways are throttled per account identifier and per client IP, and every sign-in and
failed attempt is audited, through the same ``core.auth`` helpers the console uses.
Asking for a code for a mobile that has no account is counted as a failure too, so the
form cannot be used to sweep numbers and learn who is registered. Accounts are never
created here: ``portal.views.account`` registers new numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from gonghui.core import pii, sms
from gonghui.core.auth import (
    clear_failures,
    ensure_not_throttled,
    note_failure,
    record_login,
    record_login_failure,
)
from gonghui.core.errors import DomainError
from gonghui.core.middleware import client_ip
from gonghui.core.models import User
from gonghui.portal.forms import PasswordLoginForm, SendCodeForm, SmsLoginForm
from gonghui.portal.views.common import home_url, page

SMS_PURPOSE = "login"
# How long the "获取验证码" button stays disabled after a send (the gateway refuses
# a second message to the same number within about a minute anyway).
RESEND_SECONDS = 60
_BACKEND = "gonghui.core.auth.MobileOrUsernameBackend"
_TABS = ("sms", "password")


def _not_registered() -> str:
    return _("该手机号尚未注册会员账号。请先用手机号注册，再申请入会或关联工会已登记的会员档案。")


def _account_for_mobile(mobile: str) -> User | None:
    return User.objects.filter(mobile=mobile).first()


@dataclass(frozen=True)
class CodeFeedback:
    ok: bool
    message: str
    cooldown: int = 0


def _send_login_code(request: HttpRequest) -> tuple[CodeFeedback, str]:
    """Send a login code to the posted mobile; return what to tell the user and the mobile."""
    form = SendCodeForm(request.POST)
    if not form.is_valid():
        return CodeFeedback(False, str(form.errors["mobile"][0])), request.POST.get("mobile", "")
    mobile: str = form.cleaned_data["mobile"]
    ip = client_ip(request)
    try:
        ensure_not_throttled(mobile, ip)
        if _account_for_mobile(mobile) is None:
            note_failure(mobile, ip)
            return CodeFeedback(False, _not_registered()), mobile
        sms.send_code(mobile, SMS_PURPOSE)
    except DomainError as exc:
        return CodeFeedback(False, exc.message), mobile
    minutes = settings.SMS_CODE_TTL_SECONDS // 60
    text = _("验证码已发送至 %(mobile)s，%(minutes)s 分钟内有效。") % {
        "mobile": pii.mask_mobile(mobile),
        "minutes": minutes,
    }
    return CodeFeedback(True, text, RESEND_SECONDS), mobile


def _safe_next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return ""


def _finish_login(request: HttpRequest, user: Any, identifier: str, method: str) -> HttpResponseRedirect:
    clear_failures(identifier)
    login(request, user, backend=_BACKEND)
    record_login(request, user, method)
    messages.success(request, _("登录成功，欢迎您，%(name)s。") % {"name": user.name or user.username})
    return redirect(_safe_next(request) or home_url(request))


def _sms_login(request: HttpRequest, form: SmsLoginForm) -> HttpResponseRedirect | None:
    if not form.is_valid():
        return None
    mobile: str = form.cleaned_data["mobile"]
    ip = client_ip(request)
    try:
        ensure_not_throttled(mobile, ip)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None
    user = _account_for_mobile(mobile)
    if user is None:
        record_login_failure(request, mobile, "sms", reason="unknown_account")
        form.add_error(None, _not_registered())
        return None
    if not sms.check_code(mobile, SMS_PURPOSE, form.cleaned_data["code"]):
        record_login_failure(request, mobile, "sms", reason="bad_code")
        form.add_error("code", _("验证码错误或已过期，请重新获取。"))
        return None
    if not ModelBackend().user_can_authenticate(user):
        form.add_error(None, _("该账号已停用，请联系所在工会。"))
        return None
    return _finish_login(request, user, mobile, "sms")


def _password_login(request: HttpRequest, form: PasswordLoginForm) -> HttpResponseRedirect | None:
    if not form.is_valid():
        return None
    identifier: str = form.cleaned_data["username"]
    ip = client_ip(request)
    try:
        ensure_not_throttled(identifier, ip)
    except DomainError as exc:
        form.add_error(None, exc.message)
        return None
    user = authenticate(request, username=identifier, password=form.cleaned_data["password"])
    if user is None:
        record_login_failure(request, identifier, "password")
        form.add_error(None, _("登录名或密码错误。"))
        return None
    return _finish_login(request, user, identifier, "password")


@sensitive_post_parameters("password", "code")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request) or home_url(request))
    tab = request.POST.get("tab") or request.GET.get("tab") or "sms"
    if tab not in _TABS:
        tab = "sms"
    sms_form = SmsLoginForm()
    password_form = PasswordLoginForm()
    feedback: CodeFeedback | None = None
    status = 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "send_code":
            # The no-JavaScript path of the "获取验证码" button: redisplay the form.
            feedback, mobile = _send_login_code(request)
            sms_form = SmsLoginForm(initial={"mobile": mobile})
            tab = "sms"
        elif tab == "password":
            password_form = PasswordLoginForm(request.POST)
            if (done := _password_login(request, password_form)) is not None:
                return done
            status = 400
        else:
            sms_form = SmsLoginForm(request.POST)
            if (done := _sms_login(request, sms_form)) is not None:
                return done
            status = 400
    return page(
        request,
        "portal/login.html",
        {
            "login_tab": tab,
            "sms_form": sms_form,
            "password_form": password_form,
            "feedback": feedback,
            "next": _safe_next(request),
            "resend_seconds": RESEND_SECONDS,
        },
        status=status,
    )


@require_POST
@csrf_protect
@never_cache
def send_code_view(request: HttpRequest) -> HttpResponse:
    """The "获取验证码" button under htmx: answer with the feedback line only."""
    feedback, _mobile = _send_login_code(request)
    return render(request, "portal/_code_feedback.html", {"feedback": feedback})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponseRedirect:
    logout(request)
    messages.info(request, _("您已安全退出。"))
    return redirect("portal:landing")
