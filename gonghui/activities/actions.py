"""Every change to an activity: create, edit, audience, publish, close, finalise, archive,
and the participation row every kind writes.

Kinds add their own actions (cast a ballot, sign up, enter a draw…) in their apps; they
call ``eligibility.require`` first and ``record_participation`` inside their transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import nh3
from django.db import connection, transaction
from django.utils import timezone

from gonghui.activities import registry
from gonghui.activities.models import Activity, ActivityState, ActivityStatus, AudienceMember, Participation
from gonghui.activities.signals import participated, participated_many
from gonghui.core import audit
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members.models import Member, NewEmploymentGroup
from gonghui.orgs.models import Org

# What a rich description may contain: paragraphs, emphasis, lists, headings, links and
# images. Everything else (scripts, styles, event handlers, iframes) is dropped.
ALLOWED_TAGS = {"p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h3", "h4", "blockquote", "a", "img"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}

# Fields a cadre edits through forms and the API (the kind's settings travel separately).
FIELDS = (
    "title",
    "summary",
    "description",
    "rules",
    "starts_at",
    "ends_at",
    "audience_industries",
    "audience_groups",
    "audience_tags",
    "verified_only",
    "exclude_retained",
    "member_list_only",
)
# Once an activity has opened, changing who may take part or what it is would be unfair.
FROZEN_WHEN_OPEN = (
    "starts_at",
    "audience_industries",
    "audience_groups",
    "audience_tags",
    "verified_only",
    "exclude_retained",
    "member_list_only",
)


def sanitise_html(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, link_rel="noopener noreferrer")


def _clean_values(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key in FIELDS:
        if key not in values:
            continue
        value = values[key]
        if key in ("title", "summary", "rules") and isinstance(value, str):
            value = value.strip()
        elif key == "description":
            value = sanitise_html(value or "")
        elif key in ("audience_industries", "audience_tags"):
            value = sorted({str(v).strip() for v in (value or []) if str(v).strip()})
        elif key == "audience_groups":
            value = sorted({str(v) for v in (value or []) if v})
            unknown = [v for v in value if v not in NewEmploymentGroup.values]
            if unknown:
                raise InvalidValue("ACTIVITY_AUDIENCE_GROUP", f"未知的新就业形态群体：{'、'.join(unknown)}")
        elif key in ("verified_only", "exclude_retained", "member_list_only"):
            value = bool(value)
        clean[key] = value
    if "title" in clean and not clean["title"]:
        raise InvalidValue("ACTIVITY_TITLE_REQUIRED", "请填写活动标题。", field="title")
    return clean


def _check_window(starts_at: datetime, ends_at: datetime) -> None:
    if starts_at is None or ends_at is None:
        raise InvalidValue("ACTIVITY_WINDOW_REQUIRED", "请填写活动的开始和结束时间。", field="starts_at")
    if ends_at <= starts_at:
        raise InvalidValue("ACTIVITY_WINDOW_ORDER", "结束时间必须晚于开始时间。", field="ends_at")


@transaction.atomic
def create_activity(
    *, actor: Any, org: Org, kind: str, values: dict[str, Any], settings: dict[str, Any] | None = None
) -> Activity:
    """A draft activity of ``kind`` run by ``org`` for its subtree."""
    kind_obj = registry.get(kind)
    if not org.is_active:
        raise Conflict("ORG_CLOSED", "已撤销的工会不能举办活动。")
    clean = _clean_values(values)
    _check_window(clean.get("starts_at"), clean.get("ends_at"))  # type: ignore[arg-type]
    if not clean.get("title"):
        raise InvalidValue("ACTIVITY_TITLE_REQUIRED", "请填写活动标题。", field="title")
    activity = Activity(org=org, org_path=org.path, kind=kind, created_by=actor if getattr(actor, "pk", None) else None)
    for key, value in clean.items():
        setattr(activity, key, value)
    activity.settings = kind_obj.clean_settings(settings or {})
    activity.save()
    audit.record("activity.create", actor=actor, obj=activity, org=org, details={"kind": kind})
    return activity


def lock(activity: Activity) -> Activity:
    """The activity row, locked for the rest of the transaction (state changes serialise)."""
    locked: Activity = Activity.objects.select_for_update().select_related("org").get(pk=activity.pk)
    return locked


@transaction.atomic
def update_activity(
    *, actor: Any, activity: Activity, values: dict[str, Any], settings: dict[str, Any] | None = None
) -> Activity:
    locked = lock(activity)
    state = locked.state
    if state in (ActivityState.CLOSED, ActivityState.ARCHIVED):
        raise Conflict("ACTIVITY_ENDED", "活动已结束，不能再修改。")
    clean = _clean_values(values)
    changed = {k: v for k, v in clean.items() if getattr(locked, k) != v}
    if state == ActivityState.OPEN:
        frozen = [k for k in changed if k in FROZEN_WHEN_OPEN]
        if frozen:
            raise Conflict("ACTIVITY_OPEN_FROZEN", "活动已开始：参与范围和开始时间不能再修改。", fields=frozen)
    for key, value in changed.items():
        setattr(locked, key, value)
    _check_window(locked.starts_at, locked.ends_at)
    if settings is not None:
        if state == ActivityState.OPEN and settings and settings != locked.settings:
            raise Conflict("ACTIVITY_OPEN_FROZEN", "活动已开始：活动规则设置不能再修改。")
        new_settings = registry.get(locked.kind).clean_settings(settings, instance=locked)
        if new_settings != locked.settings:
            changed["settings"] = new_settings
            locked.settings = new_settings
    if changed:
        locked.save()
        audit.record("activity.update", actor=actor, obj=locked, org=locked.org, details={"fields": sorted(changed)})
    return locked


COVER_MAX_BYTES = 2 * 1024 * 1024
COVER_TYPES = {"image/png", "image/jpeg", "image/webp"}


def _check_cover(upload: Any) -> None:
    from PIL import Image, UnidentifiedImageError

    if upload.size > COVER_MAX_BYTES:
        raise InvalidValue("ACTIVITY_COVER_TOO_LARGE", "封面图不能超过 2 MB。", field="cover")
    if getattr(upload, "content_type", None) not in COVER_TYPES:
        raise InvalidValue("ACTIVITY_COVER_TYPE", "封面图只能是 PNG、JPEG 或 WebP 图片。", field="cover")
    try:
        with Image.open(upload) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidValue("ACTIVITY_COVER_INVALID", "封面图不是有效的图片文件。", field="cover") from exc
    finally:
        upload.seek(0)


@transaction.atomic
def set_cover(*, actor: Any, activity: Activity, cover: Any = None, clear: bool = False) -> Activity:
    """Replace or remove the cover image (PNG, JPEG or WebP up to 2 MB, a real image)."""
    locked = lock(activity)
    if locked.state == ActivityState.ARCHIVED:
        raise Conflict("ACTIVITY_ENDED", "活动已归档，不能再修改。")
    if cover is not None:
        _check_cover(cover)
        locked.cover.save(cover.name, cover, save=False)
    elif clear and locked.cover:
        locked.cover = None  # type: ignore[assignment]
    else:
        return locked
    locked.save(update_fields=["cover", "updated_at"])
    audit.record("activity.update", actor=actor, obj=locked, org=locked.org, details={"fields": ["cover"]})
    return locked


def export_activity(*, actor: Any, activity: Activity, file_format: str) -> tuple[list[str], list[list[Any]]]:
    """The kind's export (headers, rows), recorded in the audit log as the organiser's export."""
    headers, rows = registry.get(activity.kind).export(activity)
    materialised = [list(row) for row in rows]
    audit.record(
        "activity.export",
        actor=actor,
        obj=activity,
        org=activity.org,
        details={"format": file_format, "rows": len(materialised)},
    )
    return list(headers), materialised


@transaction.atomic
def set_audience_members(*, actor: Any, activity: Activity, members: list[Member]) -> int:
    """Replace the named list (for ``member_list_only`` activities); only members inside
    the organiser's subtree can be on it."""
    locked = lock(activity)
    if locked.state in (ActivityState.OPEN, ActivityState.CLOSED, ActivityState.ARCHIVED):
        raise Conflict("ACTIVITY_OPEN_FROZEN", "活动已开始：名单不能再修改。")
    outside = [m for m in members if not m.org_path.startswith(locked.org_path)]
    if outside:
        raise InvalidValue("AUDIENCE_LIST_OUTSIDE", f"名单中有 {len(outside)} 人不属于本工会及下属工会。")
    AudienceMember.objects.filter(activity=locked).delete()
    AudienceMember.objects.bulk_create([AudienceMember(activity=locked, member=m) for m in members])
    audit.record("activity.audience_list", actor=actor, obj=locked, org=locked.org, details={"members": len(members)})
    return len(members)


