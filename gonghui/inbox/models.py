"""The member's message centre (消息中心): in-app messages and subtree broadcasts."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.members.models import Member
from gonghui.orgs.models import Notice, Org


class MessageKind(models.TextChoices):
    APPLICATION = "application", _("入会申请")
    TRANSFER = "transfer", _("转会")
    MEMBERSHIP = "membership", _("会籍")
    NOTICE = "notice", _("通知公告")
    SYSTEM = "system", _("系统消息")


class BroadcastStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("发送中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("发送失败")


class Broadcast(models.Model):
    """A union sending one message to its whole subtree or a filtered part of it.

    Delivery walks the recipients in member-id order and stores ``cursor`` (the last
    member id delivered) in the same transaction as each batch of messages, so a worker
    killed mid-way resumes after the last committed batch; the unique constraint on
    (broadcast, member) makes a replayed batch a no-op.
    """

    org = models.ForeignKey(Org, verbose_name=_("发送工会"), on_delete=models.PROTECT, related_name="broadcasts")
    org_path = models.CharField(max_length=255)
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.SET_NULL, related_name="broadcasts")
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("正文"))
    # Recipient filter: {"org_id": …, "status": […], "employment_status": […], "new_employment_group": […]}.
    filters = models.JSONField(_("发送范围"), default=dict, blank=True)
    send_sms = models.BooleanField(_("同时发送短信"), default=False)
    status = models.CharField(_("状态"), max_length=16, choices=BroadcastStatus.choices, default=BroadcastStatus.QUEUED)
    total = models.PositiveIntegerField(_("应发人数"), default=0)
    sent = models.PositiveIntegerField(_("已发人数"), default=0)
    cursor = models.BigIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"

    class Meta:
        verbose_name = _("群发消息")
        verbose_name_plural = _("群发消息")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.title

    @property
    def percent(self) -> int:
        return 100 if not self.total else min(100, self.sent * 100 // self.total)


class Message(models.Model):
    """One message in one member's inbox — or, before there is a member record (an
    applicant), in one user account's inbox. Exactly one of the two is set."""

    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="messages"
    )
    kind = models.CharField(_("类型"), max_length=16, choices=MessageKind.choices)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    sender = models.ForeignKey(Org, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    broadcast = models.ForeignKey(Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="messages")
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("阅读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("消息")
        verbose_name_plural = _("消息")
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "member"], name="message_once_per_broadcast"),
            models.CheckConstraint(
                condition=models.Q(member__isnull=False, user__isnull=True)
                | models.Q(member__isnull=True, user__isnull=False),
                name="message_one_recipient",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at", "-id"], name="message_member_idx"),
            models.Index(fields=["user", "-created_at", "-id"], name="message_user_idx"),
            models.Index(fields=["member"], condition=models.Q(read_at__isnull=True), name="message_unread_idx"),
        ]

    def __str__(self) -> str:
        return self.title
