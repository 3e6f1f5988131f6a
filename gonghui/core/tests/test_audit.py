"""The audit log: every action writes its event; nobody rewrites history."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings
from PIL import Image

from gonghui.conftest import Tree, console_client, make_member, new_id_number
from gonghui.core import audit
from gonghui.core.access import RoleKind
from gonghui.core.middleware import IdleSessionTimeoutMiddleware
from gonghui.core.models import AuditEvent, User
from gonghui.members import actions as member_actions
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import OrgLevel

on_postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)


def only_event(action: str, **filters: Any) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action, **filters))
    assert len(events) == 1, f"expected one {action} event, found {len(events)}"
    return events[0]


def assert_written_by(event: AuditEvent, actor: User, org_path: str) -> None:
    assert event.actor_id == actor.pk
    assert event.actor_label == str(actor)
    assert event.org_path == org_path
    assert event.at is not None


# --- every action writes its event -----------------------------------------------------


def test_create_org_is_audited(tree: Tree, bob: User) -> None:
    org = org_actions.create_org(
        actor=bob, parent=tree.tianhe_street, level=OrgLevel.GRASSROOTS, values={"name": "天河某公司工会"}
    )
    event = AuditEvent.objects.get(action="org.create", object_id=str(org.pk))
    assert_written_by(event, bob, org.path)
    assert (event.object_type, event.org_id) == ("orgs.org", org.pk)
    assert event.details == {"level": "grassroots", "parent": tree.tianhe_street.pk}


def test_update_org_is_audited_with_old_and_new_values(tree: Tree, bob: User) -> None:
    org_actions.update_org(
        actor=bob, org=tree.tianhe_union, values={"address": "天河路 1 号", "name": tree.tianhe_union.name}
    )
    event = only_event("org.update")
    assert_written_by(event, bob, tree.tianhe_union.path)
    assert event.details == {"changes": {"address": ["", "天河路 1 号"]}}


def test_update_org_without_change_writes_nothing(tree: Tree, bob: User) -> None:
    org_actions.update_org(actor=bob, org=tree.tianhe_union, values={"name": tree.tianhe_union.name})
    assert not AuditEvent.objects.filter(action="org.update").exists()


def test_move_is_audited_under_the_new_path(tree: Tree, alice: User) -> None:
    old_path = tree.tianhe_street.path
    moved = org_actions.move_subtree(actor=alice, org=tree.tianhe_street, new_parent=tree.nanshan)
    event = only_event("org.move")
    assert_written_by(event, alice, moved.path)
    assert event.details == {
        "from_parent": tree.tianhe.pk,
        "to_parent": tree.nanshan.pk,
        "old_path": old_path,
        "new_path": moved.path,
    }


def test_close_is_audited_for_the_org_and_its_members(tree: Tree, bob: User) -> None:
    make_member(tree.tianhe_union)
    org_actions.close_org(actor=bob, org=tree.tianhe_union, reason="单位注销")
    event = only_event("org.close")
    assert_written_by(event, bob, tree.tianhe_union.path)
    assert event.details == {
        "reason": "单位注销",
        "members_moved": 1,
        "orgs_closed": 1,
        "receiver": tree.tianhe_street.pk,
    }
    moved = only_event("member.retain_on_close")
    assert_written_by(moved, bob, tree.tianhe_street.path)
    assert moved.details["count"] == 1


def test_roles_granted_and_revoked_are_audited(tree: Tree, bob: User) -> None:
    sam = User.objects.create_user("sam")
    role = org_actions.grant_role(actor=bob, user=sam, org=tree.tianhe_union, role=RoleKind.STAFF)
    granted = only_event("role.grant", actor=bob)
    assert_written_by(granted, bob, tree.tianhe_union.path)
    assert granted.details == {"user": sam.pk, "role": "staff"}
    org_actions.revoke_role(actor=bob, role=role)
    revoked = only_event("role.revoke")
    assert_written_by(revoked, bob, tree.tianhe_union.path)
    assert revoked.details == {"user": sam.pk, "role": "staff"}


def test_notice_is_audited(tree: Tree, bob: User) -> None:
    notice = org_actions.publish_notice(actor=bob, org=tree.tianhe, title="通知", body="正文")
    event = only_event("notice.publish")
    assert_written_by(event, bob, tree.tianhe.path)
    assert event.object_id == str(notice.pk)


def test_branding_is_audited(tree: Tree, bob: User, settings: Any, tmp_path: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    logo = SimpleUploadedFile("logo.png", buffer.getvalue(), content_type="image/png")
    org_actions.set_branding(actor=bob, org=tree.tianhe, logo=logo)
    event = only_event("org.branding")
    assert_written_by(event, bob, tree.tianhe.path)
    assert event.details == {"fields": ["logo"]}


def test_member_create_update_and_reveal_are_audited(tree: Tree, bob: User) -> None:
    member = member_actions.create_member(
        actor=bob,
        org=tree.tianhe_union,
        data=member_actions.MemberInput(name="张三", id_number=new_id_number(), extra={"workplace": "A"}),
    )
    created = only_event("member.create")
    assert_written_by(created, bob, tree.tianhe_union.path)
    assert (created.object_type, created.object_id) == ("members.member", str(member.pk))
    assert created.details == {"fields": ["workplace"]}
    assert created.object_repr == f"张三（{member.id_number_masked}）"  # only the masked form

    member_actions.update_member(actor=bob, member=member, values={"workplace": "B"})
    updated = only_event("member.update")
    assert_written_by(updated, bob, tree.tianhe_union.path)
    assert updated.details == {"changes": {"workplace": ["A", "B"]}}

    member_actions.reveal_pii(actor=bob, member=member, field_name="id_number", reason="核对")
    revealed = only_event("member.pii_reveal")
    assert_written_by(revealed, bob, tree.tianhe_union.path)
    assert revealed.details == {"field": "id_number", "reason": "核对"}


def test_actions_without_a_person_are_signed_by_the_system(tree: Tree) -> None:
    event = AuditEvent.objects.filter(action="org.create").first()
    assert event is not None
    assert (event.actor_id, event.actor_label) == (None, "系统")
    labelled = audit.record("demo.seed", actor_label="manage.py seed_demo")
    assert (labelled.actor_id, labelled.actor_label, labelled.org_path) == (None, "manage.py seed_demo", "")


def test_a_failed_action_leaves_no_event(tree: Tree, bob: User) -> None:
    from gonghui.core.errors import InvalidValue

    with pytest.raises(InvalidValue):
        org_actions.close_org(actor=bob, org=tree.province, reason="测试")
    assert not AuditEvent.objects.filter(action="org.close").exists()


# --- nobody rewrites history -----------------------------------------------------------


@pytest.fixture
def event(tree: Tree) -> AuditEvent:
    return audit.record("test.event", org=tree.tianhe, details={"n": 1})


def test_saving_an_existing_event_is_refused(event: AuditEvent) -> None:
    event.action = "test.rewritten"
    with pytest.raises(PermissionError):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_deleting_an_event_is_refused(event: AuditEvent) -> None:
    with pytest.raises(PermissionError):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize(
    "write",
    [
        lambda qs: qs.update(action="test.rewritten"),
        lambda qs: qs.delete(),
        lambda qs: qs.bulk_update(list(qs), ["action"]),
        lambda qs: qs.update_or_create(pk=qs.get().pk, defaults={"action": "test.rewritten"}),
    ],
    ids=["update", "delete", "bulk_update", "update_or_create"],
)
def test_queryset_writes_are_refused(event: AuditEvent, write: Callable[[Any], Any]) -> None:
    # bulk_update wraps its UPDATE in the caller's transaction: contain the failure.
    with pytest.raises(PermissionError), transaction.atomic():
        write(AuditEvent.objects.filter(pk=event.pk))
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


@pytest.mark.parametrize(
    "sql",
    ["UPDATE core_auditevent SET action = 'test.rewritten'", "DELETE FROM core_auditevent"],
    ids=["update", "delete"],
)
@pytest.mark.postgres_only
@on_postgres_only
def test_raw_sql_cannot_rewrite_history_on_postgresql(event: AuditEvent, sql: str) -> None:
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


# --- where it came from ----------------------------------------------------------------


def test_request_ip_and_user_agent_are_recorded(tree: Tree, bob: User) -> None:
    member = make_member(tree.tianhe_union, "王天河")
    client = console_client(bob)
    response = client.post(
        f"/api/v1/members/{member.pk}/reveal",
        {"field": "id_number", "reason": "核对"},
        content_type="application/json",
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT="Mozilla/5.0 (测试浏览器)",
    )
    assert response.status_code == 200, response.content
    event = only_event("member.pii_reveal")
    assert (event.ip, event.user_agent) == ("203.0.113.7", "Mozilla/5.0 (测试浏览器)")


def _through_middleware(request: HttpRequest) -> AuditEvent:
    recorded: list[AuditEvent] = []

    def view(req: HttpRequest) -> HttpResponse:
        recorded.append(audit.record("test.request"))
        return HttpResponse("ok")

    request.user = AnonymousUser()
    IdleSessionTimeoutMiddleware(view)(request)
    return recorded[0]


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(db: Any) -> None:
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.1", HTTP_USER_AGENT="ua")
    assert _through_middleware(request).ip == "10.0.0.5"
    with override_settings(TRUST_X_FORWARDED_FOR=True):
        request = factory.get("/", REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR="198.51.100.1, 10.0.0.5")
        assert _through_middleware(request).ip == "198.51.100.1"


def test_long_user_agents_are_cut_and_context_ends_with_the_request(db: Any) -> None:
    request = RequestFactory().get("/", HTTP_USER_AGENT="x" * 1000)
    assert len(_through_middleware(request).user_agent) == 255
    outside = audit.record("test.outside")
    assert (outside.ip, outside.user_agent) == (None, "")
