"""The console's notice composer, broadcast list, detail and progress; tenancy."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gonghui.conftest import Tree, console_client
from gonghui.core.models import User
from gonghui.inbox import actions
from gonghui.inbox.models import Broadcast, BroadcastStatus, Message
from gonghui.members.models import Member
from gonghui.orgs.models import Notice


@pytest.fixture
def bob_client(bob: User) -> Client:
    return console_client(bob)


def compose(**overrides: Any) -> dict[str, Any]:
    return {"title": "端午慰问", "body": "请各会员到工会领取慰问品。", "publish": "on", "push": "on", **overrides}


def test_composer_lists_only_unions_in_scope(bob_client: Client, tree: Tree) -> None:
    html = bob_client.get(reverse("console:broadcast_new")).content.decode()
    assert tree.tianhe.name in html and tree.tianhe_union.name in html
    assert tree.nanshan.name not in html and tree.guangzhou.name not in html


def test_compose_publishes_the_notice_and_pushes_it(
    bob_client: Client, tree: Tree, tianhe_people: list[Member], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = bob_client.post(
            reverse("console:broadcast_new"), compose(org=tree.tianhe.pk, employment_status=["employed"])
        )
    broadcast = Broadcast.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "console:broadcast_detail", args=[broadcast.pk]
    )
    assert broadcast.notice == Notice.objects.get(title="端午慰问")
    assert broadcast.filters == {"employment_status": ["employed"]}
    assert Message.objects.filter(broadcast=broadcast).count() == 3  # 王一, 王三, 王四; 王二 is retired


def test_compose_notice_only(bob_client: Client, tree: Tree, tianhe_people: list[Member]) -> None:
    response = bob_client.post(reverse("console:broadcast_new"), compose(org=tree.tianhe.pk, push=""))
    assert response.status_code == 302 and response["Location"] == reverse("console:broadcasts")
    assert Notice.objects.count() == 1 and not Broadcast.objects.exists()


def test_compose_with_nobody_matching_shows_the_error(
    bob_client: Client, tree: Tree, tianhe_people: list[Member]
) -> None:
    response = bob_client.post(
        reverse("console:broadcast_new"), compose(org=tree.tianhe.pk, new_employment_group=["security"])
    )
    assert response.status_code == 400
    assert "没有符合条件的会员" in response.content.decode()
    assert not Notice.objects.exists()  # one transaction: no half-published notice


def test_compose_for_another_district_is_refused(bob_client: Client, tree: Tree, tianhe_people: list[Member]) -> None:
    response = bob_client.post(reverse("console:broadcast_new"), compose(org=tree.nanshan.pk))
    assert response.status_code == 400  # not among the choices
    assert not Broadcast.objects.exists() and not Notice.objects.exists()


def test_preview_counts_recipients(bob_client: Client, tree: Tree, tianhe_people: list[Member]) -> None:
    url = reverse("console:broadcast_preview")
    assert "<strong>4</strong>" in bob_client.get(url, {"org": tree.tianhe.pk}).content.decode()
    narrowed = bob_client.get(url, {"org": tree.tianhe.pk, "sub_org": tree.tianhe_union.pk}).content.decode()
    assert "<strong>2</strong>" in narrowed


def sent_broadcast(tree: Tree, bob: User, **kwargs: Any) -> Broadcast:
    return actions.send_broadcast(bob, tree.tianhe, "通知", "正文", {}, **kwargs)


def test_list_and_detail(bob_client: Client, tree: Tree, bob: User, tianhe_people: list[Member]) -> None:
    broadcast = sent_broadcast(tree, bob)
    html = bob_client.get(reverse("console:broadcasts")).content.decode()
    assert reverse("console:broadcast_detail", args=[broadcast.pk]) in html
    detail = bob_client.get(reverse("console:broadcast_detail", args=[broadcast.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in detail and "0 / 4" in detail


def test_progress_stops_polling_when_done(
    bob_client: Client, tree: Tree, bob: User, tianhe_people: list[Member], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        broadcast = sent_broadcast(tree, bob)
    html = bob_client.get(reverse("console:broadcast_progress", args=[broadcast.pk])).content.decode()
    assert "100%" in html and "4 / 4" in html and "hx-trigger" not in html and "已完成" in html


def test_a_stale_broadcast_can_be_resumed(
    bob_client: Client, tree: Tree, bob: User, tianhe_people: list[Member], django_capture_on_commit_callbacks: Any
) -> None:
    broadcast = sent_broadcast(tree, bob)  # never enqueued: the test transaction does not commit
    Broadcast.objects.filter(pk=broadcast.pk).update(created_at=timezone.now() - actions.stale_after() * 2)
    detail = bob_client.get(reverse("console:broadcast_detail", args=[broadcast.pk])).content.decode()
    assert "继续发送" in detail
    with django_capture_on_commit_callbacks(execute=True):
        bob_client.post(reverse("console:broadcast_resume", args=[broadcast.pk]))
    broadcast.refresh_from_db()
    assert broadcast.status == BroadcastStatus.DONE and broadcast.sent == 4


@pytest.mark.parametrize("name", ["console:broadcast_detail", "console:broadcast_progress", "console:broadcast_resume"])
def test_another_districts_broadcast_is_404(
    name: str, tree: Tree, bob: User, charlie: User, tianhe_people: list[Member]
) -> None:
    broadcast = sent_broadcast(tree, bob)
    client = console_client(charlie)
    url = reverse(name, args=[broadcast.pk])
    response = client.post(url) if name.endswith("resume") else client.get(url)
    assert response.status_code == 404
    listing = client.get(reverse("console:broadcasts")).content.decode()
    assert reverse("console:broadcast_detail", args=[broadcast.pk]) not in listing
    assert "还没有群发过通知" in listing


def test_preview_for_another_district_is_404(tree: Tree, charlie: User, tianhe_people: list[Member]) -> None:
    response = console_client(charlie).get(reverse("console:broadcast_preview"), {"org": tree.tianhe.pk})
    assert response.status_code == 404
