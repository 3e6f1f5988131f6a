"""Every change the vote kind makes: candidates (organiser), ballots (member), mixing.

The cast path is the hot path of the platform (a 评选 can see 400,000 ballots): it reads
the activity from a short-lived cached snapshot, checks the member in Python, and writes
a handful of rows in one short transaction whose last line is a unique constraint. No
audit row per ballot: the ballot and the participation row are the record.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities import eligibility
from gonghui.activities.eligibility import NotEligible
from gonghui.activities.kinds.vote import groupcommit, selectors
from gonghui.activities.kinds.vote.kind import VoteRules
from gonghui.activities.kinds.vote.models import (
    ONCE_DAY,
    Ballot,
    BallotChoice,
    Candidate,
    SecretBallot,
    SecretChoice,
    StagedBallot,
)
from gonghui.activities.models import Activity, ActivityState, ActivityStatus
from gonghui.activities.passes import Pass
from gonghui.core import audit, pii
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members.models import Member

PHOTO_MAX_BYTES = 2 * 1024 * 1024
PHOTO_TYPES = {"image/png", "image/jpeg", "image/webp"}
RECEIPT_LENGTH = 12
_random = secrets.SystemRandom()


# --- candidates (organiser) ------------------------------------------------------------


def forget_cached(activity_id: int) -> None:
    cache.delete_many([selectors.snapshot_key(activity_id), selectors.tally_key(activity_id)])
    selectors.forget_local(activity_id)


def _editable(activity: Activity) -> Activity:
    locked = activity_actions.lock(activity)
    if locked.kind != "vote":
        raise Conflict("VOTE_WRONG_KIND", "这不是投票活动。")
    if locked.state not in (ActivityState.DRAFT, ActivityState.PUBLISHED):
        raise Conflict("VOTE_CANDIDATES_FROZEN", "投票已开始：候选人不能再修改。")
    return locked


def _check_photo(upload: Any) -> None:
    from PIL import Image, UnidentifiedImageError

    if upload.size > PHOTO_MAX_BYTES:
        raise InvalidValue("VOTE_PHOTO_TOO_LARGE", "照片不能超过 2 MB。", field="photo")
    if getattr(upload, "content_type", None) not in PHOTO_TYPES:
        raise InvalidValue("VOTE_PHOTO_TYPE", "照片只能是 PNG、JPEG 或 WebP 图片。", field="photo")
    try:
        with Image.open(upload) as image:
            image.verify()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidValue("VOTE_PHOTO_INVALID", "照片不是有效的图片文件。", field="photo") from exc
    finally:
        upload.seek(0)


def _clean_candidate(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if "name" in values:
        clean["name"] = str(values["name"] or "").strip()
        if not clean["name"]:
            raise InvalidValue("VOTE_CANDIDATE_NAME", "请填写候选人（选项）名称。", field="name")
        if len(clean["name"]) > 80:
            raise InvalidValue("VOTE_CANDIDATE_NAME", "名称不能超过 80 个字。", field="name")
    if "text" in values:
        clean["text"] = str(values["text"] or "").strip()
        if len(clean["text"]) > 2000:
            raise InvalidValue("VOTE_CANDIDATE_TEXT", "介绍不能超过 2000 个字。", field="text")
    return clean


@transaction.atomic
def add_candidate(*, actor: Any, activity: Activity, values: dict[str, Any], photo: Any = None) -> Candidate:
    locked = _editable(activity)
    clean = _clean_candidate({"name": values.get("name", ""), "text": values.get("text", "")})
    if Candidate.objects.filter(activity=locked).count() >= 500:
        raise Conflict("VOTE_TOO_MANY_CANDIDATES", "候选人不能超过 500 个。")
    last = Candidate.objects.filter(activity=locked).order_by("-order").values_list("order", flat=True).first()
    candidate = Candidate(activity=locked, order=(last or 0) + 1, **clean)
    if photo is not None:
        _check_photo(photo)
        candidate.photo.save(photo.name, photo, save=False)
    candidate.save()
    audit.record(
        "activity_vote.candidate_add", actor=actor, obj=locked, org=locked.org, details={"candidate": candidate.name}
    )
    transaction.on_commit(lambda: forget_cached(locked.pk))
    return candidate


@transaction.atomic
def update_candidate(
    *, actor: Any, candidate: Candidate, values: dict[str, Any], photo: Any = None, clear_photo: bool = False
) -> Candidate:
    locked = _editable(candidate.activity)
    current = Candidate.objects.select_for_update().get(pk=candidate.pk, activity=locked)
    clean = _clean_candidate(values)
    changed = [k for k, v in clean.items() if getattr(current, k) != v]
    for key in changed:
        setattr(current, key, clean[key])
    if photo is not None:
        _check_photo(photo)
        current.photo.save(photo.name, photo, save=False)
        changed.append("photo")
    elif clear_photo and current.photo:
        current.photo = None  # type: ignore[assignment]
        changed.append("photo")
    if changed:
        current.save(update_fields=changed)
        audit.record(
            "activity_vote.candidate_update",
            actor=actor,
            obj=locked,
            org=locked.org,
            details={"candidate": current.name, "fields": sorted(changed)},
        )
        transaction.on_commit(lambda: forget_cached(locked.pk))
    return current


@transaction.atomic
def remove_candidate(*, actor: Any, candidate: Candidate) -> None:
    locked = _editable(candidate.activity)
    name = candidate.name
    Candidate.objects.filter(pk=candidate.pk, activity=locked).delete()
    audit.record("activity_vote.candidate_remove", actor=actor, obj=locked, org=locked.org, details={"candidate": name})
    transaction.on_commit(lambda: forget_cached(locked.pk))


@transaction.atomic
def reorder_candidates(*, actor: Any, activity: Activity, ordered_ids: list[int]) -> None:
    """Put the candidates in this order (ids of this vote's candidates, each once)."""
    locked = _editable(activity)
    existing = {c.pk: c for c in Candidate.objects.filter(activity=locked)}
    if sorted(ordered_ids) != sorted(existing):
        raise InvalidValue("VOTE_ORDER_MISMATCH", "排序须包含本投票的全部候选人，且每个只出现一次。")
    for position, pk in enumerate(ordered_ids, start=1):
        existing[pk].order = position
    Candidate.objects.bulk_update(existing.values(), ["order"])
    audit.record("activity_vote.candidate_reorder", actor=actor, obj=locked, org=locked.org)
    transaction.on_commit(lambda: forget_cached(locked.pk))


# --- casting (member) -------------------------------------------------------------------


@dataclass
class CastResult:
    """What the voter is told. ``receipt`` only for a secret ballot (shown once, kept nowhere
    with the voter); ``ballot_id``/``day``/``seq`` only for an open ballot."""

    candidate_ids: list[int]
    receipt: str = ""
    ballot_id: int | None = None
    day: date | None = None
    seq: int | None = None
    remaining_today: int = 0
    replayed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _clean_choices(rules: VoteRules, valid: frozenset[int], candidate_ids: list[int]) -> list[int]:
    ids = sorted({int(c) for c in candidate_ids})
    if len(ids) != len(candidate_ids):
        raise InvalidValue("VOTE_DUPLICATE_CHOICE", "同一张选票不能重复选择同一候选人。")
    unknown = [c for c in ids if c not in valid]
    if unknown:
        raise InvalidValue("VOTE_UNKNOWN_CANDIDATE", "所选候选人不属于本投票。", candidates=unknown)
    if not rules.min_choices <= len(ids) <= rules.max_choices:
        if rules.min_choices == rules.max_choices:
            message = f"请选择 {rules.min_choices} 项。"
        else:
            message = f"请选择 {rules.min_choices} 至 {rules.max_choices} 项。"
        raise InvalidValue("VOTE_CHOICE_COUNT", message, min=rules.min_choices, max=rules.max_choices)
    return ids


def _still_open(activity_id: int) -> None:
    """Inside the cast transaction: the vote is still running (not closed early since the
    snapshot was cached). A primary-key read, no lock: a close that commits after this
    read finds the ballot when it mixes (the sweep catches a straggler)."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {_table(Activity)} WHERE id = %s AND status = %s AND starts_at <= %s AND ends_at > %s",  # noqa: S608
            [activity_id, ActivityStatus.PUBLISHED.value, now, now],
        )
        if cursor.fetchone() is None:
            raise NotEligible("ACTIVITY_ENDED", "活动已结束。")


# The statements of casting an open ballot, in SQL: the vote is the hottest write of a
# campaign, and the ORM spent more CPU compiling each of them (≈ 0.3 ms) than the
# database spends running it (docs/PERFORMANCE.md). Table names are the models' own.


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _todays_choices(activity_id: int, member_id: int, day: date) -> list[tuple[int, int]]:
    """``(ballot_id, candidate_id)`` of the member's ballots on ``day``."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ballot_id, candidate_id FROM {_table(BallotChoice)} "  # noqa: S608
            "WHERE activity_id = %s AND member_id = %s AND day = %s",
            [activity_id, member_id, connection.ops.adapt_datefield_value(day)],
        )
        return list(cursor.fetchall())