@transaction.atomic
def publish_activity(*, actor: Any, activity: Activity) -> Activity:
    locked = lock(activity)
    if locked.status != ActivityStatus.DRAFT:
        raise Conflict("ACTIVITY_NOT_DRAFT", "只有草稿状态的活动可以发布。")
    if locked.ends_at <= timezone.now():
        raise Conflict("ACTIVITY_WINDOW_PAST", "结束时间已过，请先修改活动时间。")
    kind = registry.get(locked.kind)
    kind.check_publish(locked)
    locked.status = ActivityStatus.PUBLISHED
    locked.published_at = timezone.now()
    locked.save(update_fields=["status", "published_at", "updated_at"])
    kind.on_publish(locked)
    audit.record("activity.publish", actor=actor, obj=locked, org=locked.org)
    return locked


@transaction.atomic
def close_activity(*, actor: Any, activity: Activity, reason: str = "") -> Activity:
    """End a published activity now (before its end time), then finalise it."""
    locked = lock(activity)
    if locked.status != ActivityStatus.PUBLISHED:
        raise Conflict("ACTIVITY_NOT_PUBLISHED", "只有已发布的活动可以结束。")
    now = timezone.now()
    locked.status = ActivityStatus.CLOSED
    locked.closed_at = now
    if locked.ends_at > now:
        # Never before the start (the window constraint): closing a not-yet-open activity.
        locked.ends_at = max(now, locked.starts_at + timedelta(seconds=1))
    locked.save(update_fields=["status", "closed_at", "ends_at", "updated_at"])
    audit.record("activity.close", actor=actor, obj=locked, org=locked.org, details={"reason": reason[:200]})
    _finalise_locked(locked)
    return locked


