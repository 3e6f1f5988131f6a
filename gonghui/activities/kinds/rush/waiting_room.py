"""The waiting room (排队): admit members to the grab at a sustainable rate.

When the doors open, far more members arrive in the first second than the database
should serve at once. Every arrival takes a ticket number from an atomic counter in the
cache (Redis in production); the room admits tickets up to

    admitted_up_to = rate × seconds since opening + burst

so while arrivals stay under the rate everyone walks straight in, and a crowd is let in
at ``rate`` per second in arrival order. A member above the line gets a signed
*admission token* carrying their ticket, sees their place (ticket − admitted_up_to) and
an estimated wait, and the page polls with the token; once the line passes their ticket
the same token is their proof of admission. It is signed with the secret key and names
the activity and the member, so nobody skips the queue by calling the grab endpoint
directly (without a token the endpoint only hands out a ticket at the back) or by
editing the number.

The cache is never needed for correctness: the grab itself is one conditional UPDATE
that cannot oversell. If the cache is down, nobody gets a ticket and everyone goes
straight to the grab. With the default local-memory cache each web process keeps its own
counter, so the room admits ``rate`` per second *per process*; use Redis (``REDIS_URL``)
to make it one room.

A member keeps their ticket for the activity (it is remembered in the cache), so
reloading the page or calling again does not send them to the back, nor forward.

Sold out: the first grab that finds no stock sets a flag in the cache, and everyone still
waiting is told 已抢完 on their next poll (and nobody new queues).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils import timezone

from gonghui.activities.models import Activity
from gonghui.core.errors import DomainError

logger = logging.getLogger(__name__)

SALT = "gonghui.activities.rush.admission"
# Counters and remembered tickets outlive any rush; sold-out flags are short so that a
# unit returned by a cancellation is offered again soon even if clearing the flag failed.
TICKET_TTL = 24 * 3600
SOLD_OUT_TTL = 30


class AdmissionInvalid(DomainError):
    code = "RUSH_ADMISSION_INVALID"
    status = 400


@dataclass(frozen=True)
class Admission:
    """Where a member stands: ``admitted`` (go and grab) or waiting at ``place``."""

    admitted: bool
    ticket: int | None = None  # None: the room is not in use (no cache), straight in
    place: int = 0  # members ahead who are not admitted yet
    wait_seconds: int = 0
    token: str = ""


def rate(activity: Activity) -> int:
    """Members admitted per second: the activity's own setting, else RUSH_ADMIT_RATE."""
    value = activity.setting("admit_rate") or settings.RUSH_ADMIT_RATE
    return max(int(value), 1)


def burst(activity: Activity) -> int:
    return max(int(settings.RUSH_ADMIT_BURST), 0)


def admitted_up_to(activity: Activity, now: datetime | None = None) -> int:
    """The highest ticket number admitted at ``now`` (grows with the clock, never shrinks)."""
    now = now or timezone.now()
    elapsed = max((now - activity.starts_at).total_seconds(), 0.0)
    return int(rate(activity) * elapsed) + burst(activity)


def _counter_key(activity_id: int) -> str:
    return f"rush:{activity_id}:tickets"


def _member_key(activity_id: int, member_id: int) -> str:
    return f"rush:{activity_id}:ticket:{member_id}"


def sold_out_key(activity_id: int, item_id: int | None = None) -> str:
    return f"rush:{activity_id}:soldout" if item_id is None else f"rush:{activity_id}:soldout:{item_id}"


def take_ticket(activity: Activity, member_id: int) -> int | None:
    """The member's ticket number (their earlier one if they have one); None if the cache fails."""
    try:
        key = _member_key(activity.pk, member_id)
        existing = cache.get(key)
        if existing is not None:
            return int(existing)
        counter = _counter_key(activity.pk)
        cache.add(counter, 0, TICKET_TTL)
        ticket = int(cache.incr(counter))
        if not cache.add(key, ticket, TICKET_TTL):
            # A second request of the same member won the race: keep one ticket per member.
            return int(cache.get(key) or ticket)
        return ticket
    except Exception:  # the cache is an optimisation here, never a reason to fail a grab
        logger.warning("rush waiting room: cache unavailable, admitting directly", exc_info=True)
        return None


