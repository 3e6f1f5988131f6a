"""The member's check-in ticket (入场签到码): a signed QR and a short code to type.

The QR holds ``SU1.<registration id>.<ticket code>:<signature>``, signed with Django's
``Signer`` under a salt of its own (the way ``members.card_tokens`` signs the card, but
without a timestamp: a ticket is valid as long as its registration is confirmed, so a
member may screenshot it before going somewhere without signal). Whether the ticket
still admits anyone is read from the database at check-in, never from the token.

The ticket code (8 characters, no 0/O/1/I) is what a cadre types when a camera is no
use; it is unique within its activity, and only cadres who manage the activity can look
it up.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.core import signing

SALT = "gonghui.activities.signup.ticket.v1"
PREFIX = "SU1"
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def _signer() -> signing.Signer:
    return signing.Signer(salt=SALT)


def sign(registration_id: int, code: str) -> str:
    return _signer().sign(f"{PREFIX}.{registration_id}.{code}")


@dataclass(frozen=True)
class Scanned:
    """What a scanned or typed text names: a ticket (id + code), a bare code, or nothing."""

    registration_id: int | None = None
    code: str = ""
    looks_signed: bool = False  # shaped like our QR (even if the signature failed)


def clean(raw: str) -> str:
    return "".join((raw or "").split())[:400]


def read(raw: str) -> Scanned:
    """Parse a scanned QR or a typed code. A bad signature gives an empty ``Scanned``."""
    text = clean(raw)
    if text.startswith(f"{PREFIX}."):
        try:
            value = _signer().unsign(text)
        except signing.BadSignature:
            return Scanned(looks_signed=True)
        parts = value.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return Scanned(looks_signed=True)
        return Scanned(registration_id=int(parts[1]), code=parts[2], looks_signed=True)
    code = text.replace("-", "").upper()
    if len(code) == CODE_LENGTH and all(c in ALPHABET for c in code):
        return Scanned(code=code)
    return Scanned()