def _insert_ballot(activity_id: int, member_id: int, day: date, seq: int, request_key: str, ids: list[int]) -> int:
    """The ballot and its choices; the ballot's id. Unique constraints raise ``IntegrityError``."""
    adapted_day = connection.ops.adapt_datefield_value(day)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {_table(Ballot)} (activity_id, member_id, day, seq, request_key, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            [
                activity_id,
                member_id,
                adapted_day,
                seq,
                request_key,
                connection.ops.adapt_datetimefield_value(timezone.now()),
            ],
        )
        ballot_id = int(cursor.fetchone()[0])
        cursor.execute(
            f"INSERT INTO {_table(BallotChoice)} (ballot_id, candidate_id, activity_id, member_id, day) VALUES "  # noqa: S608
            + ", ".join(["(%s, %s, %s, %s, %s)"] * len(ids)),
            [value for c in ids for value in (ballot_id, c, activity_id, member_id, adapted_day)],
        )
    return ballot_id


def cast_ballot(
    *, activity_id: int, member: Member | None, candidate_ids: list[int], request_key: str = ""
) -> CastResult:
    """Cast the member's ballot in vote ``activity_id``.

    Refusals: ``NotEligible`` (403: window, audience, ``ALREADY_VOTED``,
    ``VOTE_DAILY_LIMIT``), ``InvalidValue`` (choices), ``Conflict`` ``VOTE_CANDIDATE_TODAY``.
    """
    snap = selectors.snapshot(activity_id)
    if snap is None:
        raise NotEligible("ACTIVITY_NOT_PUBLISHED", "活动不存在或尚未发布。")
    activity = snap.activity
    # eligibility.require without the kind's own check: that one is done below from the
    # same rows the insert needs (one query instead of two on the hot path).
    if member is None:
        raise NotEligible("NOT_A_MEMBER", "请先登录并完成入会，会员才能参加活动。")
    for answer in (eligibility.window(activity), eligibility.in_audience(activity, member)):
        if not answer:
            raise NotEligible(answer.code, answer.reason)
    return _cast(snap, member.pk, member.org_path, candidate_ids, request_key)


