"""Entering a lottery that costs points: the spend is part of the entry, once per member;
not enough points is refused with nothing written; the portal shows cost and balance."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from gonghui.activities import actions as activity_actions
from gonghui.activities.eligibility import NotEligible
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.models import Entry
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.activities.models import Participation
from gonghui.conftest import Tree
from gonghui.core.errors import InvalidValue
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.points.models import Account, EntryKind, SourceType
from gonghui.points.models import Entry as PointsEntry

pytestmark = pytest.mark.django_db


def give(member: Member, amount: int) -> None:
    ledger.earn(member=member, amount=amount, key=f"test:give:{member.pk}:{amount}")


def spends(member: Member) -> list[PointsEntry]:
    return list(PointsEntry.objects.filter(account__member=member, kind=EntryKind.SPEND))


def member_client(member: Member) -> Client:
    member.user = User.objects.create_user(f"m{member.pk}", password="correct-horse-battery", name=member.name)
    member.save(update_fields=["user"])
    client = Client()
    client.force_login(member.user)
    return client


def test_points_cost_is_a_setting_of_zero_or_more(make_lottery: LotteryFactory, tree: Tree) -> None:
    free = make_lottery(publish=False)
    assert free.setting("points_cost") == 0  # a new draft starts from the form's initial value
    priced = make_lottery(publish=False, settings={"points_cost": 50})
    assert priced.setting("points_cost") == 50
    with pytest.raises(InvalidValue) as exc:
        activity_actions.update_activity(actor=None, activity=free, values={}, settings={"points_cost": -1})
    assert exc.value.code == "ACTIVITY_SETTINGS_INVALID" and exc.value.details["field"] == "points_cost"


def test_entering_spends_the_cost_once_in_the_entry_transaction(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(settings={"points_cost": 50})
    (member,) = members(1)
    give(member, 120)
    entry = actions.enter(member=member, activity=activity)
    assert ledger.balance_of(member) == 70
    (spend,) = spends(member)
    assert spend.amount == -50 and spend.idempotency_key == f"lottery-entry:{activity.pk}:{member.pk}"
    assert (spend.source_type, spend.source_id) == (SourceType.ACTIVITY, str(activity.pk))
    assert Entry.objects.get(activity=activity, member=member) == entry

    with pytest.raises(NotEligible) as exc:  # one entry per member: no second spend either
        actions.enter(member=member, activity=activity)
    assert exc.value.code == "LOTTERY_ENTERED"
    assert ledger.balance_of(member) == 70 and len(spends(member)) == 1


def test_not_enough_points_is_refused_with_nothing_written(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(settings={"points_cost": 50})
    poor, broke = members(2)
    give(poor, 30)
    entries_before = PointsEntry.objects.count()
    for member in (poor, broke):
        with pytest.raises(ledger.InsufficientPoints) as exc:
            actions.enter(member=member, activity=activity)
        assert exc.value.code == "POINTS_INSUFFICIENT" and "积分不足" in exc.value.message
    assert not Entry.objects.filter(activity=activity).exists()
    assert not Participation.objects.filter(activity=activity).exists()
    assert PointsEntry.objects.count() == entries_before
    assert ledger.balance_of(poor) == 30 and ledger.balance_of(broke) == 0

    give(poor, 20)  # with enough points the same member can enter
    actions.enter(member=poor, activity=activity)
    assert ledger.balance_of(poor) == 0 and len(spends(poor)) == 1


def test_a_free_lottery_does_not_touch_the_ledger(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery()
    (member,) = members(1)
    actions.enter(member=member, activity=activity)
    assert not Account.objects.filter(member=member).exists()


def test_the_portal_shows_cost_and_balance_and_refuses_in_chinese(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(settings={"points_cost": 50})
    poor, rich = members(2)
    give(poor, 10)
    give(rich, 80)
    client = member_client(poor)
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "参与需 50 积分，您当前有 10 积分。" in page and "积分不足，暂不能参与。" in page
    assert "每人参与需 50 积分" in page
    assert f'action="/a/{activity.pk}/lottery/enter/"' not in page
    refused = client.post(f"/a/{activity.pk}/lottery/enter/", follow=True).content.decode()
    assert "积分不足" in refused and not Entry.objects.filter(member=poor).exists()

    rich_client = member_client(rich)
    page = rich_client.get(f"/a/{activity.pk}/").content.decode()
    assert "参与需 50 积分，您当前有 80 积分。" in page and "花 50 积分参与抽奖" in page
    assert rich_client.post(f"/a/{activity.pk}/lottery/enter/").status_code == 302
    assert ledger.balance_of(rich) == 30 and Entry.objects.filter(member=rich).exists()


def test_the_api_states_the_cost_and_refuses_with_a_stable_code(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]]
) -> None:
    activity = make_lottery(settings={"points_cost": 50})
    (member,) = members(1)
    give(member, 10)
    client = member_client(member)
    url = f"/api/v1/activities/{activity.pk}/lottery"
    mine = client.get(f"{url}/me").json()
    assert mine["points_cost"] == 50 and mine["balance"] == 10
    refused = client.post(f"{url}/enter")
    assert refused.status_code == 409 and refused.json()["code"] == "POINTS_INSUFFICIENT"
    assert not Entry.objects.filter(member=member).exists() and ledger.balance_of(member) == 10
    give(member, 40)
    assert client.post(f"{url}/enter").status_code == 201
    assert client.get(f"{url}/me").json()["balance"] == 0
