"""数据对比智能校验: each rule finds exactly its cases; re-runs add nothing; scoping."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest
from django.http import Http404
from django.utils import timezone

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.members import datachecks
from gonghui.members.models import DataFinding, EmploymentStatus, FindingStatus, Member, MemberStatus
from gonghui.orgs.models import Org, OrgStatus

_mobiles = itertools.count(13500000000)


def clean(org: Org, name: str = "张三", **kwargs: Any) -> Member:
    """A member no rule has anything to say about (unless kwargs change that)."""
    age = kwargs.pop("age", 35)
    birth = date(timezone.localdate().year - age, 1, 1)
    kwargs.setdefault("mobile", str(next(_mobiles)))
    kwargs.setdefault("workplace", "广州天河软件园有限公司")
    kwargs.setdefault("id_number", new_id_number(kwargs.pop("region", "440106"), birth))
    return make_member(org, name, **kwargs)


def open_findings(rule: str | None = None) -> set[tuple[str, int]]:
    qs = DataFinding.objects.filter(status=FindingStatus.OPEN)
    if rule:
        qs = qs.filter(rule=rule)
    return {(f.rule, f.member_id) for f in qs if f.member_id is not None}


def test_clean_members_have_no_findings(tree: Tree) -> None:
    members = [clean(tree.tianhe_union, f"员工{i}") for i in range(3)]
    counts = datachecks.check_members(m.pk for m in members)
    assert counts.checked == 3 and counts.created == 0
    assert not DataFinding.objects.exists()


def test_same_mobile_flags_every_holder_and_only_them(tree: Tree) -> None:
    a = clean(tree.tianhe_union, "甲", mobile="13911112222")
    b = clean(tree.nanshan_union, "乙", mobile="13911112222")
    c = clean(tree.tianhe_union, "丙")
    # A member who left does not count as a holder.
    d = clean(tree.tianhe_union, "丁", mobile="13933334444")
    e = clean(tree.tianhe_union, "戊", mobile="13933334444")
    Member.objects.filter(pk=e.pk).update(status=MemberStatus.LEFT)
    datachecks.check_members([a.pk, b.pk, c.pk, d.pk, e.pk])
    assert open_findings() == {("SAME_MOBILE", a.pk), ("SAME_MOBILE", b.pk)}
    finding = DataFinding.objects.get(member=a)
    assert finding.severity == "warning" and "2 名会员" in finding.message and "139****2222" in finding.message


@pytest.mark.parametrize(
    ("age", "status", "flagged"),
    [
        (15, EmploymentStatus.EMPLOYED, True),
        (16, EmploymentStatus.EMPLOYED, False),
        (70, EmploymentStatus.EMPLOYED, False),
        (71, EmploymentStatus.EMPLOYED, True),
        (39, EmploymentStatus.RETIRED, True),
        (40, EmploymentStatus.RETIRED, False),
        (15, EmploymentStatus.UNEMPLOYED, False),
        (80, EmploymentStatus.FLEXIBLE, False),
    ],
)
def test_age_employment_bounds(tree: Tree, age: int, status: str, flagged: bool) -> None:
    member = clean(tree.tianhe_union, age=age, employment_status=status)
    datachecks.check_members([member.pk])
    assert open_findings() == ({("AGE_EMPLOYMENT", member.pk)} if flagged else set())


def test_region_far_is_info_and_uses_the_nearest_region_code(tree: Tree) -> None:
    local = clean(tree.tianhe_union, "本地")
    sichuan = clean(tree.tianhe_union, "川籍", region="510104")
    # A union without its own region code takes its parent's (Guangdong).
    Org.objects.filter(pk=tree.nanshan_union.pk).update(region_code="")
    hunan = clean(Org.objects.get(pk=tree.nanshan_union.pk), "湘籍", region="430102")
    datachecks.check_members([local.pk, sichuan.pk, hunan.pk])
    assert open_findings() == {("REGION_FAR", sichuan.pk), ("REGION_FAR", hunan.pk)}
    assert set(DataFinding.objects.values_list("severity", flat=True)) == {"info"}
    assert DataFinding.objects.get(member=sichuan).details == {"id_province": "51", "org_province": "44"}


def test_missing_required_lists_what_is_missing(tree: Tree) -> None:
    no_mobile = clean(tree.tianhe_union, "无手机", mobile="")
    no_workplace = clean(tree.tianhe_union, "无单位", workplace="")
    unemployed_no_workplace = clean(tree.tianhe_union, "失业", workplace="", employment_status="unemployed")
    datachecks.check_members([no_mobile.pk, no_workplace.pk, unemployed_no_workplace.pk])
    assert open_findings() == {("MISSING_REQUIRED", no_mobile.pk), ("MISSING_REQUIRED", no_workplace.pk)}
    assert DataFinding.objects.get(member=no_workplace).details == {"missing": ["工作单位"]}


def test_closed_union_is_an_error_for_active_members_only(tree: Tree) -> None:
    active = clean(tree.tianhe_union, "在册")
    retained = clean(tree.tianhe_union, "保留")
    Member.objects.filter(pk=retained.pk).update(status=MemberStatus.RETAINED)
    Org.objects.filter(pk=tree.tianhe_union.pk).update(status=OrgStatus.CLOSED)
    datachecks.check_members([active.pk, retained.pk])
    assert open_findings() == {("CLOSED_UNION", active.pk)}
    assert DataFinding.objects.get().severity == "error"


def test_rerun_adds_nothing_and_resolves_what_was_fixed(tree: Tree, bob: User) -> None:
    a = clean(tree.tianhe_union, "甲", mobile="")
    b = clean(tree.tianhe_union, "乙", age=75)
    first = datachecks.run_checks(bob, tree.tianhe)
    assert first.created == 2 and not first.queued
    second = datachecks.run_checks(bob, tree.tianhe)
    assert second.created == 0 and second.resolved == 0
    assert DataFinding.objects.count() == 2
    Member.objects.filter(pk=a.pk).update(mobile="13700001111")
    third = datachecks.run_checks(bob, tree.tianhe)
    assert third.resolved == 1 and third.created == 0
    fixed = DataFinding.objects.get(member=a)
    assert fixed.status == FindingStatus.RESOLVED and fixed.resolution_note == datachecks.AUTO_RESOLVED_NOTE
    assert open_findings() == {("AGE_EMPLOYMENT", b.pk)}
    # The problem comes back: a new open finding beside the resolved one.
    Member.objects.filter(pk=a.pk).update(mobile="")
    assert datachecks.run_checks(bob, tree.tianhe).created == 1
    assert DataFinding.objects.filter(member=a).count() == 2
    assert AuditEvent.objects.filter(action="datacheck.run").count() == 4


def test_dismissed_findings_stay_dismissed(tree: Tree, bob: User) -> None:
    member = clean(tree.tianhe_union, "甲", mobile="")
    datachecks.run_checks(bob, tree.tianhe)
    finding = DataFinding.objects.get()
    assert datachecks.close_findings(bob, [finding.pk], FindingStatus.DISMISSED, "本人无手机") == 1
    datachecks.run_checks(bob, tree.tianhe)
    assert DataFinding.objects.filter(member=member).count() == 1
    event = AuditEvent.objects.get(action="datafinding.dismissed")
    assert event.details["note"] == "本人无手机" and event.actor == bob


def test_left_members_findings_are_closed(tree: Tree, bob: User) -> None:
    member = clean(tree.tianhe_union, "甲", mobile="")
    datachecks.run_checks(bob, tree.tianhe)
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.LEFT)
    assert datachecks.run_checks(bob, tree.tianhe).resolved == 1


def test_run_checks_is_scoped(tree: Tree, bob: User) -> None:
    mine = clean(tree.tianhe_union, "甲", mobile="")
    theirs = clean(tree.nanshan_union, "乙", mobile="")
    with pytest.raises(Http404):
        datachecks.run_checks(bob, tree.nanshan)
    datachecks.run_checks(bob, tree.tianhe)
    assert open_findings() == {("MISSING_REQUIRED", mine.pk)}
    assert theirs.pk not in {m for _r, m in open_findings()}


def test_close_findings_skips_other_districts(tree: Tree, bob: User, charlie: User) -> None:
    clean(tree.tianhe_union, "甲", mobile="")
    clean(tree.nanshan_union, "乙", mobile="")
    datachecks.check_members(Member.objects.values_list("pk", flat=True))
    ids = list(DataFinding.objects.values_list("pk", flat=True))
    assert datachecks.close_findings(bob, ids, FindingStatus.RESOLVED, "已补录") == 1
    assert DataFinding.objects.filter(org_path__startswith=tree.nanshan.path, status="open").count() == 1
    with pytest.raises(DomainError) as exc:
        datachecks.close_findings(bob, ids, FindingStatus.RESOLVED, "再次")
    assert exc.value.code == "FINDING_NOT_OPEN"
    with pytest.raises(DomainError):
        datachecks.close_findings(charlie, ids, FindingStatus.RESOLVED, "")


def test_big_subtrees_run_in_the_background(
    tree: Tree, bob: User, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.DATACHECK_INLINE_LIMIT = 1
    clean(tree.tianhe_union, "甲", mobile="")
    clean(tree.tianhe_union, "乙", mobile="")
    with django_capture_on_commit_callbacks(execute=True):
        counts = datachecks.run_checks(bob, tree.tianhe)
    assert counts.queued and counts.created == 0
    assert DataFinding.objects.filter(status="open").count() == 2
    assert AuditEvent.objects.filter(action="datacheck.run", actor_label="datacheck_task").exists()


def test_batches_cover_the_whole_subtree(tree: Tree, bob: User, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(datachecks, "BATCH_SIZE", 2)
    members = [clean(tree.tianhe_union, f"员工{i}", mobile="") for i in range(5)]
    counts = datachecks.run_checks(bob, tree.tianhe)
    assert counts.checked == 5 and counts.created == 5
    assert open_findings("MISSING_REQUIRED") == {("MISSING_REQUIRED", m.pk) for m in members}
