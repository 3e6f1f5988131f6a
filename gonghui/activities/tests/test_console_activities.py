"""The generic console pages: list, create, edit, audience list, publish / close / archive,
the activity page with its charts, the export; every one scoped to the cadre's subtree."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from gonghui.activities import actions
from gonghui.activities.models import Activity, ActivityStatus, AudienceMember
from gonghui.activities.tests.conftest import PLAIN, PlainKind, make_activity
from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.audit import AuditEvent
from gonghui.core.models import User
from gonghui.members.cards import ensure_card_number
from gonghui.orgs.models import OrgTag

pytestmark = pytest.mark.django_db

KIND = PLAIN


@pytest.fixture(autouse=True)
def _plain(plain_kind: PlainKind) -> PlainKind:
    return plain_kind


def local(dt: Any) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


def draft(org: Any, actor: Any = None, **values: Any) -> Activity:
    return make_activity(org, actor, **values)


def published(org: Any, actor: Any = None, **values: Any) -> Activity:
    return make_activity(org, actor, publish=True, **values)


def test_create_draft_then_publish(tree: Tree, bob: User) -> None:
    client = console_client(bob)
    assert client.get(reverse("console:activity_new")).status_code == 200
    now = timezone.now()
    response = client.post(
        reverse("console:activity_new"),
        {
            "kind": KIND,
            "org": tree.tianhe.pk,
            "title": "  天河区最美职工评选 ",
            "summary": "投出你心中的最美职工",
            "starts_at": local(now + timedelta(days=1)),
            "ends_at": local(now + timedelta(days=8)),
        },
    )
    activity = Activity.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("console:activity_edit", args=[activity.pk])
    assert activity.title == "天河区最美职工评选"
    assert activity.org == tree.tianhe and activity.status == ActivityStatus.DRAFT
    assert activity.created_by == bob

    page = client.get(reverse("console:activity_detail", args=[activity.pk]))
    assert page.status_code == 200
    assert "发布" in page.content.decode()

    client.post(reverse("console:activity_publish", args=[activity.pk]))
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.PUBLISHED
    assert AuditEvent.objects.filter(action="activity.publish", object_id=str(activity.pk), actor=bob).exists()


def test_create_refuses_an_organiser_outside_the_subtree(tree: Tree, bob: User) -> None:
    now = timezone.now()
    response = console_client(bob).post(
        reverse("console:activity_new"),
        {
            "kind": KIND,
            "org": tree.nanshan.pk,
            "title": "越界",
            "starts_at": local(now),
            "ends_at": local(now + timedelta(days=1)),
        },
    )
    assert response.status_code == 400  # not among the choices
    assert not Activity.objects.exists()


def test_create_reports_a_window_in_the_wrong_order(tree: Tree, bob: User) -> None:
    now = timezone.now()
    response = console_client(bob).post(
        reverse("console:activity_new"),
        {
            "kind": KIND,
            "org": tree.tianhe.pk,
            "title": "时间不对",
            "starts_at": local(now + timedelta(days=2)),
            "ends_at": local(now + timedelta(days=1)),
        },
    )
    assert response.status_code == 400
    assert "结束时间必须晚于开始时间" in response.content.decode()


def test_edit_saves_fields_audience_and_sanitises_description(tree: Tree, bob: User) -> None:
    OrgTag.objects.create(org=tree.tianhe_union, name="非公企业")
    activity = draft(tree.tianhe, bob)
    client = console_client(bob)
    page = client.get(reverse("console:activity_edit", args=[activity.pk]))
    assert page.status_code == 200
    assert "非公企业" in page.content.decode()  # tags of the subtree are offered
    response = client.post(
        reverse("console:activity_edit", args=[activity.pk]),
        {
            "title": "新标题",
            "summary": "",
            "starts_at": local(activity.starts_at),
            "ends_at": local(activity.ends_at),
            "description": '<p onclick="x()">你好<script>alert(1)</script></p>',
            "rules": "每人一票",
            "audience_groups": ["courier"],
            "audience_tags": ["非公企业"],
            "verified_only": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()
    activity.refresh_from_db()
    assert activity.title == "新标题"
    assert activity.description == "<p>你好</p>"
    assert activity.audience_groups == ["courier"]
    assert activity.audience_tags == ["非公企业"]
    assert activity.verified_only is True


def _png(size: int = 40) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 22, 29)).save(out, "PNG")
    return out.getvalue()


def test_cover_upload_is_checked(tree: Tree, bob: User, settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    activity = draft(tree.tianhe, bob)
    client = console_client(bob)
    base = {"title": activity.title, "starts_at": local(activity.starts_at), "ends_at": local(activity.ends_at)}
    bad = SimpleUploadedFile("cover.png", b"not an image", content_type="image/png")
    response = client.post(reverse("console:activity_edit", args=[activity.pk]), {**base, "cover": bad})
    assert response.status_code == 400
    assert "封面图不是有效的图片文件" in response.content.decode()
    activity.refresh_from_db()
    assert not activity.cover

    good = SimpleUploadedFile("cover.png", _png(), content_type="image/png")
    response = client.post(reverse("console:activity_edit", args=[activity.pk]), {**base, "cover": good})
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.cover.name.startswith("activities/covers/")


def test_edit_of_an_open_activity_keeps_the_audience_frozen(tree: Tree, bob: User) -> None:
    activity = published(tree.tianhe, bob)
    response = console_client(bob).post(
        reverse("console:activity_edit", args=[activity.pk]),
        {
            "title": "改个标题",
            "starts_at": local(activity.starts_at - timedelta(days=1)),  # disabled: ignored
            "ends_at": local(activity.ends_at + timedelta(days=1)),
            "verified_only": "on",  # disabled: ignored
        },
    )
    assert response.status_code == 302
    fresh = Activity.objects.get(pk=activity.pk)
    assert fresh.title == "改个标题"
    assert fresh.starts_at == activity.starts_at
    assert fresh.verified_only is False
    assert fresh.ends_at > activity.ends_at


def test_audience_list_by_card_number_or_mobile(tree: Tree, bob: User) -> None:
    activity = draft(tree.tianhe, bob, member_list_only=True)
    one = make_member(tree.tianhe_union, "甲", mobile="13511112222")
    two = ensure_card_number(actor=None, member=make_member(tree.tianhe_street, "乙"))
    outsider = make_member(tree.nanshan_union, "丙", mobile="13533334444")
    client = console_client(bob)
    url = reverse("console:activity_audience", args=[activity.pk])
    response = client.post(url, {"lines": f"135 1111 2222\n{two.card_number}\n13533334444\n"})
    assert response.status_code == 400  # the Nanshan member is not in the organiser's subtree
    assert "13533334444" in response.content.decode()
    assert not AudienceMember.objects.exists()
    response = client.post(url, {"lines": f"135 1111 2222\n{str(two.card_number).lower()}\n"})
    assert response.status_code == 302
    assert set(AudienceMember.objects.values_list("member_id", flat=True)) == {one.pk, two.pk}
    assert outsider.pk not in set(AudienceMember.objects.values_list("member_id", flat=True))


def test_close_early_needs_a_reason_and_runs_once(tree: Tree, bob: User) -> None:
    activity = published(tree.tianhe, bob)
    client = console_client(bob)
    client.post(reverse("console:activity_close", args=[activity.pk]), {"reason": ""})
    assert Activity.objects.get(pk=activity.pk).status == ActivityStatus.PUBLISHED
    client.post(reverse("console:activity_close", args=[activity.pk]), {"reason": "场地变更"})
    fresh = Activity.objects.get(pk=activity.pk)
    assert fresh.status == ActivityStatus.CLOSED and fresh.finalised_at is not None
    event = AuditEvent.objects.get(action="activity.close", object_id=str(activity.pk))
    assert event.details["reason"] == "场地变更"
    client.post(reverse("console:activity_archive", args=[activity.pk]))
    assert Activity.objects.get(pk=activity.pk).status == ActivityStatus.ARCHIVED


def test_activity_page_shows_participation_charts(tree: Tree, bob: User) -> None:
    activity = published(tree.tianhe, bob)
    for name in ("甲", "乙"):
        actions.record_participation(activity, make_member(tree.tianhe_union, name))
    actions.record_participation(activity, make_member(tree.tianhe_street, "丙"))
    page = console_client(bob).get(reverse("console:activity_detail", args=[activity.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="chart-suborg"' in body and 'id="chart-day"' in body
    assert "天河区石牌街道总工会" in body
    assert page.context["count"] == 3
    assert page.context["chart_data"]["suborg"]["counts"] == [3]


def test_list_filters_by_kind_state_and_title(tree: Tree, bob: User) -> None:
    draft(tree.tianhe, bob, title="草稿甲")
    published(tree.tianhe, bob, title="进行中乙")
    published(tree.nanshan, None, title="南山丙")
    client = console_client(bob)
    titles = [row["a"].title for row in client.get(reverse("console:activities")).context["items"]]
    assert sorted(titles) == ["草稿甲", "进行中乙"]
    open_only = client.get(reverse("console:activities"), {"state": "open"}).context["items"]
    assert [row["a"].title for row in open_only] == ["进行中乙"]
    found = client.get(reverse("console:activities"), {"q": "草稿"}).context["items"]
    assert [row["a"].title for row in found] == ["草稿甲"]
    assert client.get(reverse("console:activities"), {"kind": "survey"}).context["items"] == [] or all(
        row["a"].kind == "survey"
        for row in client.get(reverse("console:activities"), {"kind": "survey"}).context["items"]
    )


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_export_is_audited(tree: Tree, bob: User, file_format: str) -> None:
    activity = published(tree.tianhe, bob)
    response = console_client(bob).get(reverse("console:activity_export", args=[activity.pk]), {"format": file_format})
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    if file_format == "csv":
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert len(rows) >= 1
    else:
        book = load_workbook(io.BytesIO(response.content))
        assert book.active is not None
    event = AuditEvent.objects.get(action="activity.export", object_id=str(activity.pk))
    assert event.details["format"] == file_format


@pytest.mark.parametrize(
    ("name", "method"),
    [
        ("console:activity_detail", "get"),
        ("console:activity_edit", "get"),
        ("console:activity_edit", "post"),
        ("console:activity_audience", "get"),
        ("console:activity_publish", "post"),
        ("console:activity_close", "post"),
        ("console:activity_archive", "post"),
        ("console:activity_export", "get"),
    ],
)
def test_another_districts_activity_is_404(tree: Tree, bob: User, charlie: User, name: str, method: str) -> None:
    activity = draft(tree.nanshan, charlie)
    client = console_client(bob)
    response = getattr(client, method)(reverse(name, args=[activity.pk]), {"reason": "x"})
    assert response.status_code == 404
    assert Activity.objects.get(pk=activity.pk).status == ActivityStatus.DRAFT
    assert not AuditEvent.objects.filter(action="activity.export").exists()


def test_auditor_sees_but_cannot_manage(tree: Tree, bob: User, erin: User) -> None:
    activity = draft(tree.tianhe, bob)
    client = console_client(erin)
    page = client.get(reverse("console:activity_detail", args=[activity.pk]))
    assert page.status_code == 200
    assert not page.context["can_publish"]
    assert client.post(reverse("console:activity_publish", args=[activity.pk])).status_code == 404
    assert client.get(reverse("console:activity_new")).status_code == 404


def test_org_tags_form(tree: Tree, bob: User, charlie: User) -> None:
    client = console_client(bob)
    url = reverse("console:org_tags", args=[tree.tianhe_union.pk])
    response = client.post(url, {"tags": "非公企业、园区，非公企业"})
    assert response.status_code == 302
    assert sorted(OrgTag.objects.filter(org=tree.tianhe_union).values_list("name", flat=True)) == ["园区", "非公企业"]
    assert console_client(charlie).get(url).status_code == 404
