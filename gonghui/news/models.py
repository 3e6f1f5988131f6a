"""News (资讯): what a union publishes to its subtree, and who has read it.

A news item belongs to the union that publishes it and reaches every member of that
union's subtree: a member sees the items of their own union and of every union above it.
An item is visible once it is ``published`` and its ``published_at`` has come (a future
``published_at`` is a scheduled item). ``read_count`` counts distinct members: it goes up
by one, with ``F() + 1``, exactly when a member's ``NewsRead`` row is first created.

Reading earns points (rule kind ``read_news``) only after the minimum reading time of the
member's rules and only once per item: ``NewsRead.opened_at`` is when the member first
opened the item, ``credited_at`` when the reading was completed and paid (or found capped).
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.members.models import Member


class NewsStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("已发布")
    WITHDRAWN = "withdrawn", _("已撤回")


class NewsItem(models.Model):
    org = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="news_items")
    org_path = models.CharField(max_length=255)
    title = models.CharField(_("标题"), max_length=120)
    summary = models.CharField(_("摘要"), max_length=200, blank=True)
    cover = models.ImageField(_("封面图"), upload_to="news/covers/", blank=True)
    # Sanitised HTML (news.actions.sanitise_html on every write): the only |safe of the pages.
    body = models.TextField(_("正文"), blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=NewsStatus.choices, default=NewsStatus.DRAFT)
    published_at = models.DateTimeField(_("发布时间"), null=True, blank=True)
    pinned = models.BooleanField(_("置顶"), default=False)
    read_count = models.PositiveIntegerField(_("阅读人数"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("资讯")
        verbose_name_plural = _("资讯")
        indexes = [
            # A member's feed: org_path IN (own + ancestors), published, ordered by pin and time.
            models.Index(fields=["org_path", "status", "published_at"], name="news_feed_idx"),
            models.Index(fields=["org_path"], name="news_scope_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.tags.all()]


class NewsTag(models.Model):
    news = models.ForeignKey(NewsItem, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(_("标签"), max_length=20)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["news", "name"], name="news_tag_once")]
        indexes = [models.Index(fields=["name"], name="news_tag_name_idx")]
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class NewsRead(models.Model):
    """One member's reading of one item: at most one row (the unique constraint counts readers)."""

    news = models.ForeignKey(NewsItem, on_delete=models.CASCADE, related_name="reads")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="news_reads")
    opened_at = models.DateTimeField()
    credited_at = models.DateTimeField(null=True, blank=True)
    points = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["news", "member"], name="news_read_once")]
        indexes = [models.Index(fields=["member", "news"], name="news_read_member_idx")]

    def __str__(self) -> str:
        return f"{self.member_id} read {self.news_id}"


class NewsImage(models.Model):
    """An image uploaded for the body of a news item (its URL goes into the body's HTML)."""

    org = models.ForeignKey("orgs.Org", on_delete=models.PROTECT, related_name="+")
    org_path = models.CharField(max_length=255)
    image = models.ImageField(upload_to="news/images/")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    def __str__(self) -> str:
        return self.image.name or ""
