"""News: who sees what, scheduling, withdrawal, sanitising, reading that pays once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import Conflict
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member
from gonghui.news import actions, selectors
from gonghui.news.models import NewsItem, NewsRead
from gonghui.points import ledger, rules
from gonghui.points.models import Entry, RuleKind
from gonghui.testing.concurrency import on_postgres_only, race

pytestmark = pytest.mark.django_db


def publish(org: Any, title: str, *, actor: Any = None, **values: Any) -> NewsItem:
    news = actions.create_news(actor=actor, org=org, values={"title": title, "body": "<p>正文</p>", **values})
    return actions.publish(actor=actor, news=news)


def feed(member: Member, **kwargs: Any) -> list[str]:
    return [n.title for n in selectors.visible_to_member(member, **kwargs)]


def test_a_union_publishes_to_its_subtree_and_members_see_their_ancestors_news(
    tree: Tree, frank: Member, nina: Member, alice: User, bob: User
) -> None:
    publish(tree.province, "全省职工技能大赛", actor=alice)
    publish(tree.tianhe, "天河区夏日送清凉", actor=bob)
    publish(tree.tianhe_union, "软件园工会读书会", actor=bob)

    assert set(feed(frank)) == {"全省职工技能大赛", "天河区夏日送清凉", "软件园工会读书会"}
    # A Nanshan member does not see a Tianhe-only item; the province's reaches everyone.
    assert feed(nina) == ["全省职工技能大赛"]
    tianhe_item = NewsItem.objects.get(title="天河区夏日送清凉")
    assert selectors.get_for_member(nina, tianhe_item.pk) is None
    # A member of a union *above* the publisher does not see it either.
    guangzhou_member = make_member(tree.guangzhou, "高广")
    assert feed(guangzhou_member) == ["全省职工技能大赛"]


def test_pinned_first_then_newest_and_filter_by_tag(tree: Tree, frank: Member, alice: User) -> None:
    old = publish(tree.province, "旧闻", actor=alice, tags="政策解读，通知")
    publish(tree.province, "新闻", actor=alice, tags=["劳模风采"])
    NewsItem.objects.filter(pk=old.pk).update(published_at=timezone.now() - timedelta(days=2))
    assert feed(frank) == ["新闻", "旧闻"]
    actions.set_pinned(actor=alice, news=old, pinned=True)
    assert feed(frank) == ["旧闻", "新闻"]
    assert feed(frank, tag="政策解读") == ["旧闻"]
    assert sorted(selectors.tags_for_member(frank)) == ["劳模风采", "政策解读", "通知"]
    assert AuditEvent.objects.filter(action="news.pin", object_id=str(old.pk)).exists()


def test_scheduled_items_stay_hidden_until_their_time_and_withdrawn_ones_disappear(
    tree: Tree, frank: Member, alice: User
) -> None:
    draft = actions.create_news(actor=alice, org=tree.province, values={"title": "草稿"})
    assert feed(frank) == []
    later = timezone.now() + timedelta(hours=3)
    scheduled = actions.publish(actor=alice, news=draft, at=later)
    assert scheduled.published_at == later
    assert selectors.state_of(scheduled) == "scheduled"
    assert feed(frank) == []
    assert selectors.get_for_member(frank, draft.pk) is None
    NewsItem.objects.filter(pk=draft.pk).update(published_at=timezone.now() - timedelta(seconds=1))  # time passes
    assert feed(frank) == ["草稿"]
    actions.withdraw(actor=alice, news=draft)
    assert feed(frank) == []
    with pytest.raises(Conflict):
        actions.withdraw(actor=alice, news=draft)


def test_publishing_in_the_past_is_refused(tree: Tree, alice: User) -> None:
    news = actions.create_news(actor=alice, org=tree.province, values={"title": "补发"})
    with pytest.raises(Exception) as exc:
        actions.publish(actor=alice, news=news, at=timezone.now() - timedelta(days=1))
    assert getattr(exc.value, "code", "") == "NEWS_PUBLISH_PAST"


def test_the_body_is_sanitised(tree: Tree, alice: User) -> None:
    news = actions.create_news(
        actor=alice,
        org=tree.province,
        values={
            "title": "图文",
            "body": '<p onclick="x()">好<script>alert(1)</script></p><img src="https://example.org/a.png" '
            'onerror="x()"><img src="javascript:alert(1)"><a href="javascript:x()">链接</a><iframe></iframe>',
        },
    )
    assert "script" not in news.body and "onclick" not in news.body and "onerror" not in news.body
    assert "javascript" not in news.body and "iframe" not in news.body
    assert '<img src="https://example.org/a.png">' in news.body


def test_reading_pays_once_and_only_after_the_minimum_time(tree: Tree, frank: Member, alice: User) -> None:
    rules.set_rule(
        actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 3, "min_read_seconds": 15}
    )
    news = publish(tree.province, "读一读", actor=alice)
    with pytest.raises(Conflict) as not_opened:
        actions.complete_reading(member=frank, news=news)
    assert not_opened.value.code == "NEWS_NOT_OPENED"

    read = actions.open_news(member=frank, news=news)
    with pytest.raises(actions.ReadTooSoon) as early:
        actions.complete_reading(member=frank, news=news, now=read.opened_at + timedelta(seconds=10))
    assert early.value.details["wait_seconds"] == 5
    assert ledger.balance_of(frank) == 0

    # Opening again keeps the first opening time (the clock is not restarted, nor reset).
    assert actions.open_news(member=frank, news=news).opened_at == read.opened_at
    done = actions.complete_reading(member=frank, news=news, now=read.opened_at + timedelta(seconds=15))
    assert (done.points, done.code, done.replayed) == (3, "PAID", False)
    again = actions.complete_reading(member=frank, news=news, now=read.opened_at + timedelta(seconds=60))
    assert (again.points, again.replayed) == (3, True)
    assert ledger.balance_of(frank) == 3
    assert Entry.objects.filter(source_id=f"read_news:{news.pk}").count() == 1


def test_read_counts_count_distinct_members(tree: Tree, frank: Member, nina: Member, alice: User) -> None:
    news = publish(tree.province, "阅读人数", actor=alice)
    actions.open_news(member=frank, news=news)
    actions.open_news(member=frank, news=news)
    actions.open_news(member=nina, news=news)
    news.refresh_from_db()
    assert news.read_count == 2 == NewsRead.objects.filter(news=news).count()


def test_a_capped_reading_is_still_completed_once(tree: Tree, frank: Member, alice: User) -> None:
    rules.set_rule(
        actor=alice,
        org=tree.province,
        kind=RuleKind.READ_NEWS,
        values={"points": 2, "daily_cap": 2, "min_read_seconds": 0},
    )
    first, second = publish(tree.province, "一", actor=alice), publish(tree.province, "二", actor=alice)
    for news in (first, second):
        actions.open_news(member=frank, news=news)
    assert actions.complete_reading(member=frank, news=first).points == 2
    capped = actions.complete_reading(member=frank, news=second)
    assert (capped.points, capped.code) == (0, "CAP_REACHED")
    assert NewsRead.objects.get(news=second, member=frank).credited_at is not None


# --- the portal ---------------------------------------------------------------------------


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


def test_portal_feed_and_detail_respect_the_tree(tree: Tree, frank: Member, nina: Member, bob: User) -> None:
    item = publish(tree.tianhe, "天河区资讯", actor=bob, tags="福利")
    client = member_client(nina)
    assert "天河区资讯" not in client.get("/news/").content.decode()
    assert client.get(f"/news/{item.pk}/").status_code == 404
    assert client.post(f"/news/{item.pk}/read-complete/").status_code == 404

    client = member_client(frank)
    page = client.get("/news/?tag=福利").content.decode()
    assert "天河区资讯" in page and "#福利" in page
    detail = client.get(f"/news/{item.pk}/")
    assert detail.status_code == 200
    assert "1 人读过" in detail.content.decode()
    assert 'hx-trigger="load delay:' in detail.content.decode()


def test_portal_read_complete_refuses_early_then_pays_once(tree: Tree, frank: Member, alice: User) -> None:
    rules.set_rule(
        actor=alice, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 4, "min_read_seconds": 30}
    )
    news = publish(tree.province, "读满三十秒", actor=alice)
    client = member_client(frank)
    client.get(f"/news/{news.pk}/")
    htmx = {"HTTP_HX_REQUEST": "true"}
    early = client.post(f"/news/{news.pk}/read-complete/", **htmx).content.decode()
    assert "再阅读" in early and 'hx-trigger="load delay:' in early
    assert ledger.balance_of(frank) == 0
    NewsRead.objects.filter(news=news, member=frank).update(opened_at=timezone.now() - timedelta(seconds=31))
    paid = client.post(f"/news/{news.pk}/read-complete/", **htmx).content.decode()
    assert "+4 积分" in paid
    again = client.post(f"/news/{news.pk}/read-complete/", **htmx).content.decode()
    assert "+4" not in again and "4 积分" in again  # "本文已读完，获得 4 积分"
    assert ledger.balance_of(frank) == 4


# --- console and API scoping --------------------------------------------------------------


def test_console_news_is_scoped_to_the_subtree(tree: Tree, bob: User, charlie: User) -> None:
    from gonghui.conftest import console_client

    item = publish(tree.tianhe, "天河区内部", actor=bob)
    charlie_client = console_client(charlie)
    for url in (f"/console/news/{item.pk}/", f"/console/news/{item.pk}/edit/"):
        assert charlie_client.get(url).status_code == 404
    for url in (f"/console/news/{item.pk}/withdraw/", f"/console/news/{item.pk}/pin/"):
        assert charlie_client.post(url, {"pinned": "1"}).status_code == 404
    assert "天河区内部" not in charlie_client.get("/console/news/").content.decode()
    item.refresh_from_db()
    assert item.status == "published" and not item.pinned

    bob_client = console_client(bob)
    listing = bob_client.get("/console/news/").content.decode()
    assert "天河区内部" in listing
    assert bob_client.get(f"/console/news/{item.pk}/").status_code == 200


def test_console_compose_preview_publish_and_read_count(tree: Tree, bob: User, frank: Member) -> None:
    from gonghui.conftest import console_client

    client = console_client(bob)
    assert client.get("/console/news/new/").status_code == 200
    response = client.post(
        "/console/news/new/",
        {"org": tree.tianhe.pk, "title": "区总工会通知", "tags": "通知, 福利", "body": "<p>内容<script>x</script></p>"},
    )
    assert response.status_code == 302
    news = NewsItem.objects.get(title="区总工会通知")
    assert news.status == "draft" and sorted(news.tag_names) == ["福利", "通知"]
    preview = client.post("/console/news/preview/", {"title": "T", "body": "<p>预览<script>x</script></p>"})
    assert "<p>预览</p>" in preview.content.decode()
    later = (timezone.localtime() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/console/news/{news.pk}/publish/", {"published_at": later})
    news.refresh_from_db()
    assert selectors.state_of(news) == "scheduled"
    NewsItem.objects.filter(pk=news.pk).update(published_at=timezone.now() - timedelta(minutes=1))
    member_client(frank).get(f"/news/{news.pk}/")
    assert ">1<small>" in client.get(f"/console/news/{news.pk}/").content.decode().replace("\n", "")
    # A union outside bob's subtree cannot be chosen as publisher.
    response = client.post("/console/news/new/", {"org": tree.nanshan.pk, "title": "越界"})
    assert response.status_code in (400, 404)
    assert not NewsItem.objects.filter(title="越界").exists()


def test_api_news_for_members_and_cadres(tree: Tree, frank: Member, nina: Member, bob: User, charlie: User) -> None:
    from gonghui.conftest import console_client

    rules.set_rule(actor=bob, org=tree.tianhe, kind=RuleKind.READ_NEWS, values={"points": 2, "min_read_seconds": 0})
    bob_client = console_client(bob)
    created = bob_client.post(
        "/api/v1/news",
        {"org_id": tree.tianhe.pk, "title": "接口资讯", "tags": ["接口"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    news_id = created.json()["id"]
    assert bob_client.post(f"/api/v1/news/{news_id}/publish", {}, content_type="application/json").status_code == 200
    # Another district's cadre: 404 everywhere.
    charlie_client = console_client(charlie)
    assert charlie_client.get(f"/api/v1/news/{news_id}").status_code == 404
    assert charlie_client.post(f"/api/v1/news/{news_id}/withdraw").status_code == 404
    assert (
        charlie_client.patch(f"/api/v1/news/{news_id}", {"title": "x"}, content_type="application/json").status_code
        == 404
    )
    assert all(n["id"] != news_id for n in charlie_client.get("/api/v1/news").json())
    wrong_org = charlie_client.post(
        "/api/v1/news", {"org_id": tree.tianhe.pk, "title": "越界"}, content_type="application/json"
    )
    assert wrong_org.status_code == 404

    assert member_client(nina).get(f"/api/v1/me/news/{news_id}").status_code == 404
    client = member_client(frank)
    listing = client.get("/api/v1/me/news").json()
    assert [n["title"] for n in listing["items"]] == ["接口资讯"]
    detail = client.get(f"/api/v1/me/news/{news_id}").json()
    assert detail["reading"]["min_read_seconds"] == 0 and detail["read_count"] == 1
    done = client.post(f"/api/v1/me/news/{news_id}/read-complete").json()
    assert (done["points"], done["replayed"]) == (2, False)
    assert client.post(f"/api/v1/me/news/{news_id}/read-complete").json()["replayed"] is True
    assert ledger.balance_of(frank) == 2


@pytest.mark.postgres_only
@on_postgres_only
def test_parallel_first_opens_count_one_reader_and_parallel_completions_pay_once(
    transactional_db: Any, tree: Tree
) -> None:
    admin = User.objects.create_user("news-admin", password="x" * 12)
    member = make_member(tree.tianhe_union, "钱十二")
    rules.set_rule(actor=admin, org=tree.province, kind=RuleKind.READ_NEWS, values={"points": 5, "min_read_seconds": 0})
    news = publish(tree.province, "并发阅读", actor=admin)
    opened = race(*[(lambda: actions.open_news(member=member, news=news)) for _ in range(6)])
    assert all(isinstance(r, NewsRead) for r in opened), opened
    news.refresh_from_db()
    assert news.read_count == 1
    results = race(*[(lambda: actions.complete_reading(member=member, news=news)) for _ in range(6)])
    assert all(isinstance(r, actions.ReadResult) for r in results), results
    assert sum(not r.replayed for r in results) == 1
    assert ledger.balance_of(member) == 5
