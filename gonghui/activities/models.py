"""The Activity component: one row per activity a union runs, whatever its kind.

An activity belongs to its organiser union (``org``) and is seen by that union's subtree
(its audience), optionally narrowed by ``audience`` filters. Each kind (vote, survey,
sign-up, lottery, quiz, ticket rush) is its own app under ``activities.kinds`` with its
own tables; its settings live in ``settings`` (validated by the kind's settings form).

``Participation`` is the one row per member and activity that every kind writes, in the
same transaction as its own record, through ``actions.record_participation``: it answers
"my activities", participation counts and charts by sub-union, and it is the event other
modules (points) subscribe to. It never says *how* someone took part (a secret ballot
stays secret).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gonghui.members.models import Member, NewEmploymentGroup
from gonghui.orgs.models import Org

# The activity foreign key of the tables a campaign writes a row to per participant
# (participation, ballots and their choices): no index of its own — each table's constraints
# lead with the activity — and no foreign-key constraint in the database. With one,
# every insert takes FOR KEY SHARE on the same activity row at commit, and hundreds of
# concurrent voters turn that row into a MultiXact hot spot (measured in
# docs/PERFORMANCE.md). Only the activity's own actions write these rows, after reading
# the activity; deleting an activity still goes through Django's collector (``on_delete``:
# cascaded, or refused where a kind protects its rows — a vote with ballots).
HOT_PARENT: dict[str, Any] = {"db_index": False, "db_constraint": False}


class ActivityStatus(models.TextChoices):
    """What the organiser decided. Whether a published activity is open is the clock's
    business: see ``Activity.state``."""

    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("已发布")
    CLOSED = "closed", _("已结束")
    ARCHIVED = "archived", _("已归档")


class ActivityState(models.TextChoices):
    """The five states a member and a cadre see."""

    DRAFT = "draft", _("草稿")
    PUBLISHED = "published", _("未开始")
    OPEN = "open", _("进行中")
    CLOSED = "closed", _("已结束")
    ARCHIVED = "archived", _("已归档")


class Activity(models.Model):
    org = models.ForeignKey(Org, verbose_name=_("主办工会"), on_delete=models.PROTECT, related_name="activities")
    org_path = models.CharField(max_length=255)
    kind = models.CharField(_("活动类型"), max_length=16, db_index=True)
    title = models.CharField(_("标题"), max_length=120)
    summary = models.CharField(_("简介"), max_length=200, blank=True)
    description = models.TextField(
        _("活动详情"), blank=True, help_text=_("可使用简单格式：段落、加粗、列表、链接、图片。")
    )
    rules = models.TextField(_("活动规则"), blank=True)
    cover = models.ImageField(_("封面图"), upload_to="activities/covers/", blank=True)
    starts_at = models.DateTimeField(_("开始时间"))
    ends_at = models.DateTimeField(_("结束时间"))
    status = models.CharField(_("状态"), max_length=16, choices=ActivityStatus.choices, default=ActivityStatus.DRAFT)
    # Audience: the organiser's subtree, narrowed by these (all optional; an empty list
    # means "no narrowing"). ``member_list_only`` restricts to ``AudienceMember`` rows.
    audience_industries = models.JSONField(_("限定行业"), default=list, blank=True)
    audience_groups = models.JSONField(_("限定新就业形态群体"), default=list, blank=True)
    audience_tags = models.JSONField(_("限定工会标签"), default=list, blank=True)
    verified_only = models.BooleanField(_("仅限实名会员"), default=False)
    exclude_retained = models.BooleanField(_("保留会籍会员不参加"), default=False)
    member_list_only = models.BooleanField(_("仅限指定名单"), default=False)
    settings = models.JSONField(_("活动设置"), default=dict, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Set once the kind's close hook ran (draw, final tally, ballot mixing): the periodic
    # ``close_due_activities`` task picks up published activities past their end.
    finalised_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        verbose_name = _("活动")
        verbose_name_plural = _("活动")
        indexes = [
            models.Index(fields=["org_path"], name="activity_path_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["status", "ends_at"], name="activity_status_end_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="activity_window"),
        ]

    def __str__(self) -> str:
        return self.title

    def state_at(self, now: datetime) -> str:
        if self.status == ActivityStatus.PUBLISHED:
            if now < self.starts_at:
                return ActivityState.PUBLISHED
            if now < self.ends_at:
                return ActivityState.OPEN
            return ActivityState.CLOSED
        return str(self.status)

    @property
    def state(self) -> str:
        return self.state_at(timezone.now())

    @property
    def state_label(self) -> str:
        return str(ActivityState(self.state).label)

    @property
    def is_open(self) -> bool:
        return self.state == ActivityState.OPEN

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


class AudienceMember(models.Model):
    """The named list of an activity whose audience is ``member_list_only``."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="audience_members")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "member"], name="audience_member_once")]

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.member_id}"


class Participation(models.Model):
    """One row per member who took part in an activity (whatever the kind)."""

    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="participations", **HOT_PARENT)
    # Indexed by participation_member_idx.
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="participations", db_index=False)
    # The member's union at the time: participation by sub-union never moves afterwards.
    org_path = models.CharField(max_length=255)
    # A date, not a timestamp: with a secret ballot, a precise time next to the ballot
    # table's insertion order would help link a ballot to its voter.
    on_date = models.DateField()

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["activity", "member"], name="participation_once")]
        indexes = [
            models.Index(fields=["member", "activity"], name="participation_member_idx"),
            models.Index(fields=["activity", "org_path"], name="participation_path_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.member_id}"


def audience_group_choices() -> list[tuple[str, str]]:
    return [(str(v), str(label)) for v, label in NewEmploymentGroup.choices if v]
