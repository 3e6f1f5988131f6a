"""A notice's own page, reached under the union that published it."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gonghui.conftest import Tree
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Notice


def detail(org_id: int, notice_id: int) -> str:
    return reverse("portal:notice_detail", kwargs={"org_id": org_id, "notice_id": notice_id})


def test_notice_shows_title_body_and_publisher(client: Client, tree: Tree) -> None:
    notice = org_actions.publish_notice(
        actor=None, org=tree.tianhe, title="关于开展送清凉活动的通知", body="第一段。\n\n第二段<script>x</script>"
    )

    response = client.get(detail(tree.tianhe.pk, notice.pk))

    body = response.content.decode()
    assert response.status_code == 200
    assert "关于开展送清凉活动的通知" in body
    assert "<p>第一段。</p>" in body
    assert "<script>x</script>" not in body
    assert "天河区总工会" in body


def test_notice_under_another_union_is_404(client: Client, tree: Tree) -> None:
    notice = org_actions.publish_notice(actor=None, org=tree.province, title="省总通知", body="正文")

    assert client.get(detail(tree.tianhe.pk, notice.pk)).status_code == 404
    assert client.get(detail(tree.province.pk, notice.pk)).status_code == 200


def test_notice_of_a_closed_union_is_404(client: Client, tree: Tree) -> None:
    notice = org_actions.publish_notice(actor=None, org=tree.nanshan_union, title="团建", body="正文")
    org_actions.close_org(actor=None, org=tree.nanshan_union, reason="企业注销")

    assert client.get(detail(tree.nanshan_union.pk, notice.pk)).status_code == 404


def test_a_notice_scheduled_for_later_is_not_shown_yet(client: Client, tree: Tree) -> None:
    notice = org_actions.publish_notice(actor=None, org=tree.tianhe, title="明天发布", body="正文")
    Notice.objects.filter(pk=notice.pk).update(published_at=timezone.now() + timedelta(days=1))

    assert client.get(detail(tree.tianhe.pk, notice.pk)).status_code == 404
    home = client.get(reverse("portal:union_home", kwargs={"org_id": tree.tianhe.pk}))
    assert "明天发布" not in home.content.decode()


def test_notice_list_pages_through_own_and_ancestor_notices(client: Client, tree: Tree) -> None:
    for n in range(25):
        org = tree.province if n % 2 else tree.tianhe
        org_actions.publish_notice(actor=None, org=org, title=f"通知第{n}号", body="正文")
    org_actions.publish_notice(actor=None, org=tree.nanshan, title="南山的通知", body="正文")
    url = reverse("portal:notice_list", kwargs={"org_id": tree.tianhe.pk})

    first = client.get(url).content.decode()
    second = client.get(url, {"page": 2}).content.decode()

    assert first.count('class="notice-row"') == 20
    assert second.count('class="notice-row"') == 5
    assert "南山的通知" not in first + second
