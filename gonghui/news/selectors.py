"""Reading news: a member's feed (own union and every union above), a cadre's subtree."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.members.models import Member
from gonghui.news.models import NewsItem, NewsRead, NewsStatus, NewsTag
from gonghui.orgs.models import Org

STEP = Org.steplen


def ancestor_paths(path: str) -> list[str]:
    """A path and every ancestor's path (the unions whose news reaches it)."""
    return [path[:n] for n in range(STEP, len(path) + 1, STEP)]


def visible_to_member(member: Member, *, tag: str = "") -> QuerySet[NewsItem]:
    """Published news of the member's union and its ancestors: pinned first, newest first."""
    qs = NewsItem.objects.filter(
        org_path__in=ancestor_paths(member.org_path),
        status=NewsStatus.PUBLISHED,
        published_at__lte=timezone.now(),
    )
    if tag:
        qs = qs.filter(tags__name=tag)
    return qs.select_related("org").prefetch_related("tags").order_by("-pinned", "-published_at", "-pk")


def get_for_member(member: Member, pk: int) -> NewsItem | None:
    return visible_to_member(member).filter(pk=pk).first()


def tags_for_member(member: Member, *, limit: int = 12) -> list[str]:
    """The most used tags of the member's feed (for the filter chips)."""
    rows = (
        NewsTag.objects.filter(
            news__org_path__in=ancestor_paths(member.org_path),
            news__status=NewsStatus.PUBLISHED,
            news__published_at__lte=timezone.now(),
        )
        .values("name")
        .annotate(n=Count("id"))
        .order_by("-n", "name")[:limit]
    )
    return [r["name"] for r in rows]


def read_ids(member: Member, news_ids: list[int]) -> set[int]:
    return set(NewsRead.objects.filter(member=member, news_id__in=news_ids).values_list("news_id", flat=True))


def for_cadre(user: Any) -> QuerySet[NewsItem]:
    return access.scope(
        user, NewsItem.objects.select_related("org").prefetch_related("tags"), Perm.NEWS_PUBLISH
    ).order_by("-pinned", "-created_at", "-pk")


def get_for_cadre(user: Any, pk: int) -> NewsItem:
    return access.get_object_or_404(
        user, NewsItem.objects.select_related("org").prefetch_related("tags"), Perm.NEWS_PUBLISH, pk=pk
    )


def filter_state(qs: QuerySet[NewsItem], state: str) -> QuerySet[NewsItem]:
    """Items in one of the four states a cadre sees (unknown state: unfiltered)."""
    now = timezone.now()
    published = Q(status=NewsStatus.PUBLISHED)
    filters = {
        "draft": Q(status=NewsStatus.DRAFT),
        "scheduled": published & Q(published_at__gt=now),
        "published": published & Q(published_at__lte=now),
        "withdrawn": Q(status=NewsStatus.WITHDRAWN),
    }
    return qs.filter(filters[state]) if state in filters else qs


def state_of(news: NewsItem) -> str:
    """draft / scheduled / published / withdrawn (the clock decides scheduled)."""
    if news.status == NewsStatus.PUBLISHED and news.published_at and news.published_at > timezone.now():
        return "scheduled"
    return str(news.status)


STATE_LABELS = {
    "draft": _("草稿"),
    "scheduled": _("定时发布"),
    "published": _("已发布"),
    "withdrawn": _("已撤回"),
}
