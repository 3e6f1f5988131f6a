"""The cadre's second factor: a TOTP app, with one-time recovery codes as the fallback.

Built on django-otp: ``TOTPDevice`` for the authenticator app, ``StaticDevice`` with
``StaticToken`` rows for the recovery codes. Nothing in the console writes these models
except through the functions here.

A device's row is locked while a code is checked: a TOTP code is accepted once (the
device remembers the last time step used) and a recovery code is deleted when used, and
two concurrent submissions of the same code must not both win.
"""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.core import access, audit
from gonghui.orgs.models import Org

RECOVERY_CODE_COUNT = 10
TOTP_DEVICE_NAME = "动态口令"
RECOVERY_DEVICE_NAME = "恢复码"
_B32 = frozenset("abcdefghijklmnopqrstuvwxyz234567")


def confirmed_totp(user: Any) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("id").first()


def pending_totp(user: Any) -> TOTPDevice:
    """The unconfirmed device being enrolled, created on first sight.

    Reloading the enrollment page must show the same secret: the cadre may already have
    scanned it.
    """
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def qr_svg(device: TOTPDevice) -> str:
    """The ``otpauth://`` URL as an inline SVG QR code (no image request, no CDN)."""
    qr = segno.make(device.config_url, error="m")
    svg: str = qr.svg_inline(scale=5, dark="#1f2329", light="#ffffff", border=2, omitsize=True)
    return svg.replace("<svg ", '<svg role="img" aria-label="动态口令二维码" class="qr-svg" ', 1)


def secret_groups(device: TOTPDevice) -> list[str]:
    """The base32 secret for manual entry, in groups of four characters."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return [secret[i : i + 4] for i in range(0, len(secret), 4)]


def format_recovery_code(token: str) -> str:
    return f"{token[:4]}-{token[4:]}"


def _normalise(raw: str) -> str:
    return "".join(raw.split()).replace("-", "").lower()


def primary_org(user: Any) -> Org | None:
    """The org a cadre's account events are filed under: their topmost role's org."""
    user_grants = sorted(access.grants(user), key=lambda g: (len(g.path), g.path))
    if not user_grants:
        return None
    org: Org | None = Org.objects.filter(pk=user_grants[0].org_id).first()
    return org


def issue_recovery_codes(user: Any) -> list[str]:
    """Replace the user's recovery codes with a fresh set; the old ones stop working."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name=RECOVERY_DEVICE_NAME, confirmed=True)
        tokens: set[str] = set()
        while len(tokens) < RECOVERY_CODE_COUNT:
            tokens.add(StaticToken.random_token())
        StaticToken.objects.bulk_create(StaticToken(device=device, token=t) for t in sorted(tokens))
    return [format_recovery_code(t) for t in sorted(tokens)]


def recovery_codes_left(user: Any) -> int:
    return int(StaticToken.objects.filter(device__user=user, device__confirmed=True).count())


def wait_seconds(device: Device) -> int:
    """Seconds until django-otp's exponential back-off lets ``device`` check a code again."""
    allowed, info = device.verify_is_allowed()
    if allowed or not info or "locked_until" not in info:
        return 0
    return max(1, int((info["locked_until"] - timezone.now()).total_seconds()) + 1)


@transaction.atomic
def confirm_enrollment(user: Any, device: TOTPDevice, code: str, *, mobile_proof: str = "") -> list[str] | None:
    """Confirm ``device`` with a code from the app; return the new recovery codes.

    ``None`` when the code is wrong. Leftover unconfirmed devices are removed.
    ``mobile_proof`` says how the session proved the registered mobile first (audited).
    """
    device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
    if not device.verify_token(_normalise(code)):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    codes = issue_recovery_codes(user)
    audit.record(
        "auth.totp_enrolled",
        actor=user,
        obj=user,
        org=primary_org(user),
        details={"device": device.pk, "recovery_codes": len(codes), "mobile_proof": mobile_proof},
    )
    return codes


@transaction.atomic
def verify(user: Any, raw: str) -> tuple[Device | None, str]:
    """Check a TOTP code or a recovery code. Returns the device that accepted it and its kind.

    The kind is ``"totp"`` or ``"recovery"``; on failure the device is ``None`` and the
    kind says which was tried (``""`` when the input had neither shape).
    """
    token = _normalise(raw)
    if len(token) == 6 and token.isdigit():
        totp = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("id").first()
        if totp is not None and totp.verify_token(token):
            return totp, "totp"
        return None, "totp"
    if len(token) == 8 and _B32.issuperset(token):
        for static in StaticDevice.objects.select_for_update().filter(user=user, confirmed=True):
            if static.verify_token(token):
                return static, "recovery"
        return None, "recovery"
    return None, ""


def blocking_device(user: Any, raw: str) -> Device | None:
    """The device whose back-off currently refuses this kind of code, if any."""
    token = _normalise(raw)
    devices: list[Device]
    if len(token) == 6 and token.isdigit():
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
    else:
        devices = list(StaticDevice.objects.filter(user=user, confirmed=True))
    for device in devices:
        if wait_seconds(device):
            return device
    return None