def cast_with_pass(*, activity_id: int, granted: Pass, candidate_ids: list[int], request_key: str = "") -> CastResult:
    """``cast_ballot`` on the hot lane: the member and the audience were checked when the
    pass was issued (``activities.passes``); the window, the choices and the member's own
    limits are checked here exactly as on the session path."""
    snap = selectors.snapshot(activity_id)
    if snap is None:
        raise NotEligible("ACTIVITY_NOT_PUBLISHED", "活动不存在或尚未发布。")
    answer = eligibility.window(snap.activity)
    if not answer:
        raise NotEligible(answer.code, answer.reason)
    return _cast(snap, granted.member_id, granted.org_path, candidate_ids, request_key)


def _cast(
    snap: selectors.Snapshot, member_id: int, org_path: str, candidate_ids: list[int], request_key: str
) -> CastResult:
    ids = _clean_choices(snap.rules, snap.candidate_ids, candidate_ids)
    if snap.rules.secret:
        return _cast_secret(snap.activity, member_id, org_path, ids)
    return _cast_open(snap.activity, snap.rules, member_id, org_path, ids, request_key[:64])


def _cast_open(
    activity: Activity, rules: VoteRules, member_id: int, org_path: str, ids: list[int], request_key: str
) -> CastResult:
    allowance = max(rules.daily_allowance, 1)
    day = selectors.ballot_day(rules)
    if request_key:
        earlier = Ballot.objects.filter(activity=activity, member_id=member_id, request_key=request_key).first()
        if earlier is not None:
            return _replay(earlier, rules)
    elif rules.is_contest and groupcommit.enabled():
        written = groupcommit.write(
            activity=activity, allowance=allowance, day=day, member_id=member_id, org_path=org_path, candidate_ids=ids
        )
        if written is not None:
            return CastResult(
                candidate_ids=ids,
                ballot_id=written.ballot_id,
                day=day,
                seq=written.seq,
                remaining_today=allowance - written.seq,
            )
        # Not written by the batch: a refusal, or a race lost — the path below answers.
    for attempt in (1, 2):
        # The member's choices on this day: how many ballots (each has ≥ 1 choice) and
        # which candidates already had their vote today.
        rows = _todays_choices(activity.pk, member_id, day)
        used = len({b for b, _ in rows})
        if used >= allowance:
            if rules.is_contest:
                raise NotEligible(
                    "VOTE_DAILY_LIMIT", f"今天的 {rules.daily_allowance} 票已经投完，明天再来。", remaining_today=0
                )
            raise NotEligible("ALREADY_VOTED", "您已经投过票了。")
        repeated = sorted({c for _, c in rows} & set(ids))
        if repeated:
            raise Conflict("VOTE_CANDIDATE_TODAY", "同一候选人每天只能投一票。", candidates=repeated)
        try:
            with transaction.atomic():
                _still_open(activity.pk)
                # The last line: unique (activity, member, day, seq) — two racing n-th
                # ballots cannot both commit; the loser retries once with a fresh count.
                ballot_id = _insert_ballot(activity.pk, member_id, day, used + 1, request_key, ids)
                first = activity_actions.record_participation_of(activity, member_id, org_path) if used == 0 else False
                if used == 0 and not first and not rules.is_contest:
                    raise NotEligible("ALREADY_VOTED", "您已经投过票了。")
        except IntegrityError:
            if attempt == 2:
                raise Conflict("VOTE_BUSY", "投票人数较多，请稍后重试。") from None
            continue
        return CastResult(
            candidate_ids=ids,
            ballot_id=ballot_id,
            day=None if day == ONCE_DAY else day,
            seq=used + 1,
            remaining_today=allowance - (used + 1) if rules.is_contest else 0,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def _replay(ballot: Ballot, rules: VoteRules) -> CastResult:
    ids = sorted(BallotChoice.objects.filter(ballot=ballot).values_list("candidate_id", flat=True))
    return CastResult(
        candidate_ids=ids,
        ballot_id=ballot.pk,
        day=None if ballot.day == ONCE_DAY else ballot.day,
        seq=ballot.seq,
        remaining_today=max(rules.daily_allowance - ballot.seq, 0) if rules.is_contest else 0,
        replayed=True,
    )


def new_receipt() -> str:
    """12 characters of base32 (60 random bits) from the OS's CSPRNG."""
    return base64.b32encode(secrets.token_bytes(10)).decode()[:RECEIPT_LENGTH]


def _cast_secret(activity: Activity, member_id: int, org_path: str, ids: list[int]) -> CastResult:
    receipt = new_receipt()
    # Encrypted before the transaction starts: the transaction is two inserts.
    payload = pii.encrypt(json.dumps({"c": ids, "r": receipt}, separators=(",", ":")))
    with transaction.atomic():
        _still_open(activity.pk)
        # The one-per-member guard: the participation row's unique constraint. Nothing
        # written here names the ballot; nothing in the staged row names the member.
        if not activity_actions.record_participation_of(activity, member_id, org_path):
            raise NotEligible("ALREADY_VOTED", "您已经投过票了。")
        StagedBallot.objects.create(activity_id=activity.pk, payload=payload)
    _count_staged(activity.pk)
    return CastResult(candidate_ids=ids, receipt=receipt)


def _count_staged(activity_id: int) -> None:
    """Every ``SECRET_BALLOT_MIX_BATCH`` secret ballots (counted in the cache), queue the
    mixer. A lost count only delays mixing until the sweep or the close."""
    from gonghui.activities.kinds.vote import tasks

    key = f"vote:staged:{activity_id}"
    try:
        count = cache.incr(key)
    except ValueError:
        cache.add(key, 0, None)
        count = cache.incr(key)
    if count % settings.SECRET_BALLOT_MIX_BATCH == 0:
        transaction.on_commit(lambda: tasks.mix_secret_ballots_task.enqueue(activity_id))


# --- mixing (secret ballots) -------------------------------------------------------------


def mix_secret_ballots(activity: Activity, *, final: bool = False) -> int:
    """Move staged secret ballots into ``SecretBallot`` in random order; return how many.

    In one transaction holding the activity's lock (mixers and the close serialise): the
    staged rows are decrypted, inserted in a random order with random keys, and deleted.
    Every published ballot row then carries this transaction's id (PostgreSQL ``xmin``)
    and sits among the others in no meaningful order. Without ``final`` nothing happens
    below ``SECRET_BALLOT_MIX_BATCH`` staged ballots (a batch is the crowd a ballot hides
    in). ``final`` (at close and for stragglers after it) mixes whatever is staged and
    re-mixes every ballot of the vote, so the whole vote is one crowd.
    """
    with transaction.atomic():
        locked = activity_actions.lock(activity)
        staged = list(StagedBallot.objects.filter(activity=locked).values_list("pk", "payload"))
        if not staged and not final:
            return 0
        if not final and len(staged) < settings.SECRET_BALLOT_MIX_BATCH:
            return 0
        pool: list[tuple[str, list[int]]] = []
        for _, payload in staged:
            data = json.loads(pii.decrypt(payload))
            pool.append((str(data["r"]), [int(c) for c in data["c"]]))
        if final:
            chosen: dict[Any, list[int]] = {}
            for ballot_id, candidate_id in SecretChoice.objects.filter(activity=locked).values_list(
                "ballot_id", "candidate_id"
            ):
                chosen.setdefault(ballot_id, []).append(candidate_id)
            for ballot_id, receipt in SecretBallot.objects.filter(activity=locked).values_list("pk", "receipt"):
                pool.append((receipt, chosen.get(ballot_id, [])))
            SecretChoice.objects.filter(activity=locked).delete()
            SecretBallot.objects.filter(activity=locked).delete()
        _random.shuffle(pool)
        ballots = [SecretBallot(activity=locked, receipt=receipt) for receipt, _ in pool]
        SecretBallot.objects.bulk_create(ballots, batch_size=2000)
        choices = [
            SecretChoice(ballot=ballot, candidate_id=c, activity=locked)
            for ballot, (_, ids) in zip(ballots, pool, strict=True)
            for c in ids
        ]
        _random.shuffle(choices)
        SecretChoice.objects.bulk_create(choices, batch_size=5000)
        StagedBallot.objects.filter(pk__in=[pk for pk, _ in staged]).delete()
        transaction.on_commit(lambda: cache.delete(selectors.tally_key(locked.pk)))
        return len(staged)


def sweep_secret_ballots() -> dict[int, int]:
    """Mix every vote with a full batch staged, and every finalised vote with stragglers."""
    done: dict[int, int] = {}
    activity_ids = set(StagedBallot.objects.values_list("activity_id", flat=True).distinct())
    for activity in Activity.objects.filter(pk__in=activity_ids):
        moved = mix_secret_ballots(activity, final=activity.finalised_at is not None)
        if moved:
            done[activity.pk] = moved
    return done
