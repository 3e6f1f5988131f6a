"""The lottery acceptance: the draw and its redraws, recomputed by the independent script.

The public record is downloaded the way anyone would (the API without a login, and the
results page's JSON download), written to a file, and checked by running
scripts/verify_lottery.py as a subprocess; its recomputed winners must equal the Win
rows in the database, round by round. Changing the seed or the entry list must make the
script fail.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions, draw
from gonghui.activities.kinds.lottery.models import Draw, Entry, Win, WinStatus
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Activity
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db

VERIFIER = Path(settings.BASE_DIR) / "scripts" / "verify_lottery.py"


def public_json(activity: Activity) -> dict[str, Any]:
    response = Client().get(f"/api/v1/activities/{activity.pk}/lottery/public")
    assert response.status_code == 200, response.content
    data: dict[str, Any] = response.json()
    return data


def run_verifier(tmp_path: Path, data: dict[str, Any], *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"record-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return subprocess.run(  # noqa: S603 (our own script, a fixed interpreter)
        [sys.executable, "-I", str(VERIFIER), str(path), "--json", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stored_rounds(activity: Activity) -> list[dict[str, Any]]:
    rounds: dict[int, dict[str, str]] = {}
    for win in Win.objects.filter(activity=activity).select_related("entry").order_by("round", "slot"):
        rounds.setdefault(win.round, {})[str(win.slot)] = win.entry.code
    return [{"round": r, "winners": winners} for r, winners in sorted(rounds.items())]


def test_winners_recomputed_by_the_independent_script_match_including_redraws(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tmp_path: Path
) -> None:
    activity = make_lottery()  # 1 + 2 + 3 = 6 prize slots
    people = members(15)

    # Before anyone enters: the commitment is public, the seed and the list are not.
    before = public_json(activity)
    commitment = before["commitment"]
    assert len(commitment) == 64 and before["seed"] is None and before["entries"] is None
    record = Draw.objects.get(activity=activity)
    assert record.seed_hex == "" and commitment.encode() not in bytes(record.seed_enc)

    for member in people:
        actions.enter(member=member, activity=activity)
    assert public_json(activity)["entries"] is None  # not while entries are open

    activity_actions.close_activity(actor=None, activity=activity)  # the draw runs on close
    drawn = public_json(activity)
    seed = bytes.fromhex(drawn["seed"])
    assert hashlib.sha256(seed).hexdigest() == commitment == drawn["commitment"]
    assert len(drawn["entries"]) == 15 and drawn["slot_count"] == 6
    assert Win.objects.filter(activity=activity, round=0).count() == 6

    # The first prize's winner claims in time; the other five let the deadline pass.
    first = Win.objects.select_related("entry__member").get(activity=activity, slot=0)
    actions.claim(member=first.entry.member, win=first)
    assert actions.redraw_unclaimed(now=timezone.now() + timedelta(days=8)) == [activity.pk]
    assert Win.objects.filter(activity=activity, round=1).count() == 5
    assert set(Win.objects.filter(activity=activity, round=0).values_list("status", flat=True)) == {
        WinStatus.CLAIMED,
        WinStatus.REDRAWN,
    }
    # Round 2: the four codes that never won share five slots; the last slot expires.
    actions.redraw_unclaimed(now=timezone.now() + timedelta(days=16))
    assert Win.objects.filter(activity=activity, round=2).count() == 4
    assert Win.objects.filter(activity=activity, round=1, status=WinStatus.EXPIRED).count() == 1
    assert Win.objects.filter(activity=activity).values("entry").distinct().count() == 15

    final = public_json(activity)
    result = run_verifier(tmp_path, final, "--commitment", commitment)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["rounds"] == stored_rounds(activity)
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]

    # The results page's JSON download is the same record.
    page_copy = Client().get(f"/a/{activity.pk}/lottery/record.json")
    assert page_copy.status_code == 200
    times = ("committed_at", "entries_close_at", "drawn_at")  # the same instants, formatted differently
    strip = lambda d: {k: v for k, v in d.items() if k not in times}  # noqa: E731
    assert strip(json.loads(page_copy.content)) == strip(final)

    # --- tampering ---------------------------------------------------------------------
    other_seed = {**final, "seed": draw.new_seed().hex()}
    assert run_verifier(tmp_path, other_seed).returncode == 1
    # A new seed with a matching commitment passes the record's own check, but not the
    # commitment the member wrote down before entries closed.
    forged_seed = draw.new_seed()
    forged = {**final, "seed": forged_seed.hex(), "commitment": draw.commitment(forged_seed)}
    assert run_verifier(tmp_path, forged, "--commitment", commitment).returncode == 1

    winner_code = final["rounds"][0]["winners"][0]["code"]
    dropped = [c for c in final["entries"] if c != winner_code]
    without_winner = {**final, "entries": dropped, "entries_sha256": draw.entries_digest(dropped)}
    result = run_verifier(tmp_path, without_winner)
    assert result.returncode == 1 and "round 0" in result.stdout

    # The same slot position held by another code: the recomputed winner is that code.
    swapped = sorted([*dropped, winner_code[:-1] + ("2" if winner_code[-1] != "2" else "3")])
    assert len(swapped) == len(final["entries"])
    result = run_verifier(tmp_path, {**final, "entries": swapped, "entries_sha256": draw.entries_digest(swapped)})
    assert result.returncode == 1

    # A list changed without its digest is caught by the digest alone.
    extra = [*final["entries"], "ZZZZZZZZZZZZ"]
    result = run_verifier(tmp_path, {**final, "entries": extra})
    assert result.returncode == 1 and "hashes to" in result.stdout


def test_the_script_and_the_server_agree_on_many_random_draws() -> None:
    """The same algorithm written twice: outputs must agree for any seed and list."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("verify_lottery", VERIFIER)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for n, slots in ((1, 1), (2, 5), (7, 3), (50, 50), (300, 17)):
        seed = draw.new_seed()
        codes = [draw.new_entry_code() for _ in range(n)]
        server = draw.draw_winners(seed, codes, slots)
        assert server == script.run_round(seed, sorted(codes), list(range(slots)), "draw:")
        assert len(server) == min(n, slots) and len(set(server.values())) == len(server)
        redo = draw.redraw_winners(seed, codes, server.values(), 1, list(server)[:3])
        pool = sorted(c for c in codes if c not in set(server.values()))
        assert redo == script.run_round(seed, pool, sorted(list(server)[:3]), "redraw:1:")


def test_pick_index_is_uniform_enough_over_small_pools() -> None:
    seed = bytes(range(32))
    counts = [0] * 5
    for slot in range(5000):
        counts[draw.pick_index(seed, f"draw:{slot}", 5)] += 1
    assert all(900 < c < 1100 for c in counts), counts


def test_a_lottery_without_entries_draws_nobody_and_still_verifies(
    make_lottery: LotteryFactory, tmp_path: Path
) -> None:
    activity = make_lottery()
    activity_actions.close_activity(actor=None, activity=activity)
    data = public_json(activity)
    assert data["seed"] and data["entries"] == [] and Win.objects.filter(activity=activity).count() == 0
    assert data["rounds"] == [{"round": 0, "slots": [], "winners": []}]
    assert run_verifier(tmp_path, data).returncode == 0


def test_fewer_entries_than_prizes_fill_the_first_slots(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], tmp_path: Path
) -> None:
    activity = make_lottery()
    for member in members(4):
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    assert sorted(Win.objects.filter(activity=activity).values_list("slot", flat=True)) == [0, 1, 2, 3]
    assert Entry.objects.filter(activity=activity).count() == 4
    result = run_verifier(tmp_path, public_json(activity))
    assert result.returncode == 0, result.stdout
