"""The lottery's drawing algorithm, ``gonghui-lottery-v1`` (pure functions, no database).

Specified in docs/ACTIVITIES.md ("抽奖 lottery") and reimplemented independently by
scripts/verify_lottery.py; change neither without the other and a new version name.

- Commitment: ``sha256(seed)`` of the 32 raw seed bytes, as lowercase hex.
- Pool: the entry codes sorted by Unicode code point (the codes are ASCII).
- Slots: every prize's units in prize order (``order``, then id): slot 0, 1, …, N-1.
- Pick for a slot from a pool of ``m`` codes: for ``counter`` = 0, 1, …, let
  ``x = int.from_bytes(HMAC-SHA256(seed, message(counter)), "big")``; accept the first
  ``x < 2**256 - (2**256 % m)`` (rejection sampling: every index equally likely) and take
  ``index = x % m``; the code at that index leaves the pool (the others keep their order).
  The message is ``f"draw:{slot}:{counter}"`` in the draw (round 0) and
  ``f"redraw:{round}:{slot}:{counter}"`` in redraw round ``round`` ≥ 1, ASCII-encoded.
- The draw fills slots 0…N-1 in order until the pool is empty.
- Redraw round r: the slots whose winner let the claim deadline pass, in ascending slot
  order, from the pool of every code that has not won in any earlier round.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

ALGORITHM = "gonghui-lottery-v1"
SEED_BYTES = 32
_SPACE = 1 << 256
# Entry codes: 12 characters from 31 unambiguous letters and digits (≈ 59 bits).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 12


def new_seed() -> bytes:
    return secrets.token_bytes(SEED_BYTES)


def commitment(seed: bytes) -> str:
    return hashlib.sha256(seed).hexdigest()


def new_entry_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def entries_digest(codes: Iterable[str]) -> str:
    """SHA-256 of the published entry list: the sorted codes joined by newlines."""
    return hashlib.sha256("\n".join(sorted(codes)).encode("ascii")).hexdigest()


def pick_index(seed: bytes, prefix: str, m: int) -> int:
    """A uniform index in ``range(m)`` from ``HMAC-SHA256(seed, f"{prefix}:{counter}")``."""
    if m <= 0:
        raise ValueError("empty pool")
    limit = _SPACE - (_SPACE % m)
    counter = 0
    while True:
        mac = hmac.new(seed, f"{prefix}:{counter}".encode("ascii"), hashlib.sha256).digest()
        x = int.from_bytes(mac, "big")
        if x < limit:
            return x % m
        counter += 1


def _fill(seed: bytes, pool: list[str], slots: Sequence[int], prefix: str) -> dict[int, str]:
    winners: dict[int, str] = {}
    for slot in slots:
        if not pool:
            break
        index = pick_index(seed, f"{prefix}{slot}", len(pool))
        winners[slot] = pool.pop(index)
    return winners


def draw_winners(seed: bytes, codes: Iterable[str], slot_count: int) -> dict[int, str]:
    """Round 0: slot → winning code, for slots ``0 … slot_count-1`` while codes last."""
    return _fill(seed, sorted(codes), range(slot_count), "draw:")


def redraw_winners(
    seed: bytes, codes: Iterable[str], already_won: Iterable[str], round_no: int, slots: Iterable[int]
) -> dict[int, str]:
    """Redraw round ``round_no`` (≥ 1) of ``slots`` among codes that never won."""
    if round_no < 1:
        raise ValueError("redraw rounds start at 1")
    excluded = set(already_won)
    pool = sorted(c for c in codes if c not in excluded)
    return _fill(seed, pool, sorted(slots), f"redraw:{round_no}:")
