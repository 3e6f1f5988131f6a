"""Signing in to the console: first factor (password or SMS code), then the second (TOTP).

Every attempt passes ``core.auth``'s throttle first and counts as a failure when it
fails; failures are audited with the identifier masked and no actor (the person is not
known to be who they claim). A successful first factor logs the user in, but no console
page opens until a cadre has also passed TOTP — ``cadre_required`` sends them back here.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST
from django_otp import login as otp_login

from gonghui.console import twofactor
from gonghui.console.forms import (
    EnrollForm,
    MobileProofForm,
    OtpForm,
    PasswordLoginForm,
    SendCodeForm,
    SmsLoginForm,
)
from gonghui.console.views.common import (
    cadre,
    cadre_required,
    forbidden,
    has_verified,
    safe_next,
    second_factor_url,
    with_next,
)
from gonghui.core import access, audit, pii, sms
from gonghui.core.auth import (
    clear_failures,
    ensure_not_throttled,
    login_method,
    mask_identifier,
    note_failure,
    record_login,
    record_login_failure,
)
from gonghui.core.errors import DomainError
from gonghui.core.middleware import client_ip
from gonghui.core.models import User

log = logging.getLogger("gonghui.console.auth")

SMS_PURPOSE = "login"
ENROLL_SMS_PURPOSE = "otp_enroll"
RESEND_SECONDS = 60
_BACKEND = "gonghui.core.auth.MobileOrUsernameBackend"
_TABS = ("password", "sms")
_RECOVERY_SESSION_KEY = "console_recovery_codes"
_AFTER_RECOVERY_KEY = "console_after_recovery"
_MOBILE_PROOF_KEY = "console_enroll_mobile"


def _throttled(identifier: str, ip: str | None) -> str:
    """The Chinese throttle message, or "" when the attempt may go ahead.

    Throttled attempts are logged, not audited: a locked-out attacker hammering the form
    must not be able to grow the audit table without bound.
    """
    try:
        ensure_not_throttled(identifier, ip)
    except DomainError as exc:
        log.warning("console login throttled for %s from %s", mask_identifier(identifier), ip)
        return exc.message
    return ""


def _signed_in(request: HttpRequest, user: User, identifier: str, method: str) -> HttpResponseRedirect:
    clear_failures(identifier)
    login(request, user, backend=_BACKEND)
    record_login(request, user, method)
    next_url = safe_next(request)
    if not access.is_cadre(user):
        return redirect(reverse("console:dashboard"))  # the gate explains "无权访问"
    return redirect(second_factor_url(user, next_url))


def _password_login(request: HttpRequest, form: PasswordLoginForm) -> HttpResponseRedirect | None:
    if not form.is_valid():
        return None
    identifier: str = form.cleaned_data["username"]
    ip = client_ip(request)
    if message := _throttled(identifier, ip):
        form.add_error(None, message)
        return None
    user = authenticate(request, username=identifier, password=form.cleaned_data["password"])
    if not isinstance(user, User):
        record_login_failure(request, identifier, "password")
        form.add_error(None, _("登录名或密码错误。"))
        return None
    return _signed_in(request, user, identifier, "password")


def _sms_login(request: HttpRequest, form: SmsLoginForm) -> HttpResponseRedirect | None:
    if not form.is_valid():
        return None
    mobile: str = form.cleaned_data["mobile"]
    ip = client_ip(request)
    if message := _throttled(mobile, ip):
        form.add_error(None, message)
        return None
    user = User.objects.filter(mobile=mobile).first()
    if user is None or not sms.check_code(mobile, SMS_PURPOSE, form.cleaned_data["code"]):
        # An unknown number and a wrong code read the same: the form does not tell who has an account.
        record_login_failure(request, mobile, "sms", reason="bad_code")
        form.add_error("code", _("验证码错误或已过期，请重新获取。"))
        return None
    if not ModelBackend().user_can_authenticate(user):
        form.add_error(None, _("该账号已停用，请联系上级工会。"))
        return None
    return _signed_in(request, user, mobile, "sms")


def _send_code(request: HttpRequest) -> tuple[bool, str, str]:
    """Send a login code to the posted mobile: (sent?, message for the user, the mobile)."""
    form = SendCodeForm(request.POST, prefix="sms")
    if not form.is_valid() or not form.cleaned_data["mobile"]:
        errors = form.errors.get("mobile") or [_("请填写手机号。")]
        return False, str(errors[0]), request.POST.get("sms-mobile", "")
    mobile: str = form.cleaned_data["mobile"]
    ip = client_ip(request)
    if message := _throttled(mobile, ip):
        return False, message, mobile
    sent_text = _("如该手机号已注册，验证码已发送至 %(mobile)s，%(minutes)s 分钟内有效。") % {
        "mobile": pii.mask_mobile(mobile),
        "minutes": settings.SMS_CODE_TTL_SECONDS // 60,
    }
    if not User.objects.filter(mobile=mobile, is_active=True).exists():
        # Same answer as a real send, so the button cannot be used to sweep for accounts;
        # counted as a failure so a sweep is throttled.
        note_failure(mobile, ip)
        return True, sent_text, mobile
    try:
        sms.send_code(mobile, SMS_PURPOSE)
    except DomainError as exc:
        return False, exc.message, mobile
    return True, sent_text, mobile


@sensitive_post_parameters("password", "code")
@csrf_protect
@never_cache
def login_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if request.method == "GET" and user.is_authenticated and access.is_cadre(user):
        target = safe_next(request) or reverse("console:dashboard")
        return redirect(target if has_verified(user) else second_factor_url(user, target))
    tab = request.POST.get("tab") or request.GET.get("tab") or "password"
    if tab not in _TABS:
        tab = "password"
    password_form = PasswordLoginForm(prefix="pw")
    sms_form = SmsLoginForm(prefix="sms")
    feedback: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        if request.POST.get("action") == "send_code":
            # The no-JavaScript path of "获取验证码": send, then show the form again.
            ok, text, mobile = _send_code(request)
            feedback = {"ok": ok, "message": text, "cooldown": RESEND_SECONDS if ok else 0}
            sms_form = SmsLoginForm(prefix="sms", initial={"mobile": mobile})
            tab = "sms"
        elif tab == "sms":
            sms_form = SmsLoginForm(request.POST, prefix="sms")
            if (done := _sms_login(request, sms_form)) is not None:
                return done
            status = 400
        else:
            password_form = PasswordLoginForm(request.POST, prefix="pw")
            if (done := _password_login(request, password_form)) is not None:
                return done
            status = 400
    context = {
        "tab": tab,
        "password_form": password_form,
        "sms_form": sms_form,
        "feedback": feedback,
        "next": safe_next(request),
        "resend_seconds": RESEND_SECONDS,
    }
    return render(request, "console/login.html", context, status=status)


@require_POST
@csrf_protect
@never_cache
def send_code_view(request: HttpRequest) -> HttpResponse:
    """The "获取验证码" button under htmx: answers with the feedback line only."""
    ok, text, _mobile = _send_code(request)
    feedback = {"ok": ok, "message": text, "cooldown": RESEND_SECONDS if ok else 0}
    return render(request, "console/_code_feedback.html", {"feedback": feedback})


def _second_factor_gate(request: HttpRequest) -> HttpResponse | None:
    """Who may be on a second-factor page at all; ``None`` means carry on."""
    user = request.user
    if not user.is_authenticated:
        return redirect(with_next("console:login", safe_next(request)))
    if not access.is_cadre(user):
        return forbidden(request)
    if has_verified(user):
        return redirect(safe_next(request) or reverse("console:dashboard"))
    return None


def _otp_throttle_key(user: Any) -> str:
    return f"otp:{user.pk}"


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The "输入动态口令" step: a TOTP code from the app, or one of the recovery codes."""
    if (stop := _second_factor_gate(request)) is not None:
        return stop
    user = cadre(request)
    if twofactor.confirmed_totp(user) is None:
        return redirect(with_next("console:otp_enroll", safe_next(request)))
    form = OtpForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        ip = client_ip(request)
        code: str = form.cleaned_data["code"]
        if message := _throttled(_otp_throttle_key(user), ip):
            form.add_error("code", message)
        elif (blocked := twofactor.blocking_device(user, code)) is not None:
            form.add_error(
                "code", _("尝试过于频繁，请 %(seconds)s 秒后再试。") % {"seconds": twofactor.wait_seconds(blocked)}
            )
        else:
            device, kind = twofactor.verify(user, code)
            if device is not None:
                clear_failures(_otp_throttle_key(user))
                otp_login(request, device)
                request.session.cycle_key()
                left = twofactor.recovery_codes_left(user) if kind == "recovery" else None
                audit.record(
                    "auth.otp_verified",
                    actor=user,
                    obj=user,
                    org=twofactor.primary_org(user),
                    details={"method": kind, **({"recovery_codes_left": left} if left is not None else {})},
                )
                if left is not None:
                    messages.warning(
                        request,
                        _("您使用了一个恢复码，还剩 %(left)s 个。请尽快在工作台重新生成恢复码。") % {"left": left},
                    )
                return redirect(safe_next(request) or reverse("console:dashboard"))
            note_failure(_otp_throttle_key(user), ip)
            audit.record(
                "auth.otp_failed",
                actor=user,
                obj=user,
                org=twofactor.primary_org(user),
                details={"method": kind or "unknown"},
            )
            form.add_error("code", _("动态口令或恢复码不正确，请重试。"))
    if request.method == "POST":
        status = 400
    context = {"form": form, "next": safe_next(request), "issuer": settings.OTP_TOTP_ISSUER}
    response = render(request, "console/otp_verify.html", context, status=status)
    add_never_cache_headers(response)
    return response


