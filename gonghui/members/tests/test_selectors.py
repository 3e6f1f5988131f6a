"""The subtree filter used by member lists gives exactly the members under an org."""

from __future__ import annotations

from gonghui.conftest import Tree, make_member
from gonghui.core.access import Perm
from gonghui.core.models import User
from gonghui.members import selectors
from gonghui.members.models import Member


def test_in_subtree_matches_the_path_prefix_at_every_level(tree: Tree) -> None:
    make_member(tree.tianhe_union, "张三")
    make_member(tree.tianhe_street, "李四")
    make_member(tree.nanshan_union, "王五")
    for org in (tree.province, tree.guangzhou, tree.tianhe, tree.tianhe_street, tree.tianhe_union, tree.nanshan):
        expected = set(Member.objects.filter(org_path__startswith=org.path).values_list("pk", flat=True))
        got = set(selectors.in_subtree(Member.objects.all(), org.path).values_list("pk", flat=True))
        assert got == expected, org.name


def test_visible_within_an_org_outside_the_scope_is_empty(tree: Tree, bob: User) -> None:
    make_member(tree.nanshan_union, "王五")
    assert not selectors.visible(bob, Member.objects.all(), Perm.MEMBER_VIEW, within=tree.nanshan.path).exists()


def test_visible_is_the_users_subtree(tree: Tree, bob: User, charlie: User) -> None:
    mine = make_member(tree.tianhe_union, "张三")
    theirs = make_member(tree.nanshan_union, "王五")
    assert list(selectors.visible(bob, Member.objects.all(), Perm.MEMBER_VIEW)) == [mine]
    assert list(selectors.visible(charlie, Member.objects.all(), Perm.MEMBER_VIEW)) == [theirs]


def test_newest_first_orders_by_id_descending_within_a_subtree(tree: Tree) -> None:
    first = make_member(tree.tianhe_union, "张三")
    second = make_member(tree.tianhe_street, "李四")
    third = make_member(tree.tianhe_union, "王五")
    qs = selectors.newest_first(selectors.in_subtree(Member.objects.all(), tree.tianhe.path))
    assert list(qs) == [third, second, first]
    assert list(qs.filter(pk__lt=third.pk)) == [second, first]  # keyset paging still works
