"""活动: "activities for me", the generic activity page and "my activities".

The activity page (``a/<id>/``) is the same for every kind: cover, title, organiser,
window, state, the sanitised description and the rules, then the "am I eligible?" answer
*before* the member acts, then the kind's own panel
(``portal/activities/<kind>/panel.html`` with ``panel`` from the kind module's
``panel_context``), found through ``activities.plugins``.

Visibility: a published or closed activity is shown to anyone who opens its link — a
member outside the audience sees the page with the reason they cannot take part, never
a 404; a draft (or an archived activity) is a 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import URLPattern, URLResolver
from django.views.decorators.cache import never_cache

from gonghui.activities import eligibility, plugins, registry, selectors
from gonghui.activities.models import Activity, ActivityState, Participation
from gonghui.core.errors import DomainError
from gonghui.portal.views.common import member_of, page

MY_LIMIT = 100

# Badge classes of portal.css for each state a member sees.
STATE_BADGES = {
    ActivityState.PUBLISHED: "badge-warn",
    ActivityState.OPEN: "badge-ok",
    ActivityState.CLOSED: "badge-muted",
    ActivityState.ARCHIVED: "badge-muted",
}


def kind_label(key: str) -> str:
    try:
        return str(registry.get(key).label)
    except DomainError:
        return key


def _card(activity: Activity, participated: bool = False) -> dict[str, Any]:
    state = activity.state
    return {
        "a": activity,
        "kind_label": kind_label(activity.kind),
        "state": state,
        "state_label": activity.state_label,
        "badge": STATE_BADGES.get(ActivityState(state), "badge-muted"),
        "participated": participated,
    }


@never_cache
def activity_list(request: HttpRequest) -> HttpResponse:
    """活动: the activities whose audience includes the member, open ones first."""
    member = member_of(request)
    cards: list[dict[str, Any]] = []
    if member is not None:
        found = selectors.for_member(member)
        mine = selectors.participated_ids(member, [a.pk for a in found])
        cards = [_card(a, a.pk in mine) for a in found]
        order = {ActivityState.OPEN: 0, ActivityState.PUBLISHED: 1, ActivityState.CLOSED: 2}
        cards.sort(key=lambda c: order.get(c["state"], 3))
    context = {"member": member, "cards": cards}
    return page(request, "portal/activities/list.html", context, tab="activities")


def _panel_template(activity: Activity) -> str:
    name = f"portal/activities/{activity.kind}/panel.html"
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return ""
    return name


@never_cache
def activity_detail(request: HttpRequest, activity_id: int) -> HttpResponse:
    member = member_of(request)
    activity = selectors.get_public(activity_id)
    if activity is None:
        raise Http404
    answer = eligibility.check(activity, member)
    participated = member is not None and Participation.objects.filter(activity=activity, member=member).exists()
    context: dict[str, Any] = {
        "activity": activity,
        "member": member,
        "eligibility": answer,
        "participated": participated,
        "kind_label": kind_label(activity.kind),
        "state": activity.state,
        "badge": STATE_BADGES.get(ActivityState(activity.state), "badge-muted"),
        "panel": {},
        "panel_template": "",
    }
    module = plugins.kind_module("gonghui.portal.views", activity.kind)
    if module is not None and hasattr(module, "panel_context"):
        template = _panel_template(activity)
        if template:
            context["panel"] = module.panel_context(request, activity, member)
            context["panel_template"] = template
    return page(request, "portal/activities/detail.html", context, tab="activities")


@never_cache
@login_required
def my_activities(request: HttpRequest) -> HttpResponse:
    """我的活动: what the member took part in, newest first."""
    member = member_of(request)
    rows: list[dict[str, Any]] = []
    if member is not None:
        for p in selectors.my_participations(member)[:MY_LIMIT]:
            card = _card(p.activity, True)
            card["on_date"] = p.on_date
            card["linked"] = p.activity.status in ("published", "closed")
            rows.append(card)
    context = {"member": member, "rows": rows}
    return page(request, "portal/activities/mine.html", context, tab="activities")


def kind_urlpatterns() -> list[URLPattern | URLResolver]:
    """Each kind's member actions (``portal.views.activity_<key>.urlpatterns``)."""
    found: list[URLPattern | URLResolver] = []
    for _key, module in plugins.kind_modules("gonghui.portal.views"):
        found.extend(getattr(module, "urlpatterns", []))
    return found
