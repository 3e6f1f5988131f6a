"""The e-member card's live QR token, and checking it (电子会员卡核验).

A token is ``<member id>.<card number>.<nonce>:<issue time>:<signature>``, made with
Django's ``TimestampSigner`` under a salt of its own, so a token signed for anything else
(a password reset, a session) can never pass here. About 90 characters: a version-5 QR
that any phone camera reads from a screen.

It lives ``MEMBER_CARD_TOKEN_TTL_SECONDS`` (60 s by default): the card page fetches a fresh
one before the old one dies, so a screenshot of someone else's card is worthless a minute
later. The signature proves the token came from us; everything else (the member still
holds this card, has not left) is read from the database at check time.

What a verifier learns is deliberately little: the masked name (张**), the union, the
status and a partly masked card number. Never the ID number or mobile. Each check is
audited (``card.verify``) and counted against a per-verifier budget in the cache.

Who may verify: cadres (anyone with a console role) and partner merchants, i.e. users in
the Django auth group ``card_verifiers`` (``manage.py grant_card_verifier <login>``).
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.core import audit, pii
from gonghui.core.access import is_cadre
from gonghui.core.errors import DomainError
from gonghui.members.models import Member, MemberStatus

SALT = "gonghui.members.card-token.v1"
VERIFIER_GROUP = "card_verifiers"
_NONCE_BYTES = 6  # 8 base64 characters: two tokens of one second never look alike
_RATE_WINDOW_SECONDS = 60


class CardResult(enum.StrEnum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"
    RETAINED = "retained"
    LEFT = "left"
    NO_CARD = "no_card"


RESULT_LABELS: dict[CardResult, Any] = {
    CardResult.VALID: _("有效"),
    CardResult.EXPIRED: _("二维码已过期"),
    CardResult.INVALID: _("无效"),
    CardResult.RETAINED: _("保留会籍"),
    CardResult.LEFT: _("已退会"),
    CardResult.NO_CARD: _("未发卡"),
}

RESULT_HINTS: dict[CardResult, Any] = {
    CardResult.VALID: _("会员身份有效。"),
    CardResult.EXPIRED: _(
        "这是一张真实会员卡，但二维码已超过有效期（可能是截图）。请会员在手机上重新打开会员卡后再扫。"
    ),
    CardResult.INVALID: _("无法识别的二维码，或内容被改动过。请让会员打开“智慧工会”中的电子会员卡。"),
    CardResult.RETAINED: _("会员保留会籍（如退休、失业），会员身份仍然有效，但不享有选举权。"),
    CardResult.LEFT: _("该会员已退会，会员卡已失效。"),
    CardResult.NO_CARD: _("该会员尚未发放会员卡。"),
}


class VerifyThrottled(DomainError):
    code = "CARD_VERIFY_THROTTLED"
    status = 429


@dataclass(frozen=True)
class CardToken:
    token: str
    issued_at: datetime
    expires_at: datetime
    ttl_seconds: int


@dataclass(frozen=True)
class CardCheck:
    """What a verifier may see. Built only from masked values."""

    result: CardResult
    member_id: int | None = None
    masked_name: str = ""
    union: str = ""
    status: str = ""  # MemberStatus value, "" when unknown
    card_number_masked: str = ""
    issued_at: datetime | None = None

    @property
    def label(self) -> str:
        return str(RESULT_LABELS[self.result])

    @property
    def hint(self) -> str:
        return str(RESULT_HINTS[self.result])

    @property
    def status_label(self) -> str:
        return str(MemberStatus(self.status).label) if self.status else ""

    @property
    def ok(self) -> bool:
        """The holder is a member now (valid or retained)."""
        return self.result in (CardResult.VALID, CardResult.RETAINED)


def ttl_seconds() -> int:
    return max(int(settings.MEMBER_CARD_TOKEN_TTL_SECONDS), 1)


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=SALT)


def mask_card_number(number: str) -> str:
    """``GH4444010600000123`` → ``GH44**********0123``."""
    if len(number) <= 8:
        return number[:2] + "*" * max(len(number) - 2, 0)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def issue_token(member: Member) -> CardToken:
    """A fresh token for ``member``'s card. The member must hold a card number."""
    if not member.card_number:
        raise DomainError("CARD_NOT_ISSUED", "尚未发放会员卡号。")
    nonce = secrets.token_urlsafe(_NONCE_BYTES)
    token = _signer().sign(f"{member.pk}.{member.card_number}.{nonce}")
    issued = _issued_at(token)  # the second the signer stamped, read back
    ttl = ttl_seconds()
    return CardToken(token=token, issued_at=issued, expires_at=issued + timedelta(seconds=ttl), ttl_seconds=ttl)