def _mobile_proof(request: HttpRequest, user: User) -> str:
    """How this session proved the cadre's registered mobile: "sms_login", "sms_code" or ""."""
    if not user.mobile:
        return ""
    if login_method(request) == "sms":
        return "sms_login"  # the login code itself went to the registered mobile
    proof = request.session.get(_MOBILE_PROOF_KEY)
    if isinstance(proof, dict) and proof.get("user") == user.pk and proof.get("mobile") == user.mobile:
        return "sms_code"
    return ""


def _prove_mobile(request: HttpRequest, user: User, mobile: str) -> HttpResponse:
    """The "验证手机" step before a first TOTP enrolment of a session that signed in by password.

    The password alone must not be enough to bind a second factor: whoever learnt it
    would bind their own phone. A code to the registered mobile shows the cadre is who
    the union registered.
    """
    sending = request.method == "POST" and request.POST.get("action") == "send_code"
    form = MobileProofForm(request.POST if request.method == "POST" and not sending else None)
    feedback: dict[str, Any] | None = None
    status = 200
    ip = client_ip(request)
    key = _otp_throttle_key(user)
    if sending:
        if message := _throttled(key, ip):
            feedback = {"ok": False, "message": message}
        else:
            try:
                sms.send_code(mobile, ENROLL_SMS_PURPOSE)
            except DomainError as exc:
                feedback = {"ok": False, "message": exc.message}
            else:
                feedback = {
                    "ok": True,
                    "message": _("验证码已发送至 %(mobile)s，%(minutes)s 分钟内有效。")
                    % {"mobile": pii.mask_mobile(mobile), "minutes": settings.SMS_CODE_TTL_SECONDS // 60},
                    "cooldown": RESEND_SECONDS,
                }
    elif request.method == "POST":
        status = 400
        if form.is_valid():
            if message := _throttled(key, ip):
                form.add_error("code", message)
            elif sms.check_code(mobile, ENROLL_SMS_PURPOSE, form.cleaned_data["code"]):
                clear_failures(key)
                request.session[_MOBILE_PROOF_KEY] = {"user": user.pk, "mobile": mobile}
                return redirect(with_next("console:otp_enroll", safe_next(request)))
            else:
                note_failure(key, ip)
                form.add_error("code", _("验证码错误或已过期，请重新获取。"))
    context = {
        "form": form,
        "feedback": feedback,
        "masked_mobile": pii.mask_mobile(mobile),
        "next": safe_next(request),
        "resend_seconds": RESEND_SECONDS,
    }
    response = render(request, "console/otp_mobile.html", context, status=status)
    add_never_cache_headers(response)
    return response


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
def otp_enroll(request: HttpRequest) -> HttpResponse:
    """First sign-in of a cadre: prove the registered mobile, bind an authenticator app, show recovery codes."""
    if (stop := _second_factor_gate(request)) is not None:
        return stop
    user = cadre(request)
    if twofactor.confirmed_totp(user) is not None:
        return redirect(with_next("console:otp_verify", safe_next(request)))
    if not user.mobile:
        response = render(request, "console/otp_no_mobile.html", {}, status=403)
        add_never_cache_headers(response)
        return response
    proof = _mobile_proof(request, user)
    if not proof:
        return _prove_mobile(request, user, user.mobile)
    device = twofactor.pending_totp(user)
    form = EnrollForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            ip = client_ip(request)
            if message := _throttled(_otp_throttle_key(user), ip):
                form.add_error("code", message)
            elif seconds := twofactor.wait_seconds(device):
                form.add_error("code", _("尝试过于频繁，请 %(seconds)s 秒后再试。") % {"seconds": seconds})
            elif (
                codes := twofactor.confirm_enrollment(user, device, form.cleaned_data["code"], mobile_proof=proof)
            ) is not None:
                clear_failures(_otp_throttle_key(user))
                device.refresh_from_db()
                otp_login(request, device)
                request.session.pop(_MOBILE_PROOF_KEY, None)
                request.session.cycle_key()
                request.session[_RECOVERY_SESSION_KEY] = codes
                request.session[_AFTER_RECOVERY_KEY] = safe_next(request)
                return redirect("console:recovery_codes")
            else:
                note_failure(_otp_throttle_key(user), ip)
                form.add_error("code", _("验证码不正确。请确认手机时间准确，并输入 App 中当前显示的 6 位数字。"))
    context = {
        "form": form,
        "qr_svg": twofactor.qr_svg(device),
        "secret_groups": twofactor.secret_groups(device),
        "config_url": device.config_url,
        "issuer": settings.OTP_TOTP_ISSUER,
        "next": safe_next(request),
    }
    response = render(request, "console/otp_enroll.html", context, status=status)
    add_never_cache_headers(response)
    return response


@cadre_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """The fresh recovery codes, shown exactly once (they live in the session until then)."""
    codes = request.session.pop(_RECOVERY_SESSION_KEY, None)
    next_url = request.session.pop(_AFTER_RECOVERY_KEY, "") or reverse("console:dashboard")
    if not codes:
        messages.info(request, _("恢复码只显示一次。如已遗失，请重新生成。"))
        return redirect("console:dashboard")
    return render(request, "console/recovery_codes.html", {"codes": codes, "next": next_url})


@require_POST
@cadre_required
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    codes = twofactor.issue_recovery_codes(user)
    audit.record(
        "auth.recovery_codes_regenerated",
        actor=user,
        obj=user,
        org=twofactor.primary_org(user),
        details={"count": len(codes)},
    )
    request.session[_RECOVERY_SESSION_KEY] = codes
    request.session[_AFTER_RECOVERY_KEY] = reverse("console:dashboard")
    return redirect("console:recovery_codes")


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    if isinstance(user, User):
        audit.record("auth.logout", actor=user, obj=user, org=twofactor.primary_org(user), details={"where": "console"})
    logout(request)
    messages.info(request, _("您已安全退出。"))
    return redirect("console:login")
