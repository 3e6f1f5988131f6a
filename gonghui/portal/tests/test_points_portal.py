"""积分 page: balance, points expiring soon, the daily sign-in, the statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from gonghui.conftest import Tree
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.points import ledger, rules
from gonghui.points.models import Entry, Lot, RuleKind, SignIn

pytestmark = pytest.mark.django_db


def client_of(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def test_the_points_page_shows_balance_expiring_points_and_every_entry(tree: Tree, frank: Member, alice: User) -> None:
    ledger.earn(member=frank, amount=50, key="t:1", reason="测试获得")
    ledger.earn(member=frank, amount=7, key="t:2", reason="快到期", expires_at=timezone.now() + timedelta(days=10))
    ledger.adjust(actor=alice, member=frank, amount=-5, reason="更正", key="t:3")
    html = client_of(frank).get("/me/points/").content.decode()
    assert 'id="points-balance">52<' in html
    # The deduction took from the lot expiring first (FIFO): 7 − 5 = 2 left of it.
    assert Lot.objects.get(entry__idempotency_key="t:2").remaining == 2
    assert "30 天内到期 2" in html
    assert "测试获得" in html and "+50" in html and "更正" in html and "−5" in html
    assert "调整" in html and "工会发放" in html  # Chinese labels for kind and source
    assert "签到" in html


def test_expiring_soon_counts_only_lots_due_within_thirty_days(tree: Tree, frank: Member) -> None:
    ledger.earn(member=frank, amount=9, key="soon", expires_at=timezone.now() + timedelta(days=29))
    ledger.earn(member=frank, amount=4, key="later", expires_at=timezone.now() + timedelta(days=31))
    html = client_of(frank).get("/me/points/").content.decode()
    assert "30 天内到期 9" in html
    assert 'id="points-balance">13<' in html


def test_daily_sign_in_pays_once_and_says_so(tree: Tree, frank: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.SIGNIN, values={"points": 3})
    client = client_of(frank)
    htmx = {"HTTP_HX_REQUEST": "true"}
    first = client.post("/me/points/sign-in/", **htmx).content.decode()
    assert "+3 积分" in first and "今日已签到" in first and "连续签到 1 天" in first
    assert 'id="points-balance" hx-swap-oob="true">3<' in first
    second = client.post("/me/points/sign-in/", **htmx).content.decode()
    assert "今日已签到" in second and "+3 积分" not in second
    assert SignIn.objects.filter(member=frank).count() == 1
    assert ledger.balance_of(frank) == 3
    page = client.get("/me/points/").content.decode()
    assert "今日已签到" in page and "每日签到" in page and "+3" in page
    # Without htmx the form posts and comes back to the page.
    assert client.post("/me/points/sign-in/").status_code == 302


def test_the_statement_is_paginated(tree: Tree, frank: Member) -> None:
    for n in range(25):
        ledger.earn(member=frank, amount=1, key=f"p:{n}", reason=f"第{n}笔")
    client = client_of(frank)
    first = client.get("/me/points/").content.decode()
    second = client.get("/me/points/?page=2").content.decode()
    assert "第24笔" in first and "第0笔" not in first
    assert "第0笔" in second and "第 2 / 2 页" in second
    assert Entry.objects.filter(account__member=frank).count() == 25


def test_without_a_member_record_the_page_explains(tree: Tree) -> None:
    user = User.objects.create_user("13900000099", password="x" * 12)
    client = Client()
    client.force_login(user)
    html = client.get("/me/points/").content.decode()
    assert "关联会员档案" in html
    assert client.get("/news/").status_code == 200


def test_the_mall_is_linked_only_when_it_exists(tree: Tree, frank: Member) -> None:
    from django.urls import NoReverseMatch, reverse

    html = client_of(frank).get("/me/points/").content.decode()
    try:
        url = reverse("portal:mall")
    except NoReverseMatch:
        assert "积分商城" not in html
    else:
        assert url in html


def test_me_page_links_points_and_news(tree: Tree, frank: Member) -> None:
    html = client_of(frank).get("/me/").content.decode()
    assert "/me/points/" in html and "/news/" in html
