"""Tables of the quiz kind (答题): each union's question bank and members' attempts.

A union keeps its own bank (``QuizQuestion``, scoped by ``org_path`` like everything in
the console). A quiz activity draws its questions at random from the organiser's bank,
per attempt, on the server; the drawn ids are stored on the ``Attempt`` so the page can
be reloaded and the answers are scored against exactly what was shown. The correct
answers and explanations never leave the server before the attempt is submitted.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings as django_settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import Activity
from gonghui.members.models import Member
from gonghui.orgs.models import Org


class QuizQuestionKind(models.TextChoices):
    SINGLE = "single", _("单选")
    MULTIPLE = "multiple", _("多选")
    TRUE_FALSE = "truefalse", _("判断")


TRUE_FALSE_OPTIONS = ["正确", "错误"]


class QuizQuestion(models.Model):
    org = models.ForeignKey(Org, verbose_name=_("所属工会"), on_delete=models.PROTECT, related_name="+")
    org_path = models.CharField(max_length=255)
    kind = models.CharField(_("题型"), max_length=16, choices=QuizQuestionKind.choices)
    text = models.CharField(_("题目"), max_length=500)
    options = models.JSONField(_("选项"), default=list)  # labels, in the order shown
    correct = models.JSONField(_("正确答案"), default=list)  # indexes into ``options``
    explanation = models.TextField(_("解析"), blank=True)
    tags = models.JSONField(_("标签"), default=list, blank=True)
    is_active = models.BooleanField(_("启用"), default=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_path_field: ClassVar[str] = "org_path"
    org_path_copies: ClassVar[tuple[str, ...]] = ("org_path",)

    class Meta:
        indexes = [
            models.Index(fields=["org", "is_active"], name="quiz_question_org_idx"),
            models.Index(fields=["org_path"], name="quiz_question_path_idx", opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.text[:40]


class Attempt(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="quiz_attempts")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    number = models.PositiveSmallIntegerField(_("第几次"))
    question_ids = models.JSONField(default=list)  # drawn on the server, in the order shown
    started_at = models.DateTimeField(_("开始时间"))
    deadline = models.DateTimeField(_("截止时间"))
    submitted_at = models.DateTimeField(_("交卷时间"), null=True, blank=True)
    answers = models.JSONField(default=dict, blank=True)  # question id → chosen option indexes
    correct_count = models.PositiveSmallIntegerField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(_("得分"), null=True, blank=True)  # 0–100
    passed = models.BooleanField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # Closed at its deadline without a (timely) submission: every question counts as wrong.
    timed_out = models.BooleanField(default=False)

    class Meta:
        constraints = [
            # With numbers handed out 1, 2, 3… this is what makes "attempts ≤ limit" hold
            # under parallel starts: two starts that both read n attempts both try n + 1.
            models.UniqueConstraint(fields=["activity", "member", "number"], name="quiz_attempt_number_once"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="quiz_attempt_number_positive"),
        ]
        indexes = [
            models.Index(fields=["activity", "-score", "duration_ms"], name="quiz_attempt_rank_idx"),
            models.Index(fields=["activity", "member"], name="quiz_attempt_member_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.activity_id}:{self.member_id}#{self.number}"

    @property
    def is_submitted(self) -> bool:
        return self.submitted_at is not None
