"""积分规则, a member's points with grants and deductions, the points report; scoping."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.points import ledger, rules
from gonghui.points.models import EarningRule, Entry, RuleKind

pytestmark = pytest.mark.django_db


def nonce_of(html: str) -> str:
    found = re.search(r'name="nonce" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_rules_page_shows_own_and_inherited_rules_and_adds_a_version(tree: Tree, alice: User, bob: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.SIGNIN, values={"points": 2})
    rules.set_rule(actor=bob, org=tree.tianhe, kind=RuleKind.READ_NEWS, values={"points": 5, "min_read_seconds": 20})
    client = console_client(bob)
    html = client.get(f"/console/points/rules/?org={tree.tianhe.pk}").content.decode()
    assert "继承自广东省总工会" in html and "本级设置" in html and "阅读满 20 秒" in html

    response = client.post(
        f"/console/points/rules/{tree.tianhe.pk}/add/",
        {"kind": RuleKind.SIGNIN, "points": "4", "streak_days": "7", "streak_bonus": "10"},
    )
    assert response.status_code == 302
    assert rules.effective_rule(tree.tianhe.path, RuleKind.SIGNIN, timezone.now()).points == 4  # type: ignore[union-attr]
    html = client.get(f"/console/points/rules/?org={tree.tianhe.pk}").content.decode()
    assert "每连续 7 天奖 10 分" in html
    # A rule in the past is refused on the form, nothing written.
    before = EarningRule.objects.count()
    response = client.post(
        f"/console/points/rules/{tree.tianhe.pk}/add/",
        {"kind": RuleKind.SIGNIN, "points": "9", "effective_from": "2020-01-01T00:00"},
    )
    assert response.status_code == 400 and "不能改写" in response.content.decode()
    assert EarningRule.objects.count() == before


def test_rules_are_scoped(tree: Tree, bob: User, charlie: User) -> None:
    client = console_client(charlie)
    assert client.get(f"/console/points/rules/?org={tree.tianhe.pk}").status_code == 404
    response = client.post(f"/console/points/rules/{tree.tianhe.pk}/add/", {"kind": RuleKind.SIGNIN, "points": "99"})
    assert response.status_code == 404
    assert not EarningRule.objects.filter(org=tree.tianhe).exists()


def test_a_grant_pays_once_on_double_submit(tree: Tree, bob: User, frank: Member) -> None:
    client = console_client(bob)
    html = client.get(f"/console/members/{frank.pk}/points/").content.decode()
    nonce = nonce_of(html)
    form = {"direction": "grant", "amount": "30", "reason": "优秀志愿者", "nonce": nonce}
    first = client.post(f"/console/members/{frank.pk}/points/adjust/", form)
    second = client.post(f"/console/members/{frank.pk}/points/adjust/", form)
    assert first.status_code == second.status_code == 302
    assert ledger.balance_of(frank) == 30
    assert Entry.objects.filter(account__member=frank).count() == 1
    assert AuditEvent.objects.filter(action="points.adjust").count() == 1
    page = client.get(f"/console/members/{frank.pk}/points/", follow=True).content.decode()
    assert 'id="member-balance">30<' in page and "优秀志愿者" in page
    assert nonce_of(page) != nonce  # a fresh form: the next grant is a new one

    deduct = {"direction": "deduct", "amount": "50", "reason": "多发更正", "nonce": nonce_of(page)}
    refused = client.post(f"/console/members/{frank.pk}/points/adjust/", deduct)
    assert refused.status_code == 400 and "积分不足" in refused.content.decode()
    assert ledger.balance_of(frank) == 30


def test_member_points_are_scoped(tree: Tree, charlie: User, erin: User, frank: Member) -> None:
    client = console_client(charlie)
    assert client.get(f"/console/members/{frank.pk}/points/").status_code == 404
    form = {"direction": "grant", "amount": "5", "reason": "越界", "nonce": "x" * 24}
    assert client.post(f"/console/members/{frank.pk}/points/adjust/", form).status_code == 404
    # An auditor of the city reads but may not grant.
    auditor = console_client(erin)
    html = auditor.get(f"/console/members/{frank.pk}/points/").content.decode()
    assert "发放或扣减积分" not in html
    assert auditor.post(f"/console/members/{frank.pk}/points/adjust/", form).status_code == 404
    assert ledger.balance_of(frank) == 0


def test_the_member_page_links_to_points(tree: Tree, bob: User, frank: Member) -> None:
    html = console_client(bob).get(f"/console/members/{frank.pk}/").content.decode()
    assert f"/console/members/{frank.pk}/points/" in html


def test_the_report_sums_the_subtree_by_month(tree: Tree, alice: User, bob: User, frank: Member) -> None:
    shenzhen_member = make_member(tree.nanshan_union, "深圳会员")
    ledger.earn(member=frank, amount=40, key="r:1")
    ledger.spend(member=frank, amount=15, key="r:2")
    ledger.adjust(actor=bob, member=frank, amount=5, reason="奖励", key="r:3")
    ledger.earn(member=shenzhen_member, amount=1000, key="r:4")
    html = console_client(bob).get("/console/points/report/").content.decode()
    assert 'id="sum-issued">45<' in html and 'id="sum-spent">15 / 0<' in html
    assert 'id="total-balance">30<' in html  # Shenzhen's 1000 is not bob's to see
    assert "points-chart-data" in html and "echarts" in html
    province = console_client(alice).get("/console/points/report/").content.decode()
    assert 'id="sum-issued">1,045<' in province or 'id="sum-issued">1045<' in province
    assert console_client(bob).get(f"/console/points/report/?org={tree.nanshan.pk}").status_code == 404
