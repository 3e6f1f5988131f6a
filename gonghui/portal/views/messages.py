"""消息中心: the member's messages, newest first; reading one marks it read.

A person's inbox is the messages of their member record and of their user account
(an applicant has no member record yet): ``inbox.selectors.inbox_for``. A message of
anybody else is a 404, like a message that does not exist.
"""

from __future__ import annotations

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.inbox import actions, selectors
from gonghui.inbox.models import Message
from gonghui.portal.views.common import member_of, page

PER_PAGE = 20


@never_cache
@login_required
def message_list(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    only_unread = request.GET.get("show") == "unread"
    qs = selectors.unread(request.user, member) if only_unread else selectors.inbox_for(request.user, member)
    if only_unread:
        qs = qs.select_related("broadcast", "sender").order_by("-created_at", "-id")
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    context = {"page_obj": page_obj, "only_unread": only_unread}
    return page(request, "portal/messages.html", context, tab="messages")


def _message(request: HttpRequest, message_id: int) -> Message:
    message = selectors.inbox_for(request.user, member_of(request)).filter(pk=message_id).first()
    if message is None:
        raise Http404
    return message


@never_cache
@login_required
def message_detail(request: HttpRequest, message_id: int) -> HttpResponse:
    message = actions.mark_read(user=request.user, message=_message(request, message_id))
    notice = message.broadcast.notice if message.broadcast is not None and message.broadcast.notice_id else None
    context = {"message": message, "notice": notice}
    return page(request, "portal/message_detail.html", context, tab="messages")


@require_POST
@login_required
def message_read_all(request: HttpRequest) -> HttpResponse:
    count = actions.mark_all_read(user=request.user, member=member_of(request))
    if count:
        flash.success(request, _("已将 %(n)d 条消息标为已读。") % {"n": count})
    return redirect("portal:messages")
