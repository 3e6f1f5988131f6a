"""资讯: the member's news feed and the reading page that earns points.

A member sees the news of their own union and of every union above it (pinned first,
then newest), filtered by tag. Opening an item records the member's reading (the first
open counts them in ``read_count``); once the minimum reading time of their rules has
passed, the page posts "read complete" (htmx ``load delay``) and the server — which
checks the time itself — pays the reading rule once and answers with "+N 积分" or why
nothing was paid. Another union's item, a draft, a withdrawn or a scheduled item is 404.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.news import actions, selectors
from gonghui.news.actions import ReadResult, ReadTooSoon
from gonghui.news.models import NewsItem, NewsRead
from gonghui.points import rules
from gonghui.portal.views.common import member_of, page

PER_PAGE = 10
# The page waits a little longer than the rule's minimum before posting: clocks of the
# server and of the request's arrival must not make an honest reader be refused.
SLACK_SECONDS = 0.5


def _member_news(request: HttpRequest, news_id: int) -> tuple[Member, NewsItem]:
    member = member_of(request)
    if member is None:
        raise Http404
    news = selectors.get_for_member(member, news_id)
    if news is None:
        raise Http404
    return member, news


@never_cache
@login_required
def news_list(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    tag = request.GET.get("tag", "").strip()[:20]
    context: dict[str, Any] = {"member": member, "tag": tag, "tags": [], "page_obj": None, "read": set()}
    if member is not None:
        page_obj = Paginator(selectors.visible_to_member(member, tag=tag), PER_PAGE).get_page(request.GET.get("page"))
        context.update(
            page_obj=page_obj,
            tags=selectors.tags_for_member(member),
            read=selectors.read_ids(member, [n.pk for n in page_obj.object_list]),
            query_prefix=(urlencode({"tag": tag}) + "&") if tag else "",
        )
    return page(request, "portal/news/list.html", context, tab="home")


def _read_state(member: Member, read: NewsRead) -> dict[str, Any]:
    """What the reading box shows: paid already, or how long until "read complete" posts."""
    needed = rules.min_read_seconds(member)
    elapsed = (timezone.now() - read.opened_at).total_seconds()
    return {
        "done": read.credited_at is not None,
        "points": read.points,
        "min_seconds": needed,
        "delay_ms": int((max(needed - elapsed, 0) + SLACK_SECONDS) * 1000),
    }


@never_cache
@login_required
def news_detail(request: HttpRequest, news_id: int) -> HttpResponse:
    member, news = _member_news(request, news_id)
    read = actions.open_news(member=member, news=news)
    context = {"news": news, "member": member, "reading": _read_state(member, read)}
    return page(request, "portal/news/detail.html", context, tab="home")


def _result_message(result: ReadResult) -> str:
    if result.points > 0:
        return _("阅读完成 +%(n)s 积分") % {"n": result.points}
    if result.code == "CAP_REACHED":
        return _("阅读完成。今日（或本月）阅读积分已达上限。")
    if result.code == "NO_RULE":
        return _("阅读完成。所在工会暂未设置阅读积分。")
    if result.code == "MEMBER_NOT_ACTIVE":
        return _("阅读完成。只有在册会员可以获得积分。")
    return _("已阅读")


@require_POST
@login_required
def news_read_complete(request: HttpRequest, news_id: int) -> HttpResponse:
    member, news = _member_news(request, news_id)
    htmx = request.headers.get("HX-Request") == "true"
    context: dict[str, Any] = {"news": news}
    try:
        result = actions.complete_reading(member=member, news=news)
    except ReadTooSoon as exc:
        # Too early (a hurried client or a skewed clock): the box asks again when due.
        wait = float(exc.details.get("wait_seconds", 1)) + SLACK_SECONDS
        context["reading"] = {
            "done": False,
            "delay_ms": int(wait * 1000),
            "min_seconds": rules.min_read_seconds(member),
        }
        context["notice"] = exc.message
        if not htmx:
            messages.info(request, exc.message)
            return redirect("portal:news_detail", news_id=news.pk)
        return render(request, "portal/news/_reading.html", context)
    except DomainError as exc:
        if not htmx:
            messages.error(request, exc.message)
            return redirect("portal:news_detail", news_id=news.pk)
        context["reading"] = {"done": False, "error": exc.message}
        return render(request, "portal/news/_reading.html", context)
    message = _result_message(result)
    if not htmx:
        messages.success(request, message)
        return redirect("portal:news_detail", news_id=news.pk)
    # A repeated "read complete" pays nothing: say what was earned, without a "+N".
    context["reading"] = {"done": True, "points": result.points, "message": "" if result.replayed else message}
    return render(request, "portal/news/_reading.html", context)
