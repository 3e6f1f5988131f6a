"""Coupon codes and the signed QR content.

A code is 12 characters of Crockford base32 (``0-9A-Z`` without I, L, O, U): 60 random
bits, shown as ``XXXX-XXXX-XXXX`` so a merchant can read it over the phone and type it.
Typing is forgiving: case, spaces and dashes are ignored and the look-alikes I/L → 1,
O → 0 are folded, as Crockford intends.

The QR holds ``<code>:<signature>``, signed with Django's ``Signer`` under a salt of its
own (so nothing signed for another purpose passes). Unlike the e-member card's token it
does not expire: a coupon is good until it is redeemed or its validity ends, which the
database decides at redemption. The signature binds the QR to the code, so a QR edited to
point at another code is refused as invalid instead of being looked up.
"""

from __future__ import annotations

import secrets

from django.core import signing

from gonghui.core.errors import InvalidValue

SALT = "gonghui.coupons.qr.v1"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12
_FOLD = str.maketrans({"I": "1", "L": "1", "O": "0", "-": None, " ": None, "_": None})


class InvalidCoupon(InvalidValue):
    code = "COUPON_INVALID"


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def qr_content(code: str) -> str:
    """What the coupon's QR encodes: the code and its signature (about 40 characters)."""
    return _signer().sign(code)


def normalize_code(raw: str) -> str:
    """A typed code in its stored form, or ``InvalidCoupon``."""
    code = "".join((raw or "").split()).upper().translate(_FOLD)
    if len(code) != CODE_LENGTH or any(ch not in ALPHABET for ch in code):
        raise InvalidCoupon(message="券码应为 12 位字母和数字（如 AB12-CD34-EF56），请核对后重新输入。")
    return code


def parse(raw: str) -> str:
    """The coupon code in a scanned QR (signature checked) or a typed code."""
    text = "".join((raw or "").split())[:200]
    if ":" in text:
        try:
            value = _signer().unsign(text)
        except signing.BadSignature as exc:
            raise InvalidCoupon(message="无法识别的二维码，或内容被改动过。请让会员打开“我的券”中的券二维码。") from exc
        return normalize_code(value)
    return normalize_code(text)
