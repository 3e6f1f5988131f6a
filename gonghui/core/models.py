"""Cross-cutting models: the one user model, the audit log, the SMS outbox and codes."""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, username: str, password: str | None = None, **extra: Any) -> User:
        if not username:
            raise ValueError("username is required")
        user = self.model(username=username, **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, username: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """Members and cadres alike. What a user may do comes from roles (orgs.Role)."""

    username = models.CharField(_("登录名"), max_length=64, unique=True)
    name = models.CharField(_("姓名"), max_length=64, blank=True)
    # Mobile numbers are kept as E.164-less 11-digit strings (13800138000).
    mobile = models.CharField(_("手机号"), max_length=20, unique=True, null=True, blank=True)
    is_active = models.BooleanField(_("有效"), default=True)
    is_staff = models.BooleanField(_("可进入 Django 管理后台"), default=False)
    date_joined = models.DateTimeField(_("注册时间"), default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    USERNAME_FIELD = "username"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("用户")
        verbose_name_plural = _("用户")

    def __str__(self) -> str:
        return self.name or self.username


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise PermissionError("audit events are append-only")

    def delete(self) -> NoReturn:
        raise PermissionError("audit events are append-only")


class AuditEvent(models.Model):
    """One row per state change or personal-data reveal. Never edited, never deleted.

    On PostgreSQL a trigger (migration 0002) refuses UPDATE and DELETE as well, so a
    bug or a shell session cannot rewrite history either.
    """

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_constraint=False
    )
    actor_label = models.CharField(_("操作人"), max_length=100, blank=True)
    action = models.CharField(_("操作"), max_length=64, db_index=True)
    object_type = models.CharField(_("对象类型"), max_length=64, blank=True)
    object_id = models.CharField(_("对象编号"), max_length=64, blank=True)
    object_repr = models.CharField(_("对象"), max_length=200, blank=True)
    org_id = models.BigIntegerField(_("所属工会编号"), null=True, blank=True)
    org_path = models.CharField(_("所属工会路径"), max_length=255, blank=True)
    ip = models.GenericIPAddressField(_("IP 地址"), null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    details = models.JSONField(_("详情"), default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    scope_path_field: ClassVar[str] = "org_path"

    class Meta:
        verbose_name = _("审计日志")
        verbose_name_plural = _("审计日志")
        ordering = ("-at", "-id")
        indexes = [
            models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx"),
            models.Index(fields=["org_path"], name="audit_path_like_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise PermissionError("audit events are append-only")


class SmsMessage(models.Model):
    """Every SMS the platform sends, whatever the provider: the outbox and its receipts."""

    class Status(models.TextChoices):
        SENT = "sent", _("已发送")
        FAILED = "failed", _("发送失败")
        THROTTLED = "throttled", _("被限流")

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    mobile = models.CharField(_("手机号"), max_length=20, db_index=True)
    purpose = models.CharField(_("用途"), max_length=32)
    text = models.TextField(_("内容"))
    provider = models.CharField(_("通道"), max_length=64)
    status = models.CharField(_("状态"), max_length=16, choices=Status.choices)
    provider_message_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name = _("短信")
        verbose_name_plural = _("短信发件箱")
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.mobile} {self.purpose} {self.status}"


class SmsCode(models.Model):
    """A one-time login/verification code. Only its hash is stored."""

    mobile = models.CharField(max_length=20)
    purpose = models.CharField(max_length=32)
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["mobile", "purpose", "-created_at"], name="smscode_lookup_idx")]

    def __str__(self) -> str:
        return f"{self.mobile} {self.purpose}"
