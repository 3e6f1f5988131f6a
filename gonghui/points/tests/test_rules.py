from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from gonghui.activities.signals import participated
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.members.signals import member_joined, member_verified
from gonghui.points import ledger, rules
from gonghui.points.checks import check_points
from gonghui.points.models import Entry, RuleKind, SignIn
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(tree: Tree) -> Member:
    return make_member(tree.tianhe_union, "孙八")


def test_the_nearest_union_with_a_rule_pays(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 2})
    assert rules.award(member, RuleKind.READ_NEWS, 1).points == 2
    rules.set_rule(actor=alice, org=tree.tianhe, kind=RuleKind.READ_NEWS, values={"points": 5})
    assert rules.award(member, RuleKind.READ_NEWS, 2).points == 5
    other = make_member(tree.nanshan_union, "周九")
    assert rules.award(other, RuleKind.READ_NEWS, 2).points == 2  # Shenzhen inherits the province's
    # points = 0 switches earning off for a subtree
    rules.set_rule(actor=alice, org=tree.tianhe_union, kind=RuleKind.READ_NEWS, values={"points": 0})
    assert rules.award(member, RuleKind.READ_NEWS, 3).code == "NO_RULE"


def test_a_rule_change_applies_from_its_date_and_never_rewrites_history(
    tree: Tree, member: Member, alice: User
) -> None:
    first = rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 2})
    paid = rules.award(member, RuleKind.READ_NEWS, 1)
    later = timezone.now() + timedelta(days=1)
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 9}, effective_from=later)
    assert rules.award(member, RuleKind.READ_NEWS, 2).points == 2  # the new version is not in effect yet
    assert rules.award(member, RuleKind.READ_NEWS, 3, at=later + timedelta(hours=1)).points == 9
    assert Entry.objects.get(pk=paid.entry.pk).amount == 2  # type: ignore[union-attr]
    with pytest.raises(RuntimeError):
        first.points = 100
        first.save()
    with pytest.raises(InvalidValue) as exc:
        rules.set_rule(
            actor=alice,
            org=tree.province,
            kind=RuleKind.READ_NEWS,
            values={"points": 1},
            effective_from=timezone.now() - timedelta(days=2),
        )
    assert exc.value.code == "POINTS_RULE_PAST"
    assert AuditEvent.objects.filter(action="points.rule").count() == 2


def test_each_event_pays_once(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 3})
    assert rules.award(member, RuleKind.READ_NEWS, 7).points == 3
    again = rules.award(member, RuleKind.READ_NEWS, 7)
    assert again.replayed and ledger.balance_of(member) == 3


def test_daily_monthly_and_overall_caps(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 4, "daily_cap": 10})
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.ACTIVITY, values={"points": 20})
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.OVERALL, values={"daily_cap": 25})
    paid = [rules.award(member, RuleKind.READ_NEWS, n) for n in range(4)]
    assert [a.points for a in paid] == [4, 4, 2, 0]
    assert [a.code for a in paid] == ["PAID", "PAID", "CAPPED", "CAP_REACHED"]
    assert rules.award(member, RuleKind.ACTIVITY, 1).points == 15  # the overall cap: 25 − 10
    assert rules.award(member, RuleKind.ACTIVITY, 2).code == "CAP_REACHED"
    # The next day the caps start again; cadre grants never count against them.
    ledger.adjust(actor=alice, member=member, amount=100, reason="表彰", key="grant-1")
    tomorrow = timezone.now() + timedelta(days=1)
    assert rules.award(member, RuleKind.READ_NEWS, 9, at=tomorrow).points == 4
    assert check_points().ok


def test_monthly_cap(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 4, "monthly_cap": 6})
    assert [rules.award(member, RuleKind.READ_NEWS, n).points for n in range(3)] == [4, 2, 0]


def test_sign_in_once_a_day_with_a_streak_bonus(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(
        actor=alice,
        org=tree.province,
        kind=RuleKind.SIGNIN,
        values={"points": 1, "streak_days": 3, "streak_bonus": 5},
    )
    start = date(2026, 11, 1)
    points = [rules.sign_in(member, today=start + timedelta(days=n)).award.points for n in range(4)]
    assert points == [1, 1, 6, 1]
    with pytest.raises(Conflict) as exc:
        rules.sign_in(member, today=start + timedelta(days=3))
    assert exc.value.code == "ALREADY_SIGNED_IN"
    # A missed day restarts the streak.
    assert rules.sign_in(member, today=start + timedelta(days=5)).sign_in.streak == 1
    assert list(SignIn.objects.filter(member=member).values_list("points", flat=True).order_by("on_date")) == [
        1,
        1,
        6,
        1,
        1,
    ]


def test_events_from_other_modules_pay_through_the_rules(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.ACTIVITY, values={"points": 10})
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.JOIN, values={"points": 50})
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.VERIFY, values={"points": 30})
    with transaction.atomic():
        participated.send(sender=None, activity_id=42, member_id=member.pk, kind="vote", org_id=tree.province.pk)
        participated.send(sender=None, activity_id=42, member_id=member.pk, kind="vote", org_id=tree.province.pk)
        member_joined.send(sender=Member, member_id=member.pk, org_id=member.org_id)
        member_verified.send(sender=Member, member_id=member.pk)
    assert ledger.balance_of(member) == 90
    sources = set(Entry.objects.filter(account__member=member).values_list("source_id", flat=True))
    assert sources == {"activity:42", "join:member", "verify:member"}


def test_members_who_left_earn_nothing(tree: Tree, member: Member, alice: User) -> None:
    rules.set_rule(actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 3})
    Member.objects.filter(pk=member.pk).update(status="left")
    member.refresh_from_db()
    assert rules.award(member, RuleKind.READ_NEWS, 1).code == "MEMBER_NOT_ACTIVE"
    assert not Entry.objects.filter(account__member=member).exists()


@pytest.mark.postgres_only
@on_postgres_only
def test_parallel_earnings_respect_the_daily_cap(transactional_db: Any, tree: Tree) -> None:
    admin = User.objects.create_user("caps-admin", password="x" * 12)
    member = make_member(tree.tianhe_union, "吴十")
    rules.set_rule(actor=admin, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 3, "daily_cap": 10})
    results = race(*[(lambda n=n: rules.award(member, RuleKind.READ_NEWS, n)) for n in range(8)])
    assert all(isinstance(r, rules.Award) for r in results), results
    assert sum(r.points for r in results) == 10
    assert ledger.balance_of(member) == 10


@pytest.mark.postgres_only
@on_postgres_only
def test_parallel_sign_ins_pay_once(transactional_db: Any, tree: Tree) -> None:
    admin = User.objects.create_user("signin-admin", password="x" * 12)
    member = make_member(tree.tianhe_union, "郑十一")
    rules.set_rule(actor=admin, org=tree.province, kind=RuleKind.SIGNIN, values={"points": 2})
    results = race(*[(lambda: rules.sign_in(member)) for _ in range(6)])
    assert sum(isinstance(r, rules.SignInResult) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 5
    assert ledger.balance_of(member) == 2
