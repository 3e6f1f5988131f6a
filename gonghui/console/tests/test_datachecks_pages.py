"""数据校验 page: chips, filters, bulk close with a note, 运行校验, tenancy."""

from __future__ import annotations

from django.urls import reverse

from gonghui.conftest import Tree, console_client, make_member, new_id_number
from gonghui.core.models import AuditEvent, User
from gonghui.members import datachecks
from gonghui.members.models import DataFinding, FindingStatus


def test_run_checks_and_see_findings_with_chips(tree: Tree, bob: User) -> None:
    member = make_member(tree.tianhe_union, "缺手机", mobile="", workplace="软件园")
    client = console_client(bob)
    response = client.post(reverse("console:data_checks_run"), {"org": tree.tianhe.pk}, follow=True)
    body = response.content.decode()
    assert response.status_code == 200
    assert "已校验" in body and "新发现 1 条" in body
    assert "缺少必填信息：手机号" in body
    assert reverse("console:member_detail", args=[member.pk]) in body
    assert 'data-rule="MISSING_REQUIRED"' in body
    assert AuditEvent.objects.filter(action="datacheck.run", actor=bob).exists()


def test_filters_narrow_the_list(tree: Tree, bob: User) -> None:
    a = make_member(tree.tianhe_union, "甲", mobile="", workplace="软件园")
    b = make_member(
        tree.tianhe_union, "乙", mobile="13812345678", workplace="软件园", id_number=new_id_number("510104")
    )
    datachecks.check_members([a.pk, b.pk])
    client = console_client(bob)
    url = reverse("console:data_findings")
    body = client.get(url, {"rule": "REGION_FAR"}).content.decode()
    assert "身份证签发地（" in body and "缺少必填信息" not in body
    body = client.get(url, {"severity": "warning"}).content.decode()
    assert "缺少必填信息" in body and "身份证签发地（" not in body
    body = client.get(url, {"status": "resolved"}).content.decode()
    assert "没有符合条件的校验结果" in body


def test_bulk_close_needs_a_note_and_is_audited(tree: Tree, bob: User) -> None:
    members = [make_member(tree.tianhe_union, f"员工{i}", mobile="", workplace="软件园") for i in range(2)]
    datachecks.check_members(m.pk for m in members)
    ids = [str(pk) for pk in DataFinding.objects.values_list("pk", flat=True)]
    client = console_client(bob)
    url = reverse("console:data_findings_close")
    response = client.post(url, {"ids": ids, "action": "dismiss", "note": ""}, follow=True)
    assert "请填写处理说明" in response.content.decode()
    assert DataFinding.objects.filter(status=FindingStatus.OPEN).count() == 2
    client.post(url, {"ids": ids, "action": "dismiss", "note": "本人无手机"})
    assert DataFinding.objects.filter(status=FindingStatus.DISMISSED).count() == 2
    assert AuditEvent.objects.filter(action="datafinding.dismissed", actor=bob).count() == 2


def test_other_district_sees_nothing_and_gets_404(tree: Tree, bob: User, charlie: User) -> None:
    member = make_member(tree.tianhe_union, "天河人", mobile="", workplace="软件园")
    datachecks.check_members([member.pk])
    finding = DataFinding.objects.get()
    client = console_client(charlie)
    body = client.get(reverse("console:data_findings")).content.decode()
    assert "天河人" not in body
    assert client.get(reverse("console:data_findings"), {"org": tree.tianhe.pk}).status_code == 404
    assert client.post(reverse("console:data_checks_run"), {"org": tree.tianhe.pk}).status_code == 404
    client.post(reverse("console:data_findings_close"), {"ids": [finding.pk], "action": "resolve", "note": "x"})
    finding.refresh_from_db()
    assert finding.status == FindingStatus.OPEN
