"""core.access: who sees which part of the union tree, and what they may do there."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from gonghui.conftest import Tree, make_cadre, make_member
from gonghui.core import access
from gonghui.core.access import Perm, RoleKind, can, get_object_or_404, scope
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Org


def org_ids(user: object, perm: Perm = Perm.ORG_VIEW) -> set[int]:
    return set(scope(user, Org.objects.all(), perm).values_list("pk", flat=True))


@pytest.fixture
def members(tree: Tree) -> dict[str, Member]:
    return {
        "tianhe": make_member(tree.tianhe_union, "王天河"),
        "tianhe_district": make_member(tree.tianhe, "赵区直"),
        "nanshan": make_member(tree.nanshan_union, "李南山"),
    }


def test_district_admin_sees_exactly_own_subtree(tree: Tree, bob: User) -> None:
    assert org_ids(bob) == {tree.tianhe.pk, tree.tianhe_street.pk, tree.tianhe_union.pk}


def test_district_admin_sees_own_members_only(tree: Tree, bob: User, members: dict[str, Member]) -> None:
    visible = set(scope(bob, Member.objects.all(), Perm.MEMBER_VIEW).values_list("pk", flat=True))
    assert visible == {members["tianhe"].pk, members["tianhe_district"].pk}


def test_other_districts_member_is_404_not_403(tree: Tree, bob: User, members: dict[str, Member]) -> None:
    own = get_object_or_404(bob, Member.objects.all(), Perm.MEMBER_VIEW, pk=members["tianhe"].pk)
    assert own == members["tianhe"]
    with pytest.raises(Http404):
        get_object_or_404(bob, Member.objects.all(), Perm.MEMBER_VIEW, pk=members["nanshan"].pk)
    with pytest.raises(Http404):
        get_object_or_404(bob, Org.objects.all(), Perm.ORG_VIEW, pk=tree.nanshan.pk)


def test_parent_org_is_outside_a_district_admins_scope(tree: Tree, bob: User) -> None:
    with pytest.raises(Http404):
        get_object_or_404(bob, Org.objects.all(), Perm.ORG_VIEW, pk=tree.guangzhou.pk)
    assert not can(bob, Perm.ORG_VIEW, tree.guangzhou.path)


def test_missing_and_malformed_ids_are_404(bob: User) -> None:
    with pytest.raises(Http404):
        get_object_or_404(bob, Member.objects.all(), Perm.MEMBER_VIEW, pk=999_999)
    with pytest.raises(Http404):
        get_object_or_404(bob, Member.objects.all(), Perm.MEMBER_VIEW, pk="not-a-number")


def test_province_admin_sees_everything(tree: Tree, alice: User, members: dict[str, Member]) -> None:
    assert org_ids(alice) == set(Org.objects.values_list("pk", flat=True))
    assert scope(alice, Member.objects.all(), Perm.MEMBER_VIEW).count() == len(members)
    for member in members.values():
        assert can(alice, Perm.MEMBER_REVEAL, member.org_path)


def test_auditor_reads_audit_log_but_cannot_reveal_or_change(tree: Tree, erin: User) -> None:
    assert can(erin, Perm.AUDIT_VIEW, tree.tianhe_union.path)
    assert can(erin, Perm.MEMBER_VIEW, tree.tianhe_union.path)
    assert not can(erin, Perm.MEMBER_REVEAL, tree.tianhe_union.path)
    assert not can(erin, Perm.MEMBER_CHANGE, tree.tianhe_union.path)
    assert not can(erin, Perm.ORG_CHANGE, tree.tianhe_union.path)
    assert not can(erin, Perm.AUDIT_VIEW, tree.nanshan.path)  # Guangzhou only


def test_auditor_scope_of_audit_events_is_their_subtree(tree: Tree, erin: User) -> None:
    visible = scope(erin, AuditEvent.objects.all(), Perm.AUDIT_VIEW)
    paths = set(visible.values_list("org_path", flat=True))
    assert paths  # the fixture's org.create events
    assert all(path.startswith(tree.guangzhou.path) for path in paths)
    assert not visible.filter(org_path__startswith=tree.shenzhen.path).exists()


def test_staff_may_view_and_change_but_not_reveal(tree: Tree) -> None:
    sam = make_cadre("sam", "萨姆", tree.tianhe, RoleKind.STAFF)
    path = tree.tianhe_union.path
    assert can(sam, Perm.MEMBER_VIEW, path)
    assert can(sam, Perm.MEMBER_CHANGE, path)
    assert not can(sam, Perm.MEMBER_REVEAL, path)
    assert not can(sam, Perm.MEMBER_EXPORT_UNMASKED, path)
    assert not can(sam, Perm.AUDIT_VIEW, path)
    assert not can(sam, Perm.ROLE_MANAGE, path)


def test_roles_on_a_closed_org_grant_nothing(tree: Tree) -> None:
    dora = make_cadre("dora", "朵拉", tree.tianhe_union, RoleKind.CHAIR)
    make_member(tree.tianhe_union)
    assert can(dora, Perm.MEMBER_VIEW, tree.tianhe_union.path)
    org_actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    dora = User.objects.get(pk=dora.pk)  # a new request: grants are read afresh
    assert access.grants(dora) == []
    assert not access.is_cadre(dora)
    assert org_ids(dora) == set()
    assert not scope(dora, Member.objects.all(), Perm.MEMBER_VIEW).exists()


def test_overlapping_grants_do_not_duplicate_rows(tree: Tree, bob: User, members: dict[str, Member]) -> None:
    org_actions.grant_role(actor=None, user=bob, org=tree.tianhe_union, role=RoleKind.CHAIR)
    org_actions.grant_role(actor=None, user=bob, org=tree.tianhe_street, role=RoleKind.STAFF)
    access.forget(bob)
    assert access.scope_paths(bob, Perm.MEMBER_VIEW) == [tree.tianhe.path]
    rows = list(scope(bob, Member.objects.all(), Perm.MEMBER_VIEW).values_list("pk", flat=True))
    assert sorted(rows) == sorted({members["tianhe"].pk, members["tianhe_district"].pk})
    orgs = list(scope(bob, Org.objects.all(), Perm.ORG_VIEW).values_list("pk", flat=True))
    assert len(orgs) == len(set(orgs)) == 3


def test_grants_in_two_districts_add_up(tree: Tree, bob: User, members: dict[str, Member]) -> None:
    org_actions.grant_role(actor=None, user=bob, org=tree.nanshan, role=RoleKind.AUDITOR)
    access.forget(bob)
    assert scope(bob, Member.objects.all(), Perm.MEMBER_VIEW).count() == 3
    # Auditing rights came only with the Nanshan role.
    assert can(bob, Perm.MEMBER_REVEAL, tree.tianhe_union.path)
    assert not can(bob, Perm.MEMBER_REVEAL, tree.nanshan_union.path)
    assert can(bob, Perm.AUDIT_VIEW, tree.nanshan_union.path)


def test_user_without_roles_sees_nothing(tree: Tree, members: dict[str, Member]) -> None:
    nobody = User.objects.create_user("nobody", password="correct-horse-battery")
    assert access.grants(nobody) == []
    assert not access.can_anywhere(nobody, Perm.MEMBER_VIEW)
    assert not scope(nobody, Member.objects.all(), Perm.MEMBER_VIEW).exists()
    assert org_ids(nobody) == set()
    with pytest.raises(Http404):
        get_object_or_404(nobody, Member.objects.all(), Perm.MEMBER_VIEW, pk=members["tianhe"].pk)


def test_anonymous_and_deactivated_users_see_nothing(tree: Tree, bob: User, members: dict[str, Member]) -> None:
    assert not scope(AnonymousUser(), Member.objects.all(), Perm.MEMBER_VIEW).exists()
    assert not scope(None, Member.objects.all(), Perm.MEMBER_VIEW).exists()
    bob.is_active = False
    bob.save(update_fields=["is_active"])
    bob = User.objects.get(pk=bob.pk)
    assert not scope(bob, Member.objects.all(), Perm.MEMBER_VIEW).exists()


def test_require_is_404_for_a_missing_second_permission(tree: Tree, erin: User) -> None:
    access.require(erin, Perm.MEMBER_VIEW, tree.tianhe_union.path)
    with pytest.raises(Http404):
        access.require(erin, Perm.MEMBER_REVEAL, tree.tianhe_union.path)


def test_scope_refuses_a_model_without_a_path_field(bob: User) -> None:
    with pytest.raises(TypeError):
        scope(bob, User.objects.all(), Perm.MEMBER_VIEW)


def test_grants_are_read_once_per_user_object(tree: Tree, bob: User, django_assert_num_queries: object) -> None:
    access.forget(bob)
    access.grants(bob)
    with django_assert_num_queries(0):  # type: ignore[operator]
        for _ in range(5):
            can(bob, Perm.MEMBER_VIEW, tree.tianhe_union.path)
