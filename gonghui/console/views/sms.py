"""短信发件箱: what the SMS provider was asked to send, newest first.

Messages belong to no union, so the outbox is for province admins only — cadres holding
``SMS_OUTBOX_VIEW`` on a root org — or, on a development server (DEBUG), for anyone who
holds that permission. Codes in the texts of a real gateway's messages are masked: a live
login code is a key to someone's account.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from gonghui.console.forms import SmsFilterForm
from gonghui.console.views.common import cadre, cadre_required, page, sms_outbox_allowed
from gonghui.core import pii
from gonghui.core.models import SmsMessage
from gonghui.core.sms import SandboxSmsProvider

PAGE_SIZE = 50
_CODE = re.compile(r"(?<!\d)\d{4,8}(?!\d)")


def shown_text(message: SmsMessage) -> str:
    if settings.DEBUG or message.provider == SandboxSmsProvider.name:
        return message.text
    return _CODE.sub(lambda m: "*" * len(m.group()), message.text)


@cadre_required
def sms_outbox(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    if not sms_outbox_allowed(user):
        return page(request, "console/sms_outbox.html", {"allowed": False}, section="sms", status=403)
    form = SmsFilterForm(request.GET or None)
    qs = SmsMessage.objects.all()
    after = None
    if form.is_bound and form.is_valid():
        if form.cleaned_data.get("mobile"):
            qs = qs.filter(mobile=form.cleaned_data["mobile"])
        after = form.cleaned_data.get("after")
    elif form.is_bound:
        qs = qs.none()
    if after:
        qs = qs.filter(pk__lt=after)
    rows = list(qs.order_by("-pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    context = {
        "allowed": True,
        "form": form,
        "rows": [{"msg": m, "text": shown_text(m), "mobile": pii.mask_mobile(m.mobile)} for m in rows],
        "next_after": rows[-1].pk if more else None,
        "is_first_page": not after,
        "filters": {k: v for k, v in request.GET.items() if k != "after" and v},
        "debug": settings.DEBUG,
    }
    return page(request, "console/sms_outbox.html", context, section="sms")
