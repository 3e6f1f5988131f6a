"""Every change to news: compose, edit, publish (now or scheduled), withdraw, pin; images;
and a member's reading, which may earn points once the minimum reading time has passed.

Cadre actions are audited (``news.*``). A member opening an item is not an audit event
(it is the reading itself, counted in ``read_count``); the points it earns are a ledger
entry with its own idempotency key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import nh3
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from gonghui.core import audit
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.members.models import Member
from gonghui.news.models import NewsImage, NewsItem, NewsRead, NewsStatus, NewsTag
from gonghui.orgs.models import Org
from gonghui.points import rules
from gonghui.points.models import RuleKind

# What a news body may contain: paragraphs, emphasis, lists, headings, links, images.
# Everything else (scripts, styles, event handlers, iframes) is dropped.
ALLOWED_TAGS = {
    "p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "h3", "h4", "blockquote", "a", "img", "figure",
    "figcaption",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}}
URL_SCHEMES = {"http", "https", "mailto"}

FIELDS = ("title", "summary", "body", "tags", "pinned")
MAX_TAGS = 5
TAG_MAX_LENGTH = 20

IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}


def sanitise_html(html: str) -> str:
    return nh3.clean(
        html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel="noopener noreferrer"
    )


def parse_tags(value: Any) -> list[str]:
    """Tags from a list or a comma/space separated string (full-width separators too)."""
    if isinstance(value, str):
        for sep in ("，", "、", ";", "；", " ", "\u3000"):
            value = value.replace(sep, ",")
        value = value.split(",")
    names = []
    for raw in value or []:
        name = str(raw).strip().lstrip("#")
        if name and name not in names:
            names.append(name)
    if len(names) > MAX_TAGS:
        raise InvalidValue("NEWS_TAGS_TOO_MANY", f"标签最多 {MAX_TAGS} 个。", field="tags")
    if any(len(n) > TAG_MAX_LENGTH for n in names):
        raise InvalidValue("NEWS_TAG_TOO_LONG", f"每个标签不超过 {TAG_MAX_LENGTH} 个字。", field="tags")
    return names


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key in FIELDS:
        if key not in values:
            continue
        value = values[key]
        if key in ("title", "summary"):
            value = str(value or "").strip()
        elif key == "body":
            value = sanitise_html(str(value or ""))
        elif key == "tags":
            value = parse_tags(value)
        elif key == "pinned":
            value = bool(value)
        clean[key] = value
    if "title" in clean and not clean["title"]:
        raise InvalidValue("NEWS_TITLE_REQUIRED", "请填写标题。", field="title")
    if len(clean.get("title", "")) > 120:
        raise InvalidValue("NEWS_TITLE_TOO_LONG", "标题不超过 120 个字。", field="title")
    if len(clean.get("summary", "")) > 200:
        raise InvalidValue("NEWS_SUMMARY_TOO_LONG", "摘要不超过 200 个字。", field="summary")
    return clean


def check_image(upload: Any, label: str, field: str) -> None:
    """A real PNG, JPEG or WebP image of at most 2 MB (as the unions' branding images)."""
    from PIL import Image, UnidentifiedImageError

    if upload.size > IMAGE_MAX_BYTES:
        raise InvalidValue("NEWS_IMAGE_TOO_LARGE", f"{label}不能超过 2 MB。", field=field)
    if getattr(upload, "content_type", None) not in IMAGE_TYPES:
        raise InvalidValue("NEWS_IMAGE_TYPE", f"{label}只能是 PNG、JPEG 或 WebP 图片。", field=field)
    try:
        with Image.open(upload) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidValue("NEWS_IMAGE_INVALID", f"{label}不是有效的图片文件。", field=field) from exc
    finally:
        upload.seek(0)


def _set_tags(news: NewsItem, names: list[str]) -> None:
    NewsTag.objects.filter(news=news).exclude(name__in=names).delete()
    NewsTag.objects.bulk_create([NewsTag(news=news, name=n) for n in names], ignore_conflicts=True)


def _lock(news: NewsItem) -> NewsItem:
    return NewsItem.objects.select_for_update().select_related("org").get(pk=news.pk)


def _check_org(org: Org) -> None:
    if not org.is_active:
        raise Conflict("ORG_CLOSED", "该工会已撤销，不能发布资讯。")


@transaction.atomic
def create_news(*, actor: Any, org: Org, values: dict[str, Any], cover: Any = None) -> NewsItem:
    """A draft news item of ``org`` (published later with ``publish``)."""
    _check_org(org)
    clean = _clean({"title": "", **values})
    tags = clean.pop("tags", [])
    if cover is not None:
        check_image(cover, "封面图", "cover")
    news = NewsItem(org=org, org_path=org.path, created_by=actor if getattr(actor, "pk", None) else None, **clean)
    if cover is not None:
        news.cover.save(cover.name, cover, save=False)
    news.save()
    _set_tags(news, tags)
    audit.record("news.create", actor=actor, obj=news, org=org, details={"title": news.title, "tags": tags})
    return news


@transaction.atomic
def update_news(
    *, actor: Any, news: NewsItem, values: dict[str, Any], cover: Any = None, clear_cover: bool = False
) -> NewsItem:
    locked = _lock(news)
    clean = _clean(values)
    tags = clean.pop("tags", None)
    changed = [k for k, v in clean.items() if getattr(locked, k) != v]
    for key in changed:
        setattr(locked, key, clean[key])
    if cover is not None:
        check_image(cover, "封面图", "cover")
        locked.cover.save(cover.name, cover, save=False)
        changed.append("cover")
    elif clear_cover and locked.cover:
        locked.cover = None  # type: ignore[assignment]
        changed.append("cover")
    if tags is not None and sorted(tags) != sorted(locked.tag_names):
        _set_tags(locked, tags)
        changed.append("tags")
    if changed:
        locked.save()
        audit.record("news.update", actor=actor, obj=locked, org=locked.org, details={"fields": sorted(changed)})
    return locked


@transaction.atomic
def publish(*, actor: Any, news: NewsItem, at: datetime | None = None) -> NewsItem:
    """Publish now, or schedule for ``at`` (members see it from then on)."""
    locked = _lock(news)
    _check_org(locked.org)
    now = timezone.now()
    at = at or now
    if at < now - timedelta(minutes=1):
        raise InvalidValue("NEWS_PUBLISH_PAST", "发布时间不能早于现在。", field="published_at")
    if not locked.title.strip():
        raise InvalidValue("NEWS_TITLE_REQUIRED", "请填写标题。", field="title")
    if locked.status == NewsStatus.PUBLISHED and locked.published_at and locked.published_at <= now:
        raise Conflict("NEWS_ALREADY_PUBLISHED", "这条资讯已经发布。")
    locked.status = NewsStatus.PUBLISHED
    locked.published_at = max(at, now)
    locked.save(update_fields=["status", "published_at", "updated_at"])
    audit.record(
        "news.publish",
        actor=actor,
        obj=locked,
        org=locked.org,
        details={"published_at": locked.published_at.isoformat(), "scheduled": at > now},
    )
    return locked


@transaction.atomic
def withdraw(*, actor: Any, news: NewsItem) -> NewsItem:
    """Take a published (or scheduled) item back: members no longer see it."""
    locked = _lock(news)
    if locked.status != NewsStatus.PUBLISHED:
        raise Conflict("NEWS_NOT_PUBLISHED", "只有已发布的资讯可以撤回。")
    locked.status = NewsStatus.WITHDRAWN
    locked.save(update_fields=["status", "updated_at"])
    audit.record("news.withdraw", actor=actor, obj=locked, org=locked.org)
    return locked


@transaction.atomic
def set_pinned(*, actor: Any, news: NewsItem, pinned: bool) -> NewsItem:
    locked = _lock(news)
    if locked.pinned != pinned:
        locked.pinned = pinned
        locked.save(update_fields=["pinned", "updated_at"])
        audit.record("news.pin" if pinned else "news.unpin", actor=actor, obj=locked, org=locked.org)
    return locked


@transaction.atomic
def upload_image(*, actor: Any, org: Org, upload: Any) -> NewsImage:
    """Store an image for a news body; its URL is then placed in the body's HTML."""
    _check_org(org)
    check_image(upload, "图片", "image")
    image = NewsImage(org=org, org_path=org.path, uploaded_by=actor if getattr(actor, "pk", None) else None)
    image.image.save(upload.name, upload, save=False)
    image.save()
    audit.record("news.image_upload", actor=actor, obj=image, org=org, details={"name": image.image.name})
    return image


# --- reading ------------------------------------------------------------------------------


def open_news(*, member: Member, news: NewsItem) -> NewsRead:
    """The member's reading of ``news``: created (and counted) on first open, kept after.

    Two first opens racing: one insert wins the unique constraint; the loser reads the
    winner's row, so the counter goes up exactly once per member.
    """
    existing = NewsRead.objects.filter(news=news, member=member).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            read = NewsRead.objects.create(news=news, member=member, opened_at=timezone.now())
            NewsItem.objects.filter(pk=news.pk).update(read_count=F("read_count") + 1)
    except IntegrityError:
        return NewsRead.objects.get(news=news, member=member)
    news.read_count += 1  # the in-memory item shows the reader just counted
    return read


@dataclass(frozen=True)
class ReadResult:
    points: int
    code: str  # rules.Award codes: PAID, CAPPED, CAP_REACHED, NO_RULE, MEMBER_NOT_ACTIVE
    message: str
    replayed: bool  # the reading had already been completed: nothing paid this time


class ReadTooSoon(Conflict):
    code = "NEWS_READ_TOO_SOON"


@transaction.atomic
def complete_reading(*, member: Member, news: NewsItem, now: datetime | None = None) -> ReadResult:
    """Pay for reading ``news`` once the minimum reading time since opening has passed.

    The member's ``NewsRead`` row is locked first (then the points account, inside
    ``rules.award``), so two "read complete" requests pay once; ``award`` is idempotent on
    its own key as well. Refused (``NEWS_READ_TOO_SOON``, with ``wait_seconds``) before
    the minimum time; the same request later succeeds.
    """
    now = now or timezone.now()
    read = NewsRead.objects.select_for_update().filter(news=news, member=member).first()
    if read is None:
        raise Conflict("NEWS_NOT_OPENED", "请先打开资讯阅读。")
    if read.credited_at is not None:
        return ReadResult(read.points, "PAID" if read.points else "DONE", "", replayed=True)
    needed = rules.min_read_seconds(member)
    elapsed = (now - read.opened_at).total_seconds()
    if elapsed < needed:
        wait = max(1, int(needed - elapsed + 0.999))
        raise ReadTooSoon(message=f"再阅读 {wait} 秒即可获得积分。", wait_seconds=wait)
    award = rules.award(member, RuleKind.READ_NEWS, news.pk, at=now)
    read.credited_at = now
    read.points = award.points
    read.save(update_fields=["credited_at", "points"])
    return ReadResult(award.points, award.code, award.message, replayed=award.replayed)
