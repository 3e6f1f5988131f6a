"""Member card numbers: ``<prefix><6-digit region><8-digit serial>``.

The prefix is configurable per province (``MEMBER_CARD_PREFIXES``, falling back to
``MEMBER_CARD_PREFIX``); serials come from one counter row per prefix, taken under a row
lock so concurrent approvals never share a number.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from gonghui.members.models import CardSequence, Member
from gonghui.orgs.models import Org

SERIAL_DIGITS = 8


def prefix_for(org: Org) -> str:
    province = (org.region_code or "")[:2]
    prefixes: dict[str, str] = settings.MEMBER_CARD_PREFIXES
    return prefixes.get(province, settings.MEMBER_CARD_PREFIX)


def _region(org: Org) -> str:
    code = org.region_code or ""
    return code if len(code) == 6 and code.isdigit() else "000000"


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
