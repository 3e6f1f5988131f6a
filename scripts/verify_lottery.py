#!/usr/bin/env python3
"""Recompute a Gonghui lottery's winners from its public record (gonghui-lottery-v1).

An independent check: the Python standard library only, no Gonghui or Django code. Give
it the JSON that the activity's results page or ``GET /api/v1/activities/{id}/lottery/
public`` publishes (a file path, a URL, or ``-`` for stdin):

    python3 scripts/verify_lottery.py record.json
    python3 scripts/verify_lottery.py https://example.org/a/12/lottery/record.json \\
        --commitment 5c1e…   # the commitment you saw on the page before entries closed

It checks that SHA-256(seed) equals the commitment, that the entry list matches its
published digest, and that every round of winners (the draw and each redraw of an
unclaimed prize) is exactly what the algorithm gives. Exit status 0 when everything
matches, 1 with the reasons when anything does not, 2 when the record is unusable.

The algorithm (docs/ACTIVITIES.md, "抽奖 lottery"):
  pool  = entry codes sorted by code point
  slots = 0 … N-1, N = sum of prize quantities, prizes in published order
  pick(prefix, m): for counter = 0, 1, …: x = int(HMAC-SHA256(seed, f"{prefix}:{counter}"))
                   (big-endian); accept x < 2**256 - 2**256 % m; index = x % m
  draw:     for slot in 0…N-1 while pool: winner = pool.pop(pick(f"draw:{slot}", len(pool)))
  redraw r: pool = sorted codes that never won before round r;
            for slot in round r's slots, ascending, while pool:
                winner = pool.pop(pick(f"redraw:{r}:{slot}", len(pool)))
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import urllib.request
from typing import Any

ALGORITHM = "gonghui-lottery-v1"
SPACE = 1 << 256


def pick(seed: bytes, prefix: str, m: int) -> int:
    limit = SPACE - SPACE % m
    counter = 0
    while True:
        message = f"{prefix}:{counter}".encode("ascii")
        x = int.from_bytes(hmac.new(seed, message, hashlib.sha256).digest(), "big")
        if x < limit:
            return x % m
        counter += 1


def run_round(seed: bytes, pool: list[str], slots: list[int], label: str) -> dict[int, str]:
    winners: dict[int, str] = {}
    for slot in slots:
        if not pool:
            break
        winners[slot] = pool.pop(pick(seed, f"{label}{slot}", len(pool)))
    return winners


def load(source: str) -> dict[str, Any]:
    if source == "-":
        text = sys.stdin.read()
    elif source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:  # noqa: S310 (the user's URL)
            text = response.read().decode("utf-8")
    else:
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("the record is not a JSON object")
    return data


def verify(
    data: dict[str, Any], commitment: str | None = None, computed_rounds: list[dict[str, Any]] | None = None
) -> tuple[list[str], list[str]]:
    """(problems, notes): an empty problem list means the draw checks out.

    ``computed_rounds`` (if given) receives what this script computed, round by round.
    """
    problems: list[str] = []
    notes: list[str] = []
    if computed_rounds is None:
        computed_rounds = []
    if data.get("algorithm") != ALGORITHM:
        problems.append(f"unknown algorithm {data.get('algorithm')!r} (this script checks {ALGORITHM})")
        return problems, notes
    seed_hex = data.get("seed")
    entries = data.get("entries")
    if not seed_hex or entries is None:
        problems.append("the seed or the entry list is not published yet (has the draw happened?)")
        return problems, notes
    seed = bytes.fromhex(seed_hex)
    published = str(data.get("commitment") or "").lower()
    actual = hashlib.sha256(seed).hexdigest()
    if actual != published:
        problems.append(f"SHA-256(seed) = {actual} but the record's commitment is {published}")
    if commitment is not None and actual != commitment.strip().lower():
        problems.append(f"SHA-256(seed) = {actual} but the commitment you recorded is {commitment}")
    codes = [str(c) for c in entries]
    if len(set(codes)) != len(codes):
        problems.append("the entry list contains a code twice")
    digest = hashlib.sha256("\n".join(sorted(codes)).encode("ascii")).hexdigest()
    if data.get("entries_sha256") and digest != data["entries_sha256"]:
        problems.append(f"the entry list hashes to {digest}, the record says {data['entries_sha256']}")
    slot_count = sum(int(p["quantity"]) for p in data.get("prizes", []))
    prize_of: dict[int, str] = {}
    for prize in data.get("prizes", []):
        for i in range(int(prize["quantity"])):
            prize_of[int(prize["first_slot"]) + i] = str(prize["name"])
    if len(prize_of) != slot_count or sorted(prize_of) != list(range(slot_count)):
        problems.append("the prizes' slots do not number 0 … N-1 without gaps")

    rounds = sorted(data.get("rounds", []), key=lambda r: int(r["round"]))
    if not rounds or int(rounds[0]["round"]) != 0:
        problems.append("the record has no draw (round 0)")
        return problems, notes
    won_before: set[str] = set()
    live: dict[int, dict[str, Any]] = {}  # slot → the winner row of the newest round so far
    for expected_round, published_round in enumerate(rounds):
        r = int(published_round["round"])
        if r != expected_round:
            problems.append(f"round {expected_round} is missing (found round {r})")
            break
        if r == 0:
            pool = sorted(codes)
            slots = list(range(slot_count))
            computed = run_round(seed, pool, slots, "draw:")
        else:
            slots = sorted(int(s) for s in published_round["slots"])
            for slot in slots:
                previous = live.get(slot)
                if previous is None or previous.get("status") != "redrawn":
                    problems.append(f"round {r} redraws slot {slot}, whose winner was not marked redrawn")
            pool = sorted(c for c in codes if c not in won_before)
            computed = run_round(seed, pool, slots, f"redraw:{r}:")
        computed_rounds.append({"round": r, "winners": {str(k): v for k, v in sorted(computed.items())}})
        claimed = {int(w["slot"]): w for w in published_round["winners"]}
        for slot in sorted(set(computed) | set(claimed)):
            want = computed.get(slot)
            got = claimed.get(slot, {}).get("code")
            if want != got:
                problems.append(f"round {r} slot {slot}: the algorithm gives {want}, the record says {got}")
            elif slot in prize_of and claimed[slot].get("prize") != prize_of[slot]:
                problems.append(
                    f"round {r} slot {slot}: prize {claimed[slot].get('prize')!r}, expected {prize_of[slot]!r}"
                )
        for slot, row in claimed.items():
            live[slot] = row
            won_before.add(str(row.get("code")))
        notes.append(f"round {r}: {len(computed)} winner(s) recomputed")
    return problems, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Gonghui lottery draw from its public record.")
    parser.add_argument("record", help="the public record JSON: a file, a URL, or - for stdin")
    parser.add_argument("--commitment", help="the commitment (hex) you recorded before entries closed")
    parser.add_argument("--quiet", action="store_true", help="print only problems")
    parser.add_argument("--json", action="store_true", help="print the result and the recomputed winners as JSON")
    args = parser.parse_args(argv)
    computed: list[dict[str, Any]] = []
    try:
        data = load(args.record)
        problems, notes = verify(data, args.commitment, computed)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"cannot read the record: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"ok": not problems, "problems": problems, "rounds": computed}, ensure_ascii=False))
        return 1 if problems else 0
    if problems:
        for problem in problems:
            print(f"MISMATCH: {problem}")
        return 1
    if not args.quiet:
        print(f"OK: {data.get('title', '')} — {len(data['entries'])} entries, commitment {data['commitment']}")
        for note in notes:
            print(f"  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
