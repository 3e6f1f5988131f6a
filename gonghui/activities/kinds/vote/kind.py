"""投票 (vote): the kind's registration with the Activity component.

Settings (``Activity.settings``):

- ``mode``: ``single`` (one candidate a ballot) or ``multiple`` (``min_choices`` to
  ``max_choices`` candidates a ballot);
- ``daily_allowance``: 0 — one ballot for the whole vote (an election); N > 0 — a
  public-choice contest (评选): up to N ballots a member a day, at most one vote for the
  same candidate a day;
- ``results_visibility``: ``live`` (members see the ranking while the vote runs) or
  ``after_close``;
- ``secret``: 无记名投票 — nobody can link a ballot to its voter; needs
  ``daily_allowance`` 0 and results after close (a live tally moving right after one
  member's vote would tell who voted for whom).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings as django_settings
from django.utils.translation import gettext_lazy as _

from gonghui.activities.eligibility import Eligibility
from gonghui.activities.registry import ActivityKind
from gonghui.core.errors import Conflict

if TYPE_CHECKING:
    from gonghui.activities.models import Activity
    from gonghui.members.models import Member

SINGLE = "single"
MULTIPLE = "multiple"
LIVE = "live"
AFTER_CLOSE = "after_close"
MAX_ALLOWANCE = 50

DEFAULTS: dict[str, Any] = {
    "mode": SINGLE,
    "min_choices": 1,
    "max_choices": 1,
    "daily_allowance": 0,
    "results_visibility": AFTER_CLOSE,
    "secret": False,
}


class VoteSettingsForm(forms.Form):
    mode = forms.ChoiceField(label=_("投票方式"), choices=[(SINGLE, _("单选")), (MULTIPLE, _("多选"))], initial=SINGLE)
    min_choices = forms.IntegerField(label=_("最少选择"), min_value=1, max_value=100, initial=1)
    max_choices = forms.IntegerField(label=_("最多选择"), min_value=1, max_value=100, initial=1)
    daily_allowance = forms.IntegerField(
        label=_("每日票数"),
        min_value=0,
        max_value=MAX_ALLOWANCE,
        initial=0,
        help_text=_("0 表示整个活动每人只能投一次；大于 0 为评选：每人每天最多投这么多票，同一候选人每天只能投一票。"),
    )
    results_visibility = forms.ChoiceField(
        label=_("结果公布"),
        choices=[(LIVE, _("实时显示排名")), (AFTER_CLOSE, _("投票结束后公布"))],
        initial=AFTER_CLOSE,
    )
    secret = forms.BooleanField(
        label=_("无记名投票"),
        required=False,
        help_text=_("任何人（包括主办方和数据库管理员）都无法知道某张选票是谁投的；投票人获得回执码，结束后可核对。"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        if data["mode"] == SINGLE:
            data["min_choices"] = data["max_choices"] = 1
        elif data["min_choices"] > data["max_choices"]:
            self.add_error("max_choices", _("最多选择数不能少于最少选择数。"))
        if data.get("secret"):
            if data["daily_allowance"] != 0:
                self.add_error("secret", _("无记名投票每人只能投一次：每日票数须为 0。"))
            elif data["results_visibility"] != AFTER_CLOSE:
                self.add_error("secret", _("无记名投票的结果只能在投票结束后公布。"))
        return data


@dataclass(frozen=True)
class VoteRules:
    """The settings of one vote, typed."""

    mode: str
    min_choices: int
    max_choices: int
    daily_allowance: int
    results_visibility: str
    secret: bool

    @classmethod
    def of(cls, activity: Activity) -> VoteRules:
        values = {**DEFAULTS, **(activity.settings or {})}
        return cls(
            mode=str(values["mode"]),
            min_choices=int(values["min_choices"]),
            max_choices=int(values["max_choices"]),
            daily_allowance=int(values["daily_allowance"]),
            results_visibility=str(values["results_visibility"]),
            secret=bool(values["secret"]),
        )

    @property
    def is_contest(self) -> bool:
        return self.daily_allowance > 0

    @property
    def live(self) -> bool:
        return self.results_visibility == LIVE


class VoteKind(ActivityKind):
    key = "vote"
    label = _("投票")
    description = _("单选或多选投票、评选，支持无记名投票与回执核验。")
    settings_form = VoteSettingsForm
    once_per_member = True

    def clean_settings(self, data: dict[str, Any], *, instance: Activity | None = None) -> dict[str, Any]:
        current = dict(instance.settings) if instance is not None else {}
        return super().clean_settings({**DEFAULTS, **current, **data}, instance=None)

    def check_publish(self, activity: Activity) -> None:
        from gonghui.activities.kinds.vote.models import Candidate

        rules = VoteRules.of(activity)
        count = Candidate.objects.filter(activity=activity).count()
        if count < 2:
            raise Conflict("VOTE_TOO_FEW_CANDIDATES", "请至少添加两个候选人（选项）后再发布。")
        if rules.max_choices > count:
            message = f"最多选择数（{rules.max_choices}）不能多于候选人数（{count}）。"
            raise Conflict("VOTE_MAX_CHOICES", message, field="max_choices")
        # The statute: retained members (retired, unemployed) have no vote, unless the
        # province decided otherwise (RETAINED_MEMBERS_VOTE). An election (one ballot per
        # member) follows that rule; a public-choice contest keeps the organiser's choice.
        if not rules.is_contest and not django_settings.RETAINED_MEMBERS_VOTE and not activity.exclude_retained:
            activity.exclude_retained = True
            activity.save(update_fields=["exclude_retained", "updated_at"])

    def on_close(self, activity: Activity) -> None:
        from gonghui.activities.kinds.vote import actions

        actions.forget_cached(activity.pk)
        if VoteRules.of(activity).secret:
            actions.mix_secret_ballots(activity, final=True)

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        from gonghui.activities.kinds.vote import selectors

        rules = VoteRules.of(activity)
        used = selectors.ballots_today(activity, member, rules)
        if used >= max(rules.daily_allowance, 1):
            if rules.is_contest:
                return Eligibility(False, "VOTE_DAILY_LIMIT", f"今天的 {rules.daily_allowance} 票已经投完，明天再来。")
            return Eligibility(False, "ALREADY_VOTED", "您已经投过票了。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        from gonghui.activities.kinds.vote import selectors

        return selectors.results(activity, for_organiser=for_organiser)

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        from gonghui.activities.kinds.vote import selectors

        return selectors.export_rows(activity)


KIND = VoteKind()
