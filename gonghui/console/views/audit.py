"""审计日志: read-only, scoped to the subtrees where the cadre may read the audit log.

Events that belong to no union (failed logins of unknown accounts, system jobs) are shown
only to auditors of a root org, that is, of the whole province.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from gonghui.console.forms import AuditFilterForm
from gonghui.console.labels import ACTION_LABELS, OBJECT_TYPES
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.models import AuditEvent
from gonghui.orgs.models import Org

PAGE_SIZE = 50


def visible_events(user: Any) -> QuerySet[AuditEvent]:
    events = access.scope(user, AuditEvent.objects.all(), Perm.AUDIT_VIEW)
    if any(len(path) == Org.steplen for path in access.scope_paths(user, Perm.AUDIT_VIEW)):
        events = events | AuditEvent.objects.filter(org_path="")
    return events


def _local_midnight(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))


@cadre_required
def audit_log(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    if not access.can_anywhere(user, Perm.AUDIT_VIEW):
        return page(request, "console/audit_log.html", {"allowed": False}, section="audit", status=403)
    form = AuditFilterForm(request.GET or None, object_types=OBJECT_TYPES.items())
    qs = visible_events(user)
    after = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        action = data.get("action", "").strip()
        if action:
            qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
        if data.get("actor"):
            qs = qs.filter(actor_label__contains=data["actor"].strip())
        if data.get("date_from"):
            qs = qs.filter(at__gte=_local_midnight(data["date_from"]))
        if data.get("date_to"):
            qs = qs.filter(at__lt=_local_midnight(data["date_to"] + timedelta(days=1)))
        if data.get("object_type"):
            qs = qs.filter(object_type=data["object_type"])
        if data.get("object_id"):
            qs = qs.filter(object_id=data["object_id"].strip())
        after = data.get("after")
    elif form.is_bound:
        qs = qs.none()
    if after:
        qs = qs.filter(pk__lt=after)
    rows = list(qs.order_by("-pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    filters = {k: v for k, v in request.GET.items() if k != "after" and v}
    context = {
        "allowed": True,
        "form": form,
        "rows": rows,
        "next_after": rows[-1].pk if more else None,
        "is_first_page": not after,
        "filters": filters,
        "known_actions": ACTION_LABELS.items(),
    }
    return page(request, "console/audit_log.html", context, section="audit")