def token_for(activity: Activity, member_id: int, ticket: int) -> str:
    return signing.dumps({"a": activity.pk, "m": member_id, "t": ticket}, salt=SALT, compress=False)


def ticket_from_token(activity: Activity, member_id: int, token: str) -> int:
    """The ticket a genuine token of this member for this activity carries, else AdmissionInvalid."""
    try:
        data: Any = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        raise AdmissionInvalid(message="排队凭证无效，请重新进入抢票页面。") from None
    if not isinstance(data, dict) or data.get("a") != activity.pk or data.get("m") != member_id:
        raise AdmissionInvalid(message="排队凭证不属于您或本活动，请重新进入抢票页面。")
    ticket = data.get("t")
    if not isinstance(ticket, int) or ticket < 1:
        raise AdmissionInvalid(message="排队凭证无效，请重新进入抢票页面。")
    return ticket


def standing(activity: Activity, member_id: int, ticket: int, now: datetime | None = None) -> Admission:
    line = admitted_up_to(activity, now)
    token = token_for(activity, member_id, ticket)
    if ticket <= line:
        return Admission(admitted=True, ticket=ticket, token=token)
    place = ticket - line
    return Admission(
        admitted=False, ticket=ticket, place=place, wait_seconds=math.ceil(place / rate(activity)), token=token
    )


def arrive(activity: Activity, member_id: int, token: str = "", now: datetime | None = None) -> Admission:
    """Admit the member now, or tell them their place.

    With a token: its ticket (a forged or foreign token raises ``AdmissionInvalid``).
    Without one: a ticket from the counter (or their remembered one); no cache, no room.
    """
    if token:
        return standing(activity, member_id, ticket_from_token(activity, member_id, token), now)
    ticket = take_ticket(activity, member_id)
    if ticket is None:
        return Admission(admitted=True)
    return standing(activity, member_id, ticket, now)


# A web process remembers a sold-out answer for this long: once the stock is gone, the
# crowd's requests are answered without a round trip to the cache. A hint like the flag
# itself — a unit a cancellation returns is offered again at most this much later.
LOCAL_SOLD_OUT_SECONDS = 1.0
_local_sold_out: dict[tuple[int, int | None], float] = {}


def sold_out(activity_id: int, item_id: int | None = None) -> bool:
    """Whether the cache says the activity (or one item) is sold out; False when unsure."""
    now = time.monotonic()
    for local in ((activity_id, None), (activity_id, item_id)):
        if _local_sold_out.get(local, 0.0) > now:
            return True
    keys = [sold_out_key(activity_id)] + ([sold_out_key(activity_id, item_id)] if item_id is not None else [])
    try:
        found = cache.get_many(keys)
    except Exception:
        logger.warning("rush waiting room: cache unavailable for the sold-out flag", exc_info=True)
        return False
    if found:
        which = (activity_id, None) if sold_out_key(activity_id) in found else (activity_id, item_id)
        _local_sold_out[which] = now + LOCAL_SOLD_OUT_SECONDS
    return bool(found)


def mark_sold_out(activity_id: int, item_id: int, *, everything: bool) -> None:
    values = {sold_out_key(activity_id, item_id): 1}
    if everything:
        values[sold_out_key(activity_id)] = 1
    try:
        cache.set_many(values, SOLD_OUT_TTL)
    except Exception:
        logger.warning("rush waiting room: could not set the sold-out flag", exc_info=True)


def forget_local(activity_id: int | None = None) -> None:
    """Drop this process's remembered sold-out answers (of one activity, or all)."""
    for key in list(_local_sold_out):
        if activity_id is None or key[0] == activity_id:
            _local_sold_out.pop(key, None)


def clear_sold_out(activity_id: int, item_id: int) -> None:
    """Stock came back (a cancellation): offer it again."""
    forget_local(activity_id)
    try:
        cache.delete_many([sold_out_key(activity_id), sold_out_key(activity_id, item_id)])
    except Exception:
        logger.warning("rush waiting room: could not clear the sold-out flag", exc_info=True)
