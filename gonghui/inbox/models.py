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


class SmsState(models.TextChoices):
    """A broadcast message's text message, claimed before it is sent (at most once)."""

    NONE = "", _("不发短信")
    PENDING = "pending", _("待发送")
    SENDING = "sending", _("发送中")
    SENT = "sent", _("已发送")
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
    sms_sent = models.PositiveIntegerField(_("短信已发"), default=0)
    sms_failed = models.PositiveIntegerField(_("短信失败"), default=0)
    error = models.CharField(max_length=500, blank=True)
    # The django-tasks result id of the last enqueued delivery, and the time the worker
    # last committed a batch: ``inbox.actions.resume_stale_broadcasts`` re-enqueues a
    # broadcast whose task is not waiting in the queue and whose heartbeat went quiet.
    task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("群发消息")
        verbose_name_plural = _("群发消息")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return self.title

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == BroadcastStatus.DONE else 0
        return min(100, self.sent * 100 // self.total)

    @property
    def is_open(self) -> bool:
        return self.status in (BroadcastStatus.QUEUED, BroadcastStatus.RUNNING)


class Message(models.Model):
    """One message in one member's inbox — or, before there is a member record (an
    applicant), in one user account's inbox. Exactly one of the two is set.

    A broadcast's copies leave ``body`` empty: the text is stored once on the Broadcast
    (a million copies of a long notice would otherwise be gigabytes); read ``text``.
    """

    # No single-column FK indexes: every lookup these FKs need is served by a composite or
    # unique index below, and a broadcast inserts a million rows at a time — each spare
    # index costs insert throughput (docs/PERFORMANCE.md, "Broadcast delivery").
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
        db_index=False,
    )
    kind = models.CharField(_("类型"), max_length=16, choices=MessageKind.choices)
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    # Unions are closed, never deleted, so SET_NULL never has to find rows by sender.
    sender = models.ForeignKey(Org, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False)
    broadcast = models.ForeignKey(
        Broadcast, null=True, blank=True, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("阅读时间"), null=True, blank=True)
    sms_state = models.CharField(_("短信状态"), max_length=8, choices=SmsState.choices, blank=True, default="")

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
            # Account messages are the few sent before a member record exists: the user
            # indexes skip the million rows whose user is NULL.
            models.Index(
                fields=["user", "-created_at", "-id"],
                condition=models.Q(user__isnull=False),
                name="message_user_idx",
            ),
            models.Index(fields=["member"], condition=models.Q(read_at__isnull=True), name="message_unread_idx"),
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True, user__isnull=False),
                name="message_user_unread_idx",
            ),
            models.Index(
                fields=["broadcast", "member"], condition=models.Q(sms_state="pending"), name="message_sms_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def text(self) -> str:
        """The body, from the broadcast when this is one of its copies."""
        if self.body or self.broadcast_id is None:
            return self.body
        return self.broadcast.body if self.broadcast is not None else ""

    @property
    def is_read(self) -> bool:
        return self.read_at is not None
