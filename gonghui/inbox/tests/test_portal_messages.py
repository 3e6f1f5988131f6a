"""消息中心 on the portal: list, unread badge, detail marks read, 全部已读, privacy."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.inbox.actions import notify, notify_user
from gonghui.inbox.models import Message, MessageKind
from gonghui.members.models import Member


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def test_list_is_newest_first_with_unread_bold_and_a_badge(frank: Member, tree: Tree) -> None:
    old = notify(frank, MessageKind.APPLICATION, "入会申请已通过", "欢迎加入。")
    new = notify(frank, MessageKind.NOTICE, "端午慰问通知", "领取慰问品。", sender=tree.tianhe)
    Message.objects.filter(pk=old.pk).update(read_at="2026-01-01T00:00:00Z")
    response = member_client(frank).get(reverse("portal:messages"))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("端午慰问通知") < html.index("入会申请已通过")
    assert html.count('class="msg-row is-unread"') == 1
    assert f'href="{reverse("portal:message_detail", args=[new.pk])}"' in html
    assert 'class="tab-badge" aria-hidden="true">1<' in html
    assert "kind kind-notice" in html and "通知公告" in html


def test_badge_appears_on_other_portal_pages(frank: Member) -> None:
    notify(frank, MessageKind.MEMBERSHIP, "会籍提醒")
    html = member_client(frank).get(reverse("portal:me")).content.decode()
    assert 'class="tab-badge"' in html


def test_opening_a_message_marks_it_read(frank: Member) -> None:
    message = notify(frank, MessageKind.MEMBERSHIP, "会籍提醒", "请及时交纳会费。")
    client = member_client(frank)
    response = client.get(reverse("portal:message_detail", args=[message.pk]))
    assert response.status_code == 200 and "请及时交纳会费。" in response.content.decode()
    message.refresh_from_db()
    assert message.read_at is not None
    assert 'class="tab-badge"' not in response.content.decode()


def test_someone_elses_message_is_404(frank: Member, tree: Tree) -> None:
    other = make_member(tree.tianhe_union, "别人")
    message = notify(other, MessageKind.MEMBERSHIP, "别人的消息")
    response = member_client(frank).get(reverse("portal:message_detail", args=[message.pk]))
    assert response.status_code == 404
    message.refresh_from_db()
    assert message.read_at is None


def test_read_all(frank: Member) -> None:
    for i in range(3):
        notify(frank, MessageKind.SYSTEM, f"消息{i}")
    notify_user(frank.user, MessageKind.APPLICATION, "申请已提交")
    client = member_client(frank)
    response = client.post(reverse("portal:message_read_all"), follow=True)
    assert "已将 4 条消息标为已读" in response.content.decode()
    assert not Message.objects.filter(read_at__isnull=True).exists()


def test_unread_filter_and_pagination(frank: Member) -> None:
    for i in range(25):
        notify(frank, MessageKind.SYSTEM, f"第{i:02d}条")
    Message.objects.filter(title="第24条").update(read_at="2026-01-01T00:00:00Z")
    client = member_client(frank)
    first = client.get(reverse("portal:messages")).content.decode()
    assert "第 1 / 2 页" in first and "第24条" in first
    unread = client.get(reverse("portal:messages") + "?show=unread").content.decode()
    assert "第24条" not in unread and "show=unread" in unread


def test_applicant_sees_account_messages(db: Any) -> None:
    applicant = User.objects.create_user("13700000009", name="申请人", mobile="13700000009")
    notify_user(applicant, MessageKind.APPLICATION, "您的入会申请已提交")
    client = Client()
    client.force_login(applicant)
    assert "您的入会申请已提交" in client.get(reverse("portal:messages")).content.decode()


def test_login_required(client: Client) -> None:
    response = client.get(reverse("portal:messages"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_list_query_count_is_bounded(frank: Member, tree: Tree, django_assert_max_num_queries: Any) -> None:
    for i in range(20):
        notify(frank, MessageKind.NOTICE, f"通知{i}", sender=tree.tianhe)
    client = member_client(frank)
    with django_assert_max_num_queries(10):  # session, user, member, roles, 2 counts, page, session save
        client.get(reverse("portal:messages"))