def _finalise_locked(locked: Activity) -> None:
    if locked.finalised_at is not None:
        return
    registry.get(locked.kind).on_close(locked)
    locked.finalised_at = timezone.now()
    locked.save(update_fields=["finalised_at", "updated_at"])
    audit.record("activity.finalise", obj=locked, org=locked.org, actor_label="close_due_activities")


@transaction.atomic
def finalise_activity(activity: Activity, *, now: datetime | None = None) -> bool:
    """Run the kind's close hook once for an activity whose time is up. Idempotent."""
    locked = lock(activity)
    if locked.finalised_at is not None or locked.status == ActivityStatus.DRAFT:
        return False
    # The same clock as the caller's: close_due_activities(now) picked it as due at ``now``.
    if locked.state_at(now or timezone.now()) != ActivityState.CLOSED and locked.status != ActivityStatus.CLOSED:
        return False
    if locked.status == ActivityStatus.PUBLISHED:
        locked.status = ActivityStatus.CLOSED
        locked.closed_at = locked.ends_at
        locked.save(update_fields=["status", "closed_at", "updated_at"])
    _finalise_locked(locked)
    return True


def close_due_activities(now: datetime | None = None) -> list[int]:
    """Finalise every published activity past its end (cron; safe to run concurrently)."""
    now = now or timezone.now()
    done: list[int] = []
    due = Activity.objects.filter(status=ActivityStatus.PUBLISHED, ends_at__lte=now, finalised_at__isnull=True)
    for activity in due.order_by("ends_at")[:500]:
        if finalise_activity(activity, now=now):
            done.append(activity.pk)
    return done


@transaction.atomic
def archive_activity(*, actor: Any, activity: Activity) -> Activity:
    locked = lock(activity)
    if locked.state not in (ActivityState.CLOSED, ActivityState.DRAFT):
        raise Conflict("ACTIVITY_NOT_CLOSED", "活动结束后才能归档。")
    if locked.status == ActivityStatus.PUBLISHED:
        _finalise_locked(locked)
    locked.status = ActivityStatus.ARCHIVED
    locked.save(update_fields=["status", "updated_at"])
    audit.record("activity.archive", actor=actor, obj=locked, org=locked.org)
    return locked


def _insert_participation(activity_id: int, member_id: int, org_path: str, on_date: date) -> bool:
    """One statement, no savepoint: ``INSERT … ON CONFLICT DO NOTHING RETURNING`` (PostgreSQL,
    SQLite ≥ 3.35). A racing twin waits for the first insert's transaction and then
    inserts nothing — the same answer the unique constraint gave as an error."""
    table = connection.ops.quote_name(Participation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (activity_id, member_id, org_path, on_date) VALUES (%s, %s, %s, %s) "  # noqa: S608 - the table name is ours
            "ON CONFLICT (activity_id, member_id) DO NOTHING RETURNING id",
            [activity_id, member_id, org_path, on_date],
        )
        return cursor.fetchone() is not None


def record_participation(activity: Activity, member: Member) -> bool:
    """Write the member's participation row; ``False`` when it already existed.

    Call inside the kind's transaction. For once-per-member kinds the unique constraint
    is the guard against a second entry: a racing duplicate gets ``False`` here and the
    kind refuses. The ``participated`` event goes out here, inside the transaction, only
    for the first participation: what its receivers write (a task row) commits or rolls
    back with the participation — no award is lost to a crash after the commit, none is
    paid for a participation that rolled back, and a vote costs one commit, not two.
    """
    return record_participation_of(activity, member.pk, member.org_path)


def record_participation_of(activity: Activity, member_id: int, org_path: str) -> bool:
    """``record_participation`` by the member's id and union path (the hot lane's pass
    carries both; it does not load the member row)."""
    if not _insert_participation(activity.pk, member_id, org_path, timezone.localdate()):
        return False
    participated.send(
        sender=Activity, activity_id=activity.pk, member_id=member_id, kind=activity.kind, org_id=activity.org_id
    )
    return True


def participations_recorded(activity: Activity, member_ids: list[int]) -> None:
    """The event for first participations a kind wrote in bulk, in its own statement (the
    vote's group commit): ``participated_many``, inside the same transaction."""
    if member_ids:
        participated_many.send(
            sender=Activity, activity_id=activity.pk, member_ids=member_ids, kind=activity.kind, org_id=activity.org_id
        )
