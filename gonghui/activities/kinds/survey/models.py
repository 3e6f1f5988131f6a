"""Tables of the survey kind (问卷): questions, responses and their answers.

A ``Question`` belongs to a survey activity and is edited in the console until the survey
opens. A member submits one ``Response`` (its ``Answer`` rows, one per answered question).

Anonymous surveys: the response has no member and no time finer than the date, and both
response and answer rows use random UUID keys, so no column orders them by insertion (an
auto-increment key would line up with the participation rows, which do name the member).
What remains is physical: the order rows sit in the table and the database's own system
columns and logs; ``actions.mix_anonymous_responses`` rewrites the rows when the survey
closes so that those carry no per-response trace either. See docs/ACTIVITIES.md.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from gonghui.activities.models import Activity
from gonghui.members.models import Member


class QuestionKind(models.TextChoices):
    SINGLE = "single", _("单选")
    MULTIPLE = "multiple", _("多选")
    TEXT = "text", _("填空")
    NUMBER = "number", _("数字")
    RATING = "rating", _("评分")
    DATE = "date", _("日期")


CHOICE_KINDS = (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
# The value of an option's ``goto`` that ends the survey.
GOTO_END = "end"


class Question(models.Model):
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="survey_questions")
    order = models.PositiveIntegerField(_("序号"))
    kind = models.CharField(_("题型"), max_length=16, choices=QuestionKind.choices)
    title = models.CharField(_("题目"), max_length=300)
    help_text = models.CharField(_("说明"), max_length=300, blank=True)
    required = models.BooleanField(_("必答"), default=True)
    # Choice questions: ``[{"label": "…", "goto": null | <question id> | "end"}]``; the
    # jump (跳题) is only used on single-choice questions and only forward.
    options = models.JSONField(_("选项"), default=list, blank=True)
    # Number: the allowed range; rating: the scale (default 1–5); multiple: how many
    # options may be ticked.
    min_value = models.IntegerField(_("最小值"), null=True, blank=True)
    max_value = models.IntegerField(_("最大值"), null=True, blank=True)

    class Meta:
        ordering = ["activity", "order"]
        constraints = [models.UniqueConstraint(fields=["activity", "order"], name="survey_question_order")]

    def __str__(self) -> str:
        return f"{self.order}. {self.title}"

    @property
    def labels(self) -> list[str]:
        return [str(o.get("label", "")) for o in self.options]

    def scale(self) -> tuple[int, int]:
        """The rating scale, or the number range (either end may be missing)."""
        if self.kind == QuestionKind.RATING:
            return (self.min_value if self.min_value is not None else 1, self.max_value or 5)
        return (self.min_value, self.max_value)  # type: ignore[return-value]


class Response(models.Model):
    # Random keys: see the module docstring.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    activity = models.ForeignKey(Activity, on_delete=models.CASCADE, related_name="survey_responses")
    # Empty for an anonymous survey (the participation row still records that they took part).
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The member's union at the time (named surveys only; anonymous ones keep it empty).
    org_path = models.CharField(max_length=255, blank=True)
    submitted_on = models.DateField(_("提交日期"))
    # Empty for an anonymous survey: a precise time would line up with the participation.
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    # Set when an anonymous survey's rows were rewritten at close (see actions).
    mixed = models.BooleanField(default=False)

    scope_path_field: ClassVar[str] = "org_path"

    class Meta:
        constraints = [
            # One response per member: the database's last line under the participation guard.
            models.UniqueConstraint(fields=["activity", "member"], name="survey_response_once"),
        ]
        indexes = [models.Index(fields=["activity", "submitted_on"], name="survey_response_day_idx")]

    def __str__(self) -> str:
        return str(self.pk)


class Answer(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    # single: the option's label; multiple: a list of labels; text/date: a string
    # (date ISO); number: a number; rating: an integer.
    value = models.JSONField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["response", "question"], name="survey_answer_once")]

    def __str__(self) -> str:
        return f"{self.question_id}={self.value!r}"
