"""报名 in the console: the registrations list (filters, counts, masked names), removing
someone, and the check-in page a cadre opens on a phone at the venue.

Every view reads the activity through ``selectors.get_for_cadre`` (another subtree's
sign-up is the console's 404); writes go through ``activities.kinds.signup.actions``.
The masked export is the generic activity export (``SignUpKind.export``).

Check-in (``activities/<id>/signup/checkin/``): the camera scans the member's ticket QR
where the browser has ``BarcodeDetector``; otherwise the cadre pastes the scanned text or
types the 8-character code. Each scan answers in one panel (签到成功 / 已签到 HH:MM /
未报名 / 已取消 / 候补中) and refreshes the attendance counts, which also poll every few
seconds so two cadres at two doors see the same numbers.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.signup import actions, selectors
from gonghui.activities.kinds.signup.config import SignUpRules
from gonghui.activities.kinds.signup.kind import counts
from gonghui.activities.kinds.signup.models import Registration
from gonghui.activities.models import Activity
from gonghui.console.views.common import cadre, cadre_required, is_htmx, page
from gonghui.core import access, pii
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError

PER_PAGE = 50
SHOW_LABELS = {
    "": _("全部"),
    "confirmed": _("报名成功"),
    "waitlisted": _("候补"),
    "checked_in": _("已签到"),
    "absent": _("未签到"),
    "cancelled": _("已取消"),
}
OUTCOME_TONES = {
    "checked_in": "ok",
    "already": "warn",
    "waitlisted": "bad",
    "offered": "bad",
    "cancelled": "bad",
    "not_registered": "bad",
    "invalid": "bad",
}
OUTCOME_TITLES = {
    "checked_in": _("签到成功"),
    "already": _("已签到"),
    "not_registered": _("未报名"),
    "cancelled": _("已取消"),
    "waitlisted": _("候补中"),
    "offered": _("候补待确认"),
    "invalid": _("无法识别"),
}


def _signup(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    activity = activity_selectors.get_for_cadre(cadre(request), activity_id, perm)
    if activity.kind != "signup":
        raise Http404
    return activity


def manage_links(activity: Activity) -> list[tuple[str, str]]:
    return [
        (str(_("报名名单")), reverse("console:activity_signup_registrations", args=[activity.pk])),
        (str(_("扫码签到")), reverse("console:activity_signup_checkin", args=[activity.pk])),
    ]


def results_context(request: HttpRequest, activity: Activity) -> dict[str, Any]:
    c = counts(activity)
    rules = SignUpRules.of(activity)
    return {
        **c,
        "capacity": rules.capacity,
        "remaining": max(rules.capacity - c["confirmed"] - c["offered"], 0),
        "rules": rules,
        "list_url": reverse("console:activity_signup_registrations", args=[activity.pk]),
        "checkin_url": reverse("console:activity_signup_checkin", args=[activity.pk]),
    }


def _row(reg: Registration, rules: SignUpRules) -> dict[str, Any]:
    member = reg.member
    erased = member.erased_at is not None
    return {
        "reg": reg,
        "name": "" if erased else pii.mask_name(member.name),
        "mobile": "" if erased else pii.mask_mobile(member.mobile or ""),
        "union": member.org.name,
        "answers": [reg.answers.get(f.key, "") for f in rules.fields],
    }


@cadre_required
def registrations(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(request, activity_id)
    user = cadre(request)
    rules = SignUpRules.of(activity)
    show = request.GET.get("show", "")
    if show not in SHOW_LABELS:
        show = ""
    q = request.GET.get("q", "")[:40]
    paginator = Paginator(selectors.registrations(activity, show=show, q=q), PER_PAGE)
    page_obj = paginator.get_page(request.GET.get("page"))
    c = counts(activity)
    context = {
        "activity": activity,
        "rules": rules,
        "counts": c,
        "show": show,
        "q": q,
        "filters": list(SHOW_LABELS.items()),
        "page_obj": page_obj,
        "rows": [_row(r, rules) for r in page_obj.object_list],
        "can_manage": access.can(user, Perm.ACTIVITY_MANAGE, activity.org_path),
        "export_url": reverse("console:activity_export", args=[activity.pk]),
    }
    return page(request, "console/activities/signup/registrations.html", context, section="activities")


@require_POST
@cadre_required
def remove(request: HttpRequest, activity_id: int, registration_id: int) -> HttpResponse:
    activity = _signup(request, activity_id, Perm.ACTIVITY_MANAGE)
    registration = Registration.objects.filter(pk=registration_id, activity=activity).first()
    if registration is None:
        raise Http404
    try:
        actions.cancel_by_organiser(
            actor=cadre(request), registration=registration, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已取消该报名，名额已顺延给候补会员（如有）。"))
    return redirect("console:activity_signup_registrations", activity.pk)


def _attendance(activity: Activity) -> dict[str, Any]:
    return {"activity": activity, "attendance": selectors.attendance(activity)}


@cadre_required
def checkin(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(request, activity_id, Perm.ACTIVITY_MANAGE)
    context = {**_attendance(activity), "result": None, "rules": SignUpRules.of(activity)}
    return page(request, "console/activities/signup/checkin.html", context, section="activities")


@require_POST
@cadre_required
def checkin_scan(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(request, activity_id, Perm.ACTIVITY_MANAGE)
    error = ""
    result = None
    try:
        result = actions.check_in(actor=cadre(request), activity=activity, raw=request.POST.get("code", ""))
    except DomainError as exc:
        error = exc.message
    context = {
        **_attendance(activity),
        "result": result,
        "error": error,
        "tone": OUTCOME_TONES.get(result.outcome, "bad") if result else "bad",
        "title": OUTCOME_TITLES.get(result.outcome, "") if result else "",
        "oob": True,
    }
    if is_htmx(request):
        return render(request, "console/activities/signup/_scan_result.html", context)
    rules = SignUpRules.of(activity)
    return page(request, "console/activities/signup/checkin.html", {**context, "rules": rules}, section="activities")


@cadre_required
def checkin_counts(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(request, activity_id, Perm.ACTIVITY_VIEW)
    if not is_htmx(request):
        return redirect("console:activity_signup_checkin", activity.pk)
    return render(request, "console/activities/signup/_attendance.html", _attendance(activity))


urlpatterns = [
    path("activities/<int:activity_id>/signup/registrations/", registrations, name="activity_signup_registrations"),
    path(
        "activities/<int:activity_id>/signup/registrations/<int:registration_id>/cancel/",
        remove,
        name="activity_signup_remove",
    ),
    path("activities/<int:activity_id>/signup/checkin/", checkin, name="activity_signup_checkin"),
    path("activities/<int:activity_id>/signup/checkin/scan/", checkin_scan, name="activity_signup_checkin_scan"),
    path("activities/<int:activity_id>/signup/checkin/counts/", checkin_counts, name="activity_signup_checkin_counts"),
]
