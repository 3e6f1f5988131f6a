"""The audit log (scoped, filtered, read-only) and the SMS outbox (province admins only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from gonghui.conftest import Tree, console_client, make_member
from gonghui.core import audit, sms
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.members import actions as member_actions
from gonghui.members.models import Member


def actions_of(response: object) -> list[str]:
    return [e.action for e in response.context["rows"]]  # type: ignore[attr-defined]


def test_audit_log_is_scoped_to_the_subtree(bob_client: Client, bob: User, tree: Tree, charlie: User) -> None:
    tianhe = make_member(tree.tianhe_union, "天河人")
    nanshan = make_member(tree.nanshan_union, "南山人")
    member_actions.reveal_pii(actor=bob, member=tianhe, field_name="id_number")
    response = bob_client.get("/console/audit/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert all(e.org_path.startswith(tree.tianhe.path) for e in rows)
    assert {e.object_id for e in rows if e.object_type == "members.member"} == {str(tianhe.pk)}
    assert str(nanshan.pk) not in {e.object_id for e in rows if e.object_type == "members.member"}
    assert "南山人" not in response.content.decode()


def test_audit_filters(bob_client: Client, bob: User, tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "天河人")
    member_actions.reveal_pii(actor=bob, member=member, field_name="id_number", reason="核实")
    assert actions_of(bob_client.get("/console/audit/", {"action": "member.pii_reveal"})) == ["member.pii_reveal"]
    assert set(actions_of(bob_client.get("/console/audit/", {"action": "member."}))) == {
        "member.create",
        "member.pii_reveal",
    }
    assert actions_of(bob_client.get("/console/audit/", {"actor": "鲍勃"})) == ["member.pii_reveal"]
    by_object = bob_client.get("/console/audit/", {"object_type": "members.member", "object_id": str(member.pk)})
    assert actions_of(by_object) == ["member.pii_reveal", "member.create"]
    today = timezone.localdate()
    assert actions_of(bob_client.get("/console/audit/", {"date_from": str(today + timedelta(days=1))})) == []
    assert "member.pii_reveal" in actions_of(
        bob_client.get("/console/audit/", {"date_from": str(today), "date_to": str(today)})
    )
    bad = bob_client.get("/console/audit/", {"date_from": str(today), "date_to": str(today - timedelta(days=2))})
    assert "结束日期不能早于开始日期" in bad.content.decode()
    assert actions_of(bad) == []


def test_audit_log_is_keyset_paged(bob_client: Client, bob: User, tree: Tree) -> None:
    for i in range(55):
        audit.record("org.update", actor=bob, obj=tree.tianhe, details={"n": i})
    first = bob_client.get("/console/audit/")
    assert len(first.context["rows"]) == 50
    second = bob_client.get("/console/audit/", {"after": first.context["next_after"]})
    assert first.context["rows"][-1].pk > second.context["rows"][0].pk


def test_orgless_events_are_for_root_auditors_only(bob_client: Client, alice: User, tree: Tree) -> None:
    audit.record("auth.login_failed", actor_label="匿名", details={"identifier": "13*****"})
    assert "auth.login_failed" not in actions_of(bob_client.get("/console/audit/"))
    assert "auth.login_failed" in actions_of(console_client(alice).get("/console/audit/"))


def test_staff_cannot_read_the_audit_log(sam: User) -> None:
    client = console_client(sam)
    response = client.get("/console/audit/")
    assert response.status_code == 403
    assert "无权查看审计日志" in response.content.decode()
    assert "审计日志" not in client.get("/console/").content.decode().split("<main")[0]


def test_auditor_reads_the_log_of_her_city(erin: User, tree: Tree, bob: User, charlie: User) -> None:
    tianhe = make_member(tree.tianhe_union, "天河人")
    make_member(tree.nanshan_union, "南山人")
    member_actions.reveal_pii(actor=bob, member=tianhe, field_name="id_number")
    rows = console_client(erin).get("/console/audit/").context["rows"]
    assert any(e.action == "member.pii_reveal" for e in rows)
    assert all(e.org_path.startswith(tree.guangzhou.path) for e in rows)


def test_audit_log_has_no_way_to_change_events(bob_client: Client, bob: User, tree: Tree) -> None:
    audit.record("org.update", actor=bob, obj=tree.tianhe)
    body = bob_client.get("/console/audit/").content.decode()
    main = body.split("<main", 1)[1]
    assert 'method="post"' not in main
    assert bob_client.post("/console/audit/").status_code in {200, 405}
    assert AuditEvent.objects.count() >= 1


def _send(mobile: str) -> SmsMessage:
    return sms.send_sms(mobile, "【工会】您的验证码是 123456，5 分钟内有效。", "login")


def test_province_admin_reads_the_sms_outbox(alice: User) -> None:
    _send("13800000001")
    _send("13811112222")
    client = console_client(alice)
    response = client.get("/console/sms/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "123456" in body  # sandbox texts are shown: that is what the outbox is for in a demo
    assert "138****2222" in body and "13811112222" not in body
    assert "只有省总工会的管理员可以查看" in body
    filtered = client.get("/console/sms/", {"mobile": "138 1111 2222"})
    assert [r["msg"].mobile for r in filtered.context["rows"]] == ["13811112222"]


def test_district_admin_cannot_read_the_sms_outbox(bob_client: Client) -> None:
    _send("13811112222")
    response = bob_client.get("/console/sms/")
    assert response.status_code == 403
    assert "123456" not in response.content.decode()
    assert "短信发件箱" not in bob_client.get("/console/").content.decode().split("<main")[0]


@override_settings(DEBUG=True)
def test_in_debug_any_holder_of_the_permission_reads_the_outbox(bob_client: Client) -> None:
    _send("13811112222")
    assert bob_client.get("/console/sms/").status_code == 200


def test_real_gateway_codes_are_masked(alice: User) -> None:
    message = _send("13811112222")
    SmsMessage.objects.filter(pk=message.pk).update(provider="aliyun")
    body = console_client(alice).get("/console/sms/").content.decode()
    assert "123456" not in body and "******" in body


@pytest.mark.parametrize("persona", ["erin", "dave"])
def test_non_province_cadres_have_no_outbox(request: pytest.FixtureRequest, persona: str) -> None:
    user: User = request.getfixturevalue(persona)
    assert console_client(user).get("/console/sms/").status_code == 403


def test_member_reveal_audit_row_names_the_member(bob_client: Client, bob: User, tree: Tree) -> None:
    member: Member = make_member(tree.tianhe_union, "天河人")
    bob_client.post(f"/console/members/{member.pk}/reveal/", {"field": "id_number"}, HTTP_HX_REQUEST="true")
    event = AuditEvent.objects.get(action="member.pii_reveal")
    assert event.org_path == tree.tianhe_union.path
    assert event.actor_label == "鲍勃"
