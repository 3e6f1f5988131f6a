"""A plain activity kind for the generic tests: no interface modules, a small settings form,
hooks that count their calls, and one kind-specific eligibility rule.

The generic pages must work for any kind, including one that ships no portal panel, no
console results and no API router; registering this kind only for the duration of a
test keeps these tests independent of the six real kinds as they evolve.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.utils import timezone

from gonghui.activities import actions, registry
from gonghui.activities.eligibility import Eligibility
from gonghui.activities.models import Activity, Participation
from gonghui.core.errors import Conflict
from gonghui.members.models import Member
from gonghui.orgs.models import Org

PLAIN = "plain"


class PlainSettingsForm(forms.Form):
    seats = forms.IntegerField(label="名额", min_value=0, max_value=1000, required=False, initial=10)
    colour = forms.ChoiceField(label="主题", choices=[("red", "红"), ("blue", "蓝")], required=False, initial="red")
    ready = forms.BooleanField(label="已准备好", required=False, initial=True)


class PlainKind(registry.ActivityKind):
    key = PLAIN
    label = "测试活动"
    description = "只用于测试的活动类型"
    settings_form = PlainSettingsForm
    calls: Counter[str] = Counter()

    def clean_settings(self, data: dict[str, Any], *, instance: Activity | None = None) -> dict[str, Any]:
        return super().clean_settings({"ready": True, **data} if instance is None else data, instance=instance)

    def check_publish(self, activity: Activity) -> None:
        if not activity.setting("ready", True):
            raise Conflict("PLAIN_NOT_READY", "测试活动还没准备好。")

    def on_publish(self, activity: Activity) -> None:
        self.calls[f"publish:{activity.pk}"] += 1

    def on_close(self, activity: Activity) -> None:
        self.calls[f"close:{activity.pk}"] += 1

    def member_check(self, activity: Activity, member: Member) -> Eligibility | None:
        if Participation.objects.filter(activity=activity, member=member).exists():
            return Eligibility(False, "PLAIN_DONE", "您已参加过本活动。")
        return None

    def results(self, activity: Activity, *, for_organiser: bool) -> dict[str, Any]:
        return {"participants": Participation.objects.filter(activity=activity).count()}

    def export(self, activity: Activity) -> tuple[list[str], Iterable[list[Any]]]:
        rows = Participation.objects.filter(activity=activity).select_related("member").order_by("pk")
        return ["姓名", "会员卡号", "参加日期"], ([p.member.name, p.member.card_number, p.on_date] for p in rows)


@pytest.fixture
def plain_kind() -> Iterator[PlainKind]:
    kind = PlainKind()
    kind.calls = Counter()
    registry.register(kind)
    try:
        yield kind
    finally:
        registry._KINDS.pop(PLAIN, None)


def make_activity(org: Org, actor: Any = None, *, kind: str = PLAIN, publish: bool = False, **values: Any) -> Activity:
    """An activity open from an hour ago for three days (override any field)."""
    now = timezone.now()
    data: dict[str, Any] = {
        "title": "职工书屋评选",
        "starts_at": now - timedelta(hours=1),
        "ends_at": now + timedelta(days=3),
    }
    settings = values.pop("settings", None)
    data.update(values)
    activity = actions.create_activity(actor=actor, org=org, kind=kind, values=data, settings=settings)
    if publish:
        activity = actions.publish_activity(actor=actor, activity=activity)
    return activity
