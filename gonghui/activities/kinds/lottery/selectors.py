"""Reads of a lottery: the public record (what anyone may download and verify), a member's
own entry and wins, and the organiser's winners list and export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from gonghui.activities.kinds.lottery import draw
from gonghui.activities.kinds.lottery.models import Draw, Entry, Prize, Win, WinStatus
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.pii import mask_mobile
from gonghui.members.models import Member

FORMAT = "gonghui-lottery/1"


def draw_record(activity: Activity) -> Draw | None:
    return Draw.objects.filter(activity=activity).first()


def prizes(activity: Activity) -> list[Prize]:
    return list(Prize.objects.filter(activity=activity).select_related("coupon_template").order_by("order", "pk"))


def entries_public(activity: Activity) -> bool:
    """The entry list is published once entries have closed (it cannot change any more)."""
    return activity.state in (ActivityState.CLOSED, ActivityState.ARCHIVED)


def entry_codes(activity: Activity) -> list[str]:
    return sorted(Entry.objects.filter(activity=activity).values_list("code", flat=True))


def entry_count(activity: Activity) -> int:
    return Entry.objects.filter(activity=activity).count()


def entry_of(activity: Activity, member: Member | None) -> Entry | None:
    if member is None:
        return None
    return Entry.objects.filter(activity=activity, member=member).first()


def wins_of(activity: Activity, member: Member | None) -> list[Win]:
    if member is None:
        return []
    return list(
        Win.objects.filter(activity=activity, entry__member=member)
        .select_related("prize", "coupon__template")  # the panel names each coupon's template
        .order_by("slot", "round")
    )


def all_wins(activity: Activity) -> list[Win]:
    return list(
        Win.objects.filter(activity=activity)
        .select_related("prize", "entry", "entry__member", "entry__member__org")
        .order_by("slot", "round")
    )


def public_record(activity: Activity) -> dict[str, Any]:
    """Everything needed to check the draw, and nothing that names a member.

    Before the activity ends: the commitment and the prizes. After: also the entry list.
    After the draw: also the seed and every round's winners by entry code.
    """
    record = draw_record(activity)
    prize_list = prizes(activity)
    slot = 0
    prize_rows = []
    for prize in prize_list:
        prize_rows.append({"order": prize.order, "name": prize.name, "quantity": prize.quantity, "first_slot": slot})
        slot += prize.quantity
    data: dict[str, Any] = {
        "format": FORMAT,
        "algorithm": draw.ALGORITHM,
        "activity_id": activity.pk,
        "title": activity.title,
        "organiser": activity.org.name,
        "state": activity.state,
        "entries_close_at": activity.ends_at.isoformat(),
        "commitment": record.commitment if record else None,
        "committed_at": record.committed_at.isoformat() if record else None,
        "prizes": prize_rows,
        "slot_count": slot,
        "entry_count": entry_count(activity),
        "entries": None,
        "entries_sha256": None,
        "seed": None,
        "drawn_at": None,
        "rounds": [],
    }
    if entries_public(activity):
        codes = entry_codes(activity)
        data["entries"] = codes
        data["entries_sha256"] = draw.entries_digest(codes)
    if record is not None and record.is_drawn:
        data["seed"] = record.seed_hex
        data["drawn_at"] = record.drawn_at.isoformat() if record.drawn_at else None
        data["entries_sha256"] = record.entries_sha256
        rounds: dict[int, list[dict[str, Any]]] = {0: []}  # the draw, even with nobody to draw
        for win in all_wins(activity):
            rounds.setdefault(win.round, []).append(
                {"slot": win.slot, "prize": win.prize.name, "code": win.entry.code, "status": win.status}
            )
        data["rounds"] = [
            {"round": r, "slots": [w["slot"] for w in winners], "winners": winners}
            for r, winners in sorted(rounds.items())
        ]
    return data


def entries_csv(activity: Activity) -> str:
    """The published entry list as CSV (one code a line, sorted), with a header."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["entry_code"])
    for code in entry_codes(activity):
        writer.writerow([code])
    return out.getvalue()


def current_winners(activity: Activity) -> list[Win]:
    """The live win of every slot (the newest round), in slot order."""
    latest: dict[int, Win] = {}
    for win in all_wins(activity):
        latest[win.slot] = win
    return [latest[s] for s in sorted(latest)]


def claim_counts(activity: Activity) -> dict[str, int]:
    counts = dict.fromkeys(WinStatus.values, 0)
    for status in Win.objects.filter(activity=activity).values_list("status", flat=True):
        counts[status] += 1
    return counts


def results(activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
    data = public_record(activity)
    data.pop("entries", None)  # the list is a separate download
    if for_organiser:
        data["claims"] = claim_counts(activity)
        data["winners"] = [
            {
                "slot": w.slot,
                "round": w.round,
                "prize": w.prize.name,
                "code": w.entry.code,
                "name": w.entry.member.name,
                "union": w.entry.member.org.name,
                "status": w.status,
            }
            for w in all_wins(activity)
        ]
    return data


EXPORT_HEADERS = [
    "名额序号",
    "轮次",
    "奖品",
    "参与码",
    "姓名",
    "所属工会",
    "手机号",
    "状态",
    "领奖码",
    "领奖期限",
    "确认时间",
    "兑奖时间",
]


def _local(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else ""


def winners_export(activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
    labels = dict(WinStatus.choices)
    rows = [
        [
            w.slot + 1,
            w.round,
            w.prize.name,
            w.entry.code,
            w.entry.member.name,
            w.entry.member.org.name,
            mask_mobile(w.entry.member.mobile or ""),
            str(labels.get(w.status, w.status)),
            w.claim_code,
            _local(w.claim_deadline),
            _local(w.claimed_at),
            _local(w.handed_over_at),
        ]
        for w in all_wins(activity)
    ]
    return EXPORT_HEADERS, rows
