"""The lottery's console pages, portal pages and API: who sees what, and 404 outside one's subtree."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from django.test import Client

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.lottery import actions
from gonghui.activities.kinds.lottery.models import Draw, Entry, Prize, Win, WinStatus
from gonghui.activities.kinds.lottery.tests.conftest import LotteryFactory
from gonghui.conftest import console_client
from gonghui.core.models import User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def member_client(member: Member) -> Client:
    if member.user is None:
        member.user = User.objects.create_user(f"m{member.pk}", password="correct-horse-battery", name=member.name)
        member.save(update_fields=["user"])
    client = Client()
    client.force_login(member.user)
    return client


def test_console_prizes_draw_winners_and_hand_over(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], bob: User
) -> None:
    activity = make_lottery(prizes=(), publish=False, settings={"manual_draw": True})
    client = console_client(bob)
    url = f"/console/activities/{activity.pk}/lottery/prizes/"
    response = client.post(url, {"name": "电饭煲", "quantity": "2", "order": "1", "claim_instructions": "周五下午领取"})
    assert response.status_code == 302
    prize = Prize.objects.get(activity=activity)
    assert (prize.name, prize.quantity) == ("电饭煲", 2)
    assert client.post(url, {"name": "", "quantity": "0"}).status_code == 400
    edit = client.post(f"{url}{prize.pk}/", {"name": "电饭煲（小）", "quantity": "3", "order": "1"})
    assert edit.status_code == 302 and Prize.objects.get(pk=prize.pk).quantity == 3
    page = client.get(url)
    assert "电饭煲（小）" in page.content.decode() and "共 3 个名额" in page.content.decode()

    activity = activity_actions.publish_activity(actor=bob, activity=activity)
    people = members(2)
    for member in people:
        actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=bob, activity=activity)
    detail = client.get(f"/console/activities/{activity.pk}/").content.decode()
    assert "开奖" in detail and Draw.objects.get(activity=activity).commitment in detail
    assert client.post(f"/console/activities/{activity.pk}/lottery/draw/").status_code == 302
    assert Win.objects.filter(activity=activity).count() == 2

    win = Win.objects.select_related("entry__member").order_by("slot").first()
    assert win is not None
    claimed = actions.claim(member=win.entry.member, win=win)
    winners_url = f"/console/activities/{activity.pk}/lottery/winners/"
    listing = client.get(winners_url).content.decode()
    assert win.entry.member.name in listing and claimed.claim_code in listing
    assert client.post(winners_url, {"claim_code": "99999999"}).status_code == 400
    assert client.post(winners_url, {"claim_code": claimed.claim_code}).status_code == 302
    assert Win.objects.get(pk=win.pk).status == WinStatus.HANDED_OVER

    export = client.get(f"/console/activities/{activity.pk}/export/?format=csv").content.decode("utf-8-sig")
    assert "参与码" in export.splitlines()[0] and win.entry.code in export and "已兑奖" in export


def test_another_district_gets_404_everywhere(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], charlie: User
) -> None:
    activity = make_lottery()
    (member,) = members(1)
    actions.enter(member=member, activity=activity)
    activity_actions.close_activity(actor=None, activity=activity)
    win = Win.objects.get(activity=activity)
    prize = Prize.objects.filter(activity=activity).first()
    assert prize is not None
    client = console_client(charlie)
    base = f"/console/activities/{activity.pk}/lottery"
    for url in (f"{base}/prizes/", f"{base}/prizes/{prize.pk}/", f"{base}/winners/"):
        assert client.get(url).status_code == 404, url
    for url in (f"{base}/draw/", f"{base}/wins/{win.pk}/hand-over/", f"{base}/prizes/{prize.pk}/delete/"):
        assert client.post(url).status_code == 404, url
    api = f"/api/v1/activities/{activity.pk}/lottery"
    assert client.get(f"{api}/prizes").status_code == 404
    assert client.get(f"{api}/winners").status_code == 404
    assert client.post(f"{api}/draw", content_type="application/json").status_code == 404
    assert client.post(f"{api}/wins/{win.pk}/hand-over", {}, content_type="application/json").status_code == 404


def test_portal_panel_enter_and_claim(make_lottery: LotteryFactory, members: Callable[[int], list[Member]]) -> None:
    activity = make_lottery(prizes=(("保温杯", 1, 0),))
    (member,) = members(1)
    client = member_client(member)
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "参与抽奖" in page and Draw.objects.get(activity=activity).commitment in page
    response = client.post(f"/a/{activity.pk}/lottery/enter/")
    assert response.status_code == 302
    entry = Entry.objects.get(activity=activity, member=member)
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "已参与" in page and entry.code in page and "参与抽奖</button>" not in page
    client.post(f"/a/{activity.pk}/lottery/enter/")  # a second tap changes nothing
    assert Entry.objects.filter(activity=activity).count() == 1

    activity_actions.close_activity(actor=None, activity=activity)
    win = Win.objects.get(activity=activity)
    page = client.get(f"/a/{activity.pk}/").content.decode()
    assert "确认领奖" in page and "保温杯" in page
    assert client.post(f"/a/{activity.pk}/lottery/wins/{win.pk}/claim/").status_code == 302
    win.refresh_from_db()
    assert win.status == WinStatus.CLAIMED and win.claim_code in client.get(f"/a/{activity.pk}/").content.decode()

    # Another member cannot claim it; the public results page names only the code.
    stranger = member_client(members(1)[0])
    assert stranger.post(f"/a/{activity.pk}/lottery/wins/{win.pk}/claim/").status_code == 404
    results = Client().get(f"/a/{activity.pk}/lottery/results/").content.decode()
    assert entry.code in results and member.name not in results
    csv_body = Client().get(f"/a/{activity.pk}/lottery/entries.csv").content.decode()
    assert csv_body.splitlines() == ["entry_code", entry.code]


def test_entry_list_is_not_published_while_entries_are_open(make_lottery: LotteryFactory) -> None:
    activity = make_lottery()
    assert Client().get(f"/a/{activity.pk}/lottery/entries.csv").status_code == 404
    draft = make_lottery(publish=False)
    assert Client().get(f"/api/v1/activities/{draft.pk}/lottery/public").status_code == 404
    assert Client().get(f"/a/{draft.pk}/lottery/results/").status_code == 404


def test_api_for_members_and_organisers(
    make_lottery: LotteryFactory, members: Callable[[int], list[Member]], bob: User
) -> None:
    activity = make_lottery(prizes=(), publish=False, settings={"manual_draw": True})
    cadre = console_client(bob)
    api = f"/api/v1/activities/{activity.pk}/lottery"
    created = cadre.post(f"{api}/prizes", {"name": "书券", "quantity": 1}, content_type="application/json")
    assert created.status_code == 201, created.content
    prize_id = created.json()["id"]
    changed = cadre.put(
        f"{api}/prizes/{prize_id}", {"name": "书券 100 元", "quantity": 2}, content_type="application/json"
    )
    assert changed.status_code == 200 and changed.json()["quantity"] == 2
    assert [p["name"] for p in cadre.get(f"{api}/prizes").json()] == ["书券 100 元"]
    activity = activity_actions.publish_activity(actor=bob, activity=activity)

    (member,) = members(1)
    client = member_client(member)
    mine = client.get(f"{api}/me").json()
    assert mine["eligible"] is True and mine["entry"] is None
    entered = client.post(f"{api}/enter", content_type="application/json")
    assert entered.status_code == 201 and len(entered.json()["code"]) == 12
    again = client.post(f"{api}/enter", content_type="application/json")
    assert again.status_code == 403 and again.json()["code"] == "LOTTERY_ENTERED"
    assert Client().post(f"{api}/enter", content_type="application/json").status_code == 401

    early = cadre.post(f"{api}/draw", content_type="application/json")
    assert early.status_code == 409 and early.json()["code"] == "LOTTERY_NOT_CLOSED"
    activity_actions.close_activity(actor=bob, activity=activity)
    drawn = cadre.post(f"{api}/draw", content_type="application/json")
    assert drawn.status_code == 200 and drawn.json()["winners"] == 1
    public = json.loads(Client().get(f"{api}/public").content)
    assert public["seed"] == drawn.json()["seed"]

    win_id = client.get(f"{api}/me").json()["wins"][0]["id"]
    claimed = client.post(f"{api}/wins/{win_id}/claim", content_type="application/json")
    assert claimed.status_code == 200 and claimed.json()["status"] == "claimed"
    code = claimed.json()["claim_code"]
    winners = cadre.get(f"{api}/winners").json()
    assert winners[0]["name"] == member.name and winners[0]["claim_code"] == code
    handed = cadre.post(f"{api}/wins/{win_id}/hand-over", {"claim_code": code}, content_type="application/json")
    assert handed.status_code == 200 and handed.json()["status"] == "handed_over"
    # A member session is not a cadre's: the organiser endpoints refuse it.
    assert client.get(f"{api}/winners").status_code == 403
