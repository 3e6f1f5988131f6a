"""Member card numbers: ``<prefix><6-digit region><8-digit serial>``.

The prefix is configurable per province (``MEMBER_CARD_PREFIXES``, falling back to
``MEMBER_CARD_PREFIX``); serials come from one counter row per prefix, taken under a row
lock so concurrent approvals never share a number.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from gonghui.core import audit
from gonghui.members.models import CardSequence, Member, MemberStatus
from gonghui.orgs.models import Org

SERIAL_DIGITS = 8


def prefix_for(org: Org) -> str:
    province = (org.region_code or "")[:2]
    prefixes: dict[str, str] = settings.MEMBER_CARD_PREFIXES
    return prefixes.get(province, settings.MEMBER_CARD_PREFIX)


def _region(org: Org) -> str:
    code = org.region_code or ""
    return code if len(code) == 6 and code.isdigit() else "000000"


region_of = _region


def format_number(prefix: str, region: str, serial: int) -> str:
    return f"{prefix}{region}{serial:0{SERIAL_DIGITS}d}"


@transaction.atomic
def reserve_block(prefix: str, n: int) -> int:
    """Reserve ``n`` consecutive serials under ``prefix`` and return the first.

    One row lock and one UPDATE for a whole import chunk; call inside the chunk's
    transaction so a rolled-back chunk gives its block back.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    CardSequence.objects.get_or_create(prefix=prefix)
    seq = CardSequence.objects.select_for_update().get(prefix=prefix)
    first = seq.last + 1
    seq.last += n
    seq.save(update_fields=["last"])
    return first


@transaction.atomic
def issue_card_number(org: Org) -> str:
    """The next card number for a member of ``org`` (call inside the approving transaction)."""
    prefix = prefix_for(org)
    CardSequence.objects.get_or_create(prefix=prefix)
    seq = CardSequence.objects.select_for_update().get(prefix=prefix)
    seq.last += 1
    seq.save(update_fields=["last"])
    return f"{prefix}{_region(org)}{seq.last:0{SERIAL_DIGITS}d}"


def sync_sequences() -> None:
    """Move every counter past the serials already present (after a bulk seed or import)."""
    serials: dict[str, int] = {}
    tail = 6 + SERIAL_DIGITS
    numbers = Member.objects.exclude(card_number=None).values_list("card_number", flat=True)
    for number in numbers.iterator():
        if not number:
            continue
        prefix, serial = number[:-tail], number[-SERIAL_DIGITS:]
        if serial.isdigit():
            serials[prefix] = max(serials.get(prefix, 0), int(serial))
    for prefix, last in serials.items():
        seq, _created = CardSequence.objects.get_or_create(prefix=prefix)
        if seq.last < last:
            CardSequence.objects.filter(pk=prefix, last__lt=last).update(last=last)


@transaction.atomic
def ensure_card_number(*, actor: Any, member: Member) -> Member:
    """Give a current member who has none (say, entered by a cadre) a card number.

    Approval issues the number for online applicants; records typed in or imported may
    lack one. Members who left get none. Idempotent: the member row is locked and
    re-read, so two tabs opening the card at once issue one number.
    """
    if member.card_number or member.status == MemberStatus.LEFT or member.erased_at is not None:
        return member
    locked = Member.objects.select_for_update().select_related("org").get(pk=member.pk)
    if locked.card_number or locked.status == MemberStatus.LEFT or locked.erased_at is not None:
        return locked
    locked.card_number = issue_card_number(locked.org)
    locked.save(update_fields=["card_number", "updated_at"])
    audit.record("card.issue", actor=actor, obj=locked, details={"card_number": locked.card_number})
    return locked
