"""Cadre roles: granted and revoked through actions, audited, and effective at once."""

from __future__ import annotations

import pytest

from gonghui.conftest import Tree, make_member
from gonghui.core import access
from gonghui.core.access import Perm, RoleKind
from gonghui.core.errors import InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.orgs import actions
from gonghui.orgs.models import Role


@pytest.fixture
def sam(db: object) -> User:
    return User.objects.create_user("sam", name="萨姆")


def test_grant_gives_rights_over_the_subtree(tree: Tree, bob: User, sam: User) -> None:
    make_member(tree.tianhe_union, "王天河")
    make_member(tree.nanshan_union, "李南山")
    assert not access.is_cadre(sam)
    role = actions.grant_role(actor=bob, user=sam, org=tree.tianhe_street, role=RoleKind.STAFF)
    assert (role.user, role.org, role.role, role.granted_by) == (sam, tree.tianhe_street, "staff", bob)
    sam = User.objects.get(pk=sam.pk)
    assert access.is_cadre(sam)
    visible = access.scope(sam, Member.objects.all(), Perm.MEMBER_VIEW)
    assert list(visible.values_list("name", flat=True)) == ["王天河"]
    assert not access.can(sam, Perm.ORG_VIEW, tree.tianhe.path)  # not upwards


def test_grant_is_audited_once_and_repeating_it_changes_nothing(tree: Tree, bob: User, sam: User) -> None:
    first = actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.CHAIR)
    again = actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.CHAIR)
    assert first == again
    assert Role.objects.filter(user=sam).count() == 1
    event = AuditEvent.objects.get(action="role.grant", actor=bob)
    assert (event.org_path, event.object_id) == (tree.tianhe_union.path, str(first.pk))
    assert event.details == {"user": sam.pk, "role": "chair"}


def test_one_person_may_hold_several_roles(tree: Tree, bob: User, sam: User) -> None:
    actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.STAFF)
    actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.AUDITOR)
    sam = User.objects.get(pk=sam.pk)
    assert {g.role for g in access.grants(sam)} == {"staff", "auditor"}
    assert access.can(sam, Perm.AUDIT_VIEW, tree.tianhe_union.path)
    assert access.can(sam, Perm.MEMBER_CHANGE, tree.tianhe_union.path)
    assert not access.can(sam, Perm.MEMBER_REVEAL, tree.tianhe_union.path)


def test_unknown_role_is_refused(tree: Tree, bob: User, sam: User) -> None:
    with pytest.raises(InvalidValue) as caught:
        actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role="emperor")
    assert caught.value.code == "ROLE_UNKNOWN"
    assert not Role.objects.filter(user=sam).exists()
    assert not AuditEvent.objects.filter(action="role.grant", actor=bob).exists()


def test_revoke_removes_the_rights_and_is_audited(tree: Tree, bob: User, sam: User) -> None:
    role = actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.STAFF)
    role_pk = role.pk
    actions.revoke_role(actor=bob, role=role)
    assert not Role.objects.filter(pk=role_pk).exists()
    event = AuditEvent.objects.get(action="role.revoke")
    assert (event.actor_id, event.org_path, event.object_id) == (bob.pk, tree.tianhe_union.path, str(role_pk))
    assert event.details == {"user": sam.pk, "role": "staff"}
    sam = User.objects.get(pk=sam.pk)
    assert access.grants(sam) == []


def test_cached_grants_are_dropped_with_forget(tree: Tree, bob: User, sam: User) -> None:
    assert access.grants(sam) == []
    actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.STAFF)
    assert access.grants(sam) == []  # cached for the rest of the request
    access.forget(sam)
    assert [g.role for g in access.grants(sam)] == ["staff"]


def test_the_role_list_is_scoped_like_everything_else(tree: Tree, bob: User, charlie: User) -> None:
    visible = access.scope(bob, Role.objects.all(), Perm.ROLE_MANAGE)
    assert set(visible.values_list("user__username", flat=True)) == {"bob"}
    everyone = access.scope(User.objects.get(username="bob"), Role.objects.all(), Perm.ROLE_MANAGE)
    assert not everyone.filter(user=charlie).exists()
