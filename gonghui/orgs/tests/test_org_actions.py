"""Changes to the union tree: create, edit, move a subtree, close a union."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.http import Http404

from gonghui.conftest import Tree, make_member, make_org
from gonghui.core import uscc
from gonghui.core.access import Perm, get_object_or_404, scope
from gonghui.core.errors import DomainError, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member, MemberStatus, RetainReason
from gonghui.orgs import actions
from gonghui.orgs.models import Org, OrgLevel, OrgStatus
from gonghui.testing.concurrency import hold_then_race, on_postgres_only, race


def code(serial: int, grassroots: bool = True) -> str:
    return uscc.make_union_code("440106", serial, grassroots=grassroots)


def fresh(org: Org) -> Org:
    return Org.objects.get(pk=org.pk)


# --- create ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "level"),
    [
        ("tianhe_street", OrgLevel.GRASSROOTS),
        ("tianhe", OrgLevel.GRASSROOTS),
        ("tianhe", OrgLevel.INDUSTRY),
        ("tianhe_union", OrgLevel.BRANCH),
        ("tianhe_union", OrgLevel.GROUP),
        ("guangzhou", OrgLevel.DISTRICT),
    ],
)
def test_create_under_an_allowed_parent(tree: Tree, bob: User, parent: str, level: str) -> None:
    parent_org = getattr(tree, parent)
    org = actions.create_org(actor=bob, parent=parent_org, level=level, values={"name": " 新工会 "})
    assert org.name == "新工会"
    assert fresh(org).path.startswith(parent_org.path) and org.depth == parent_org.depth + 1
    assert Org.objects.get_parent(fresh(org)) == parent_org
    assert (org.name_pinyin, org.name_initials) == ("xingonghui", "xgh")


@pytest.mark.parametrize(
    ("parent", "level"),
    [
        ("guangzhou", OrgLevel.STREET),
        ("tianhe_street", OrgLevel.DISTRICT),
        ("tianhe_union", OrgLevel.GRASSROOTS),
        ("province", OrgLevel.PROVINCE),
        (None, OrgLevel.CITY),
        ("tianhe", "kingdom"),
    ],
)
def test_create_under_a_forbidden_parent_is_refused(tree: Tree, parent: str | None, level: str) -> None:
    count = Org.objects.count()
    with pytest.raises(InvalidValue) as caught:
        actions.create_org(
            actor=None, parent=getattr(tree, parent) if parent else None, level=level, values={"name": "新工会"}
        )
    assert caught.value.code == "ORG_BAD_LEVEL"
    assert Org.objects.count() == count


def test_create_needs_a_name_and_an_open_parent(tree: Tree) -> None:
    with pytest.raises(InvalidValue) as caught:
        actions.create_org(actor=None, parent=tree.tianhe_street, level=OrgLevel.GRASSROOTS, values={"name": " "})
    assert caught.value.code == "ORG_NAME_REQUIRED"
    actions.close_org(actor=None, org=tree.tianhe_street, reason="撤并")
    with pytest.raises(DomainError) as caught:
        actions.create_org(
            actor=None, parent=fresh(tree.tianhe_street), level=OrgLevel.GRASSROOTS, values={"name": "新工会"}
        )
    assert caught.value.code == "ORG_CLOSED"


def test_uscc_is_validated_and_normalised(tree: Tree) -> None:
    good = code(1)
    org = actions.create_org(
        actor=None,
        parent=tree.tianhe_street,
        level=OrgLevel.GRASSROOTS,
        values={"name": "甲公司工会", "uscc": f" {good.lower()} "},
    )
    assert org.uscc == good
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    not_union = uscc.make("91440106" + good[8:17])
    for raw, error in ((bad_check, "USCC_BAD_CHECK_CHAR"), (not_union, "USCC_NOT_UNION"), ("123", "USCC_BAD_FORMAT")):
        with pytest.raises(InvalidValue) as caught:
            actions.create_org(
                actor=None,
                parent=tree.tianhe_street,
                level=OrgLevel.GRASSROOTS,
                values={"name": "乙公司工会", "uscc": raw},
            )
        assert caught.value.code == error


def test_uscc_is_unique_on_create_and_update(tree: Tree) -> None:
    taken = code(2)
    actions.create_org(
        actor=None, parent=tree.tianhe_street, level=OrgLevel.GRASSROOTS, values={"name": "甲公司工会", "uscc": taken}
    )
    with pytest.raises(InvalidValue) as caught:
        actions.create_org(
            actor=None,
            parent=tree.nanshan_street,
            level=OrgLevel.GRASSROOTS,
            values={"name": "乙公司工会", "uscc": taken.lower()},
        )
    assert caught.value.code == "ORG_USCC_TAKEN"
    with pytest.raises(InvalidValue) as caught:
        actions.update_org(actor=None, org=tree.nanshan_union, values={"uscc": taken})
    assert caught.value.code == "ORG_USCC_TAKEN"


def test_an_org_keeps_its_own_uscc_on_update(tree: Tree) -> None:
    own = code(3)
    actions.update_org(actor=None, org=tree.tianhe_union, values={"uscc": own})
    actions.update_org(actor=None, org=tree.tianhe_union, values={"uscc": own, "address": "天河路"})
    assert fresh(tree.tianhe_union).uscc == own
    actions.update_org(actor=None, org=tree.tianhe_union, values={"uscc": ""})
    assert fresh(tree.tianhe_union).uscc is None  # empty is stored as NULL: many unions have none


@pytest.mark.parametrize(
    ("values", "error"),
    [
        ({"region_code": "44010"}, "ORG_BAD_REGION"),
        ({"theme_color": "red"}, "ORG_BAD_THEME_COLOR"),
        ({"status": "closed"}, "ORG_UNKNOWN_FIELD"),
        ({"path": "0001"}, "ORG_UNKNOWN_FIELD"),
    ],
)
def test_update_refuses_bad_values(tree: Tree, values: dict[str, Any], error: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        actions.update_org(actor=None, org=tree.tianhe_union, values=values)
    assert caught.value.code == error


def test_update_refuses_a_term_that_ends_before_it_starts(tree: Tree) -> None:
    from datetime import date

    with pytest.raises(InvalidValue) as caught:
        actions.update_org(
            actor=None, org=tree.tianhe_union, values={"term_start": date(2024, 1, 1), "term_end": date(2023, 1, 1)}
        )
    assert caught.value.code == "ORG_BAD_TERM"


# --- move ------------------------------------------------------------------------------


def test_move_rewrites_paths_of_the_subtree_and_its_members(tree: Tree) -> None:
    branch = make_org(tree.tianhe_union, OrgLevel.BRANCH, "研发部分工会")
    in_union = make_member(tree.tianhe_union, "王天河")
    in_branch = make_member(branch, "钱分会")
    stays = make_member(tree.tianhe, "赵区直")
    elsewhere = make_member(tree.nanshan_union, "李南山")

    actions.move_subtree(actor=None, org=tree.tianhe_street, new_parent=tree.nanshan)

    street, union, branch = fresh(tree.tianhe_street), fresh(tree.tianhe_union), fresh(branch)
    nanshan = fresh(tree.nanshan)
    assert Org.objects.get_parent(street) == nanshan
    assert street.path.startswith(nanshan.path) and street.depth == nanshan.depth + 1
    assert union.path.startswith(street.path) and branch.path.startswith(union.path)
    assert (union.depth, branch.depth) == (street.depth + 1, street.depth + 2)
    for member, org in (
        (in_union, union),
        (in_branch, branch),
        (stays, fresh(tree.tianhe)),
        (elsewhere, fresh(tree.nanshan_union)),
    ):
        member.refresh_from_db()
        assert member.org_path == org.path
    assert fresh(tree.tianhe).numchild == 0 and nanshan.numchild == 2


def test_after_a_move_the_new_district_sees_the_members_and_the_old_one_does_not(
    tree: Tree, bob: User, charlie: User
) -> None:
    member = make_member(tree.tianhe_union, "王天河")
    assert get_object_or_404(bob, Member.objects.all(), Perm.MEMBER_VIEW, pk=member.pk) == member
    with pytest.raises(Http404):
        get_object_or_404(charlie, Member.objects.all(), Perm.MEMBER_VIEW, pk=member.pk)

    actions.move_subtree(actor=None, org=tree.tianhe_street, new_parent=tree.nanshan)

    bob, charlie = User.objects.get(pk=bob.pk), User.objects.get(pk=charlie.pk)  # the next request
    assert get_object_or_404(charlie, Member.objects.all(), Perm.MEMBER_VIEW, pk=member.pk) == member
    with pytest.raises(Http404):
        get_object_or_404(bob, Member.objects.all(), Perm.MEMBER_VIEW, pk=member.pk)
    with pytest.raises(Http404):
        get_object_or_404(bob, Org.objects.all(), Perm.ORG_VIEW, pk=tree.tianhe_union.pk)
    assert set(scope(bob, Org.objects.all(), Perm.ORG_VIEW)) == {fresh(tree.tianhe)}


def test_move_into_own_subtree_is_refused(tree: Tree) -> None:
    before = dict(Org.objects.values_list("pk", "path"))
    for target in (tree.tianhe, tree.tianhe_street, tree.tianhe_union):
        with pytest.raises(InvalidValue) as caught:
            actions.move_subtree(actor=None, org=tree.tianhe, new_parent=target)
        assert caught.value.code == "ORG_MOVE_INTO_SELF"
    assert dict(Org.objects.values_list("pk", "path")) == before
    assert not AuditEvent.objects.filter(action="org.move").exists()


def test_move_respects_levels_and_the_root(tree: Tree) -> None:
    with pytest.raises(InvalidValue) as caught:
        actions.move_subtree(actor=None, org=tree.tianhe_street, new_parent=tree.shenzhen)
    assert caught.value.code == "ORG_BAD_LEVEL"
    with pytest.raises(InvalidValue) as caught:
        actions.move_subtree(actor=None, org=tree.province, new_parent=tree.nanshan)
    assert caught.value.code in {"ORG_MOVE_ROOT", "ORG_MOVE_INTO_SELF"}


def test_move_under_a_closed_union_is_refused(tree: Tree) -> None:
    actions.close_org(actor=None, org=tree.nanshan_street, reason="撤并")
    with pytest.raises(DomainError) as caught:
        actions.move_subtree(actor=None, org=tree.tianhe_union, new_parent=fresh(tree.nanshan_street))
    assert caught.value.code == "ORG_CLOSED"


# --- close -----------------------------------------------------------------------------


def test_close_moves_members_to_the_parent_as_retained(tree: Tree, bob: User) -> None:
    branch = make_org(tree.tianhe_union, OrgLevel.BRANCH, "研发部分工会")
    active = make_member(tree.tianhe_union, "王天河")
    in_branch = make_member(branch, "钱分会")
    left = make_member(tree.tianhe_union, "孙已退")
    Member.objects.filter(pk=left.pk).update(status=MemberStatus.LEFT)
    neighbour = make_member(tree.tianhe_street, "周街道")

    moved = actions.close_org(actor=bob, org=tree.tianhe_union, reason=" 单位注销 ")

    assert moved == 2
    street = fresh(tree.tianhe_street)
    for member in (active, in_branch):
        member.refresh_from_db()
        assert (member.org_id, member.org_path) == (street.pk, street.path)
        assert (member.status, member.retain_reason) == (MemberStatus.RETAINED, RetainReason.UNION_CLOSED)
    left.refresh_from_db()
    assert (left.org_id, left.status, left.retain_reason) == (tree.tianhe_union.pk, MemberStatus.LEFT, "")
    neighbour.refresh_from_db()
    assert (neighbour.status, neighbour.org_id) == (MemberStatus.ACTIVE, street.pk)
    for org in (tree.tianhe_union, branch):
        assert fresh(org).status == OrgStatus.CLOSED and fresh(org).closed_at is not None
    assert fresh(tree.tianhe_street).status == OrgStatus.ACTIVE
    assert AuditEvent.objects.get(action="org.close").details["reason"] == "单位注销"


def test_close_keeps_the_reason_of_members_already_retained(tree: Tree) -> None:
    retired = make_member(tree.tianhe_union, "吴退休")
    Member.objects.filter(pk=retired.pk).update(status=MemberStatus.RETAINED, retain_reason=RetainReason.RETIRED)
    actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    retired.refresh_from_db()
    assert (retired.org_id, retired.status) == (tree.tianhe_street.pk, MemberStatus.RETAINED)
    assert retired.retain_reason == RetainReason.RETIRED


def test_closing_a_street_moves_its_unions_members_to_the_district(tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "王天河")
    assert actions.close_org(actor=None, org=tree.tianhe_street, reason="街道撤并") == 1
    member.refresh_from_db()
    assert (member.org_id, member.org_path, member.status) == (tree.tianhe.pk, tree.tianhe.path, MemberStatus.RETAINED)
    assert fresh(tree.tianhe_union).status == OrgStatus.CLOSED
    assert AuditEvent.objects.get(action="org.close").details["orgs_closed"] == 2


def test_close_refuses_the_root_a_closed_union_and_an_empty_reason(tree: Tree) -> None:
    with pytest.raises(InvalidValue) as caught:
        actions.close_org(actor=None, org=tree.province, reason="测试")
    assert caught.value.code == "ORG_CLOSE_ROOT"
    with pytest.raises(InvalidValue) as caught:
        actions.close_org(actor=None, org=tree.tianhe_union, reason="  ")
    assert caught.value.code == "ORG_CLOSE_REASON_REQUIRED"
    actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    with pytest.raises(DomainError) as caught:
        actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    assert caught.value.code == "ORG_ALREADY_CLOSED"
    assert AuditEvent.objects.filter(action="org.close").count() == 1


def test_sub_unions_close_with_their_parent(tree: Tree) -> None:
    branch = make_org(tree.tianhe_union, OrgLevel.BRANCH, "研发部分工会")
    actions.close_org(actor=None, org=tree.tianhe_street, reason="撤并")
    assert fresh(branch).status == OrgStatus.CLOSED
    assert fresh(tree.tianhe_union).status == OrgStatus.CLOSED
    with pytest.raises(DomainError) as caught:
        actions.close_org(actor=None, org=branch, reason="撤并")
    assert caught.value.code == "ORG_ALREADY_CLOSED"


# --- concurrency (PostgreSQL) ----------------------------------------------------------


def assert_tree_consistent() -> None:
    assert all(not problems for problems in Org.objects.find_problems())
    for member in Member.objects.select_related("org"):
        assert member.org_path == member.org.path, member


@pytest.mark.postgres_only
@on_postgres_only
def test_a_member_added_while_the_union_closes_is_refused(transactional_db: Any, tree: Tree) -> None:
    stale_union = fresh(tree.tianhe_union)  # what a form loaded before the close
    closed, created = hold_then_race(
        lambda: actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销"),
        lambda: make_member(stale_union, "迟到者"),
    )
    assert closed == 0
    assert isinstance(created, DomainError) and created.code == "ORG_CLOSED", created
    assert not Member.objects.filter(org__status=OrgStatus.CLOSED).exclude(status=MemberStatus.LEFT).exists()


@pytest.mark.postgres_only
@on_postgres_only
def test_a_member_added_while_the_subtree_moves_gets_the_new_path(transactional_db: Any, tree: Tree) -> None:
    stale_union = fresh(tree.tianhe_union)
    moved, member = hold_then_race(
        lambda: actions.move_subtree(actor=None, org=tree.tianhe_street, new_parent=tree.nanshan),
        lambda: make_member(stale_union, "迟到者"),
    )
    assert isinstance(moved, Org) and isinstance(member, Member), (moved, member)
    member.refresh_from_db()
    assert member.org_path == fresh(tree.tianhe_union).path
    assert member.org_path.startswith(fresh(tree.nanshan).path)
    assert_tree_consistent()


@pytest.mark.postgres_only
@on_postgres_only
def test_a_union_added_while_its_parent_moves_lands_in_the_new_place(transactional_db: Any, tree: Tree) -> None:
    stale_union = fresh(tree.tianhe_union)
    _moved, branch = hold_then_race(
        lambda: actions.move_subtree(actor=None, org=tree.tianhe_street, new_parent=tree.nanshan),
        lambda: make_org(stale_union, OrgLevel.BRANCH, "研发部分工会"),
    )
    assert isinstance(branch, Org), branch
    assert Org.objects.get_parent(fresh(branch)) == fresh(tree.tianhe_union)
    assert fresh(branch).path.startswith(fresh(tree.nanshan).path)
    assert_tree_consistent()


@pytest.mark.postgres_only
@on_postgres_only
def test_moves_of_an_ancestor_and_a_descendant_at_once_keep_the_tree_whole(transactional_db: Any, tree: Tree) -> None:
    make_member(tree.tianhe_union, "王天河")
    make_member(tree.tianhe_street, "周街道")
    first, second = hold_then_race(
        lambda: actions.move_subtree(actor=None, org=tree.tianhe, new_parent=tree.shenzhen),
        lambda: actions.move_subtree(actor=None, org=tree.tianhe_union, new_parent=tree.nanshan_street),
    )
    assert isinstance(first, Org) and isinstance(second, Org), (first, second)
    assert Org.objects.get_parent(fresh(tree.tianhe)) == fresh(tree.shenzhen)
    assert Org.objects.get_parent(fresh(tree.tianhe_union)) == fresh(tree.nanshan_street)
    assert_tree_consistent()


@pytest.mark.postgres_only
@on_postgres_only
def test_two_unions_registering_one_uscc_at_once_get_a_clear_refusal(transactional_db: Any, tree: Tree) -> None:
    taken = code(7)

    def register(parent: Org) -> Callable[[], Org]:
        return lambda: actions.create_org(
            actor=None, parent=parent, level=OrgLevel.GRASSROOTS, values={"name": "同码工会", "uscc": taken}
        )

    # different parents: no shared lock
    results = race(register(tree.tianhe_street), register(tree.nanshan_street))
    created = [r for r in results if isinstance(r, Org)]
    refused = [r for r in results if isinstance(r, InvalidValue)]
    assert len(created) == 1 and len(refused) == 1, results
    assert refused[0].code == "ORG_USCC_TAKEN"
    assert Org.objects.filter(uscc=taken).count() == 1
    assert_tree_consistent()


def test_move_rewrites_every_stored_path_copy(tree: Tree, bob: User) -> None:
    """Transfers keep both unions' paths for scoping the inbox and outbox: a move of the
    receiving union's subtree carries them along, as it does members' paths."""
    from gonghui.members import transfers
    from gonghui.members.models import TransferInitiator

    member = make_member(tree.tianhe_union)
    transfer = transfers.request_transfer(
        actor=bob, member=member, to_org=tree.nanshan_union, initiated_by=TransferInitiator.CADRE
    )
    other_street = make_org(tree.nanshan, OrgLevel.STREET, "南山区蛇口街道总工会", region_code="440305")

    actions.move_subtree(actor=None, org=tree.nanshan_union, new_parent=other_street)

    transfer.refresh_from_db()
    moved = Org.objects.get(pk=tree.nanshan_union.pk)
    assert transfer.to_path == moved.path
    assert transfer.from_path == tree.tianhe_union.path