def _issued_at(token: str) -> datetime:
    """The issue time in a token whose signature has been checked."""
    stamp = signing.b62_decode(token.rsplit(":", 2)[1])
    return datetime.fromtimestamp(stamp, tz=timezone.get_current_timezone())


def _parse(token: str) -> tuple[str, bool]:
    """The signed value and whether it has expired; ``BadSignature`` when forged or garbled."""
    signer = _signer()
    try:
        return signer.unsign(token, max_age=ttl_seconds()), False
    except signing.SignatureExpired:
        # The signature was checked first (TimestampSigner verifies before it reads the
        # age), so the value is ours; only its age is wrong.
        return signer.unsign(token), True


def clean_token(raw: str) -> str:
    """What a scanner or a paste box hands over, trimmed (whitespace, a trailing newline)."""
    return "".join((raw or "").split())[:400]


def check(token: str) -> CardCheck:
    """Classify ``token`` without side effects (``verify`` adds the audit row and the budget)."""
    token = clean_token(token)
    if not token:
        return CardCheck(CardResult.INVALID)
    try:
        value, expired = _parse(token)
    except signing.BadSignature:
        return CardCheck(CardResult.INVALID)
    parts = value.split(".")
    if len(parts) != 3 or not parts[0].isdigit():
        return CardCheck(CardResult.INVALID)
    member_id, card_number = int(parts[0]), parts[1]
    member = Member.objects.select_related("org").filter(pk=member_id).first()
    if member is None:
        return CardCheck(CardResult.INVALID)
    erased = member.erased_at is not None
    seen = CardCheck(
        CardResult.VALID,
        member_id=member.pk,
        masked_name="" if erased else pii.mask_name(member.name),
        union=member.org.name,
        status=member.status,
        card_number_masked=mask_card_number(card_number),
        issued_at=_issued_at(token),
    )
    if erased or member.status == MemberStatus.LEFT:
        return replace(seen, result=CardResult.LEFT)
    if not member.card_number:
        return replace(seen, result=CardResult.NO_CARD)
    if member.card_number != card_number:
        # A replaced card: the old card's tokens are as good as forged.
        return CardCheck(CardResult.INVALID)
    if expired:
        return replace(seen, result=CardResult.EXPIRED)
    if member.status == MemberStatus.RETAINED:
        return replace(seen, result=CardResult.RETAINED)
    return seen


def is_verifier(user: Any) -> bool:
    """Cadres and partner merchants (the ``card_verifiers`` group) may check cards."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return is_cadre(user) or user.groups.filter(name=VERIFIER_GROUP).exists()


def _spend_budget(verifier: Any) -> None:
    """Count one check against the verifier's per-minute budget (cache; best effort).

    Guessing tokens is hopeless against HMAC-SHA256; the budget stops a merchant account
    from being used to sweep the register or flood the audit log.
    """
    limit = int(getattr(settings, "MEMBER_CARD_VERIFY_PER_MINUTE", 30))
    key = f"card-verify:{verifier.pk}"
    if cache.add(key, 1, _RATE_WINDOW_SECONDS):
        return
    try:
        used = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, _RATE_WINDOW_SECONDS)
        return
    if used > limit:
        raise VerifyThrottled(message="核验过于频繁，请稍后再试。")


def verify(token: str, *, verifier: Any) -> CardCheck:
    """Check a scanned or pasted token for ``verifier``: rate-limited and audited.

    The caller has already established ``is_verifier(verifier)``.
    """
    _spend_budget(verifier)
    result = check(token)
    member = Member.objects.select_related("org").filter(pk=result.member_id).first() if result.member_id else None
    audit.record(
        "card.verify",
        actor=verifier,
        obj=member,
        details={"result": result.result.value, "member_id": result.member_id},
    )
    return result


@transaction.atomic
def grant_verifier(*, actor: Any, user: Any, revoke: bool = False) -> bool:
    """Add ``user`` to (or remove from) the ``card_verifiers`` group; True if it changed."""
    group, _created = Group.objects.get_or_create(name=VERIFIER_GROUP)
    member_of = user.groups.filter(pk=group.pk).exists()
    if member_of != revoke:
        return False
    if revoke:
        user.groups.remove(group)
    else:
        user.groups.add(group)
    audit.record(
        "card.verifier_revoke" if revoke else "card.verifier_grant",
        actor=actor,
        obj=user,
        details={"group": VERIFIER_GROUP},
        actor_label="" if actor is not None else "manage.py grant_card_verifier",
    )
    return True
