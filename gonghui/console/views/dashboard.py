"""工作台: the cadre's own unions and what lies under them."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from gonghui.console import queries, twofactor
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access
from gonghui.core.access import Perm, RoleKind
from gonghui.members.models import Application, ApplicationStatus
from gonghui.orgs.models import Org


@cadre_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    user_grants = access.grants(user)
    orgs = {org.pk: org for org in Org.objects.filter(pk__in=[g.org_id for g in user_grants])}
    labels = dict(RoleKind.choices)
    my_orgs = [
        {"org": orgs[g.org_id], "role": labels.get(g.role, g.role)}
        for g in sorted(user_grants, key=lambda g: g.path)
        if g.org_id in orgs
    ]
    levels = queries.unions_by_level(user)
    statuses = queries.members_by_status(user)
    widest = max((row["count"] for row in levels), default=0)
    for row in levels:
        row["share"] = round(100 * row["count"] / widest) if widest else 0
    context = {
        "my_orgs": my_orgs,
        "levels": levels,
        "unions_total": sum(row["count"] for row in levels),
        "statuses": statuses,
        "members_total": sum(row["count"] for row in statuses if row["status"] != "left"),
        "recovery_left": twofactor.recovery_codes_left(user),
        # Online applications waiting for a decision in the cadre's subtree (入会审批).
        "pending_applications": access.scope(
            user, Application.objects.filter(status=ApplicationStatus.PENDING), Perm.MEMBER_VIEW
        ).count(),
    }
    return page(request, "console/dashboard.html", context, section="dashboard")
