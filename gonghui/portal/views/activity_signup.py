"""报名 on the member's phone: the panel on the activity page (sign up with the organiser's
form, my place on the waitlist, cancel, confirm an offer), and my QR ticket.

Every write goes through ``activities.kinds.signup.actions``; a refusal comes back as a
flash message on the activity page, with what the member typed kept for one more look.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.signup import actions, selectors, tickets
from gonghui.activities.kinds.signup.config import SignUpRules
from gonghui.activities.kinds.signup.models import Registration, RegistrationStatus
from gonghui.activities.models import Activity, ActivityState
from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.portal.views.card import qr_svg
from gonghui.portal.views.common import member_of, page

S = RegistrationStatus
_DRAFT_KEY = "signup-answers-{}"

STATUS_BADGES = {
    S.CONFIRMED: "badge-ok",
    S.WAITLISTED: "badge-warn",
    S.OFFERED: "badge-warn",
    S.CANCELLED: "badge-muted",
    S.EXPIRED: "badge-muted",
    S.DECLINED: "badge-muted",
}


def _signup(activity_id: int) -> Activity:
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != "signup":
        raise Http404
    return activity


def _detail(activity: Activity, anchor: str = "#signup") -> str:
    return reverse("portal:activity_detail", args=[activity.pk]) + anchor


def panel_context(request: HttpRequest, activity: Activity, member: Member | None) -> dict[str, Any]:
    rules = SignUpRules.of(activity)
    registration = selectors.registration_of(activity, member)
    now = timezone.now()
    draft: dict[str, Any] = request.session.pop(_DRAFT_KEY.format(activity.pk), {}) if member else {}
    fields = [{"spec": f, "value": draft.get(f.key, ""), "name": f"a_{f.key}"} for f in rules.fields]
    live = registration is not None and registration.is_live
    return {
        "rules": rules,
        "numbers": selectors.public_numbers(activity),
        "registration": registration,
        "badge": STATUS_BADGES.get(S(registration.status), "badge-muted") if registration else "",
        "ahead": selectors.waitlist_ahead(registration) if registration and registration.status == S.WAITLISTED else 0,
        "fields": fields,
        "can_sign_up": activity.state == ActivityState.OPEN and not live,
        "can_cancel": live
        and registration is not None
        and registration.checked_in_at is None
        and (registration.status != S.CONFIRMED or rules.can_cancel_at(now)),
        "cancel_closed": live
        and registration is not None
        and registration.status == S.CONFIRMED
        and not rules.can_cancel_at(now),
        "ticket_url": reverse("portal:activity_signup_ticket", args=[activity.pk]),
    }


@require_POST
@login_required
def register(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(activity_id)
    member = member_of(request)
    rules = SignUpRules.of(activity)
    answers = {f.key: request.POST.get(f"a_{f.key}", "") for f in rules.fields}
    try:
        registration = actions.sign_up(member=member, activity=activity, answers=answers)
    except DomainError as exc:
        request.session[_DRAFT_KEY.format(activity.pk)] = answers
        messages.error(request, exc.message)
        return HttpResponseRedirect(_detail(activity))
    if registration.status == S.CONFIRMED:
        messages.success(request, "报名成功！入场时请出示签到二维码。")
        return HttpResponseRedirect(reverse("portal:activity_signup_ticket", args=[activity.pk]))
    messages.success(request, f"名额已满，您已进入候补名单，候补第 {selectors.waitlist_ahead(registration) + 1} 位。")
    return HttpResponseRedirect(_detail(activity))


def _mine(request: HttpRequest, activity: Activity) -> Registration:
    registration = selectors.registration_of(activity, member_of(request))
    if registration is None or not registration.is_live:
        raise Http404
    return registration


@require_POST
@login_required
def cancel(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(activity_id)
    try:
        actions.cancel(member=member_of(request), registration=_mine(request, activity))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "已取消报名。")
    return HttpResponseRedirect(_detail(activity))


@require_POST
@login_required
def confirm(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(activity_id)
    try:
        actions.confirm_offer(member=member_of(request), registration=_mine(request, activity))
    except DomainError as exc:
        messages.error(request, exc.message)
        return HttpResponseRedirect(_detail(activity))
    messages.success(request, "已确认，报名成功！入场时请出示签到二维码。")
    return HttpResponseRedirect(reverse("portal:activity_signup_ticket", args=[activity.pk]))


@require_POST
@login_required
def decline(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _signup(activity_id)
    try:
        actions.decline_offer(member=member_of(request), registration=_mine(request, activity))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "已放弃递补名额，名额将顺延给下一位候补会员。")
    return HttpResponseRedirect(_detail(activity))


@never_cache
@login_required
def ticket(request: HttpRequest, activity_id: int) -> HttpResponse:
    """My QR ticket: shown at the door; the cadre's phone scans it (or types the code)."""
    activity = _signup(activity_id)
    registration = selectors.registration_of(activity, member_of(request))
    if registration is None or registration.status != S.CONFIRMED:
        return HttpResponseRedirect(_detail(activity))
    token = tickets.sign(registration.pk, registration.ticket_code)
    context = {
        "activity": activity,
        "rules": SignUpRules.of(activity),
        "registration": registration,
        "member": registration.member,
        "qr": qr_svg(token, "报名签到二维码", attrs=f'id="signup-qr" data-token="{token}"'),
        "detail_url": _detail(activity, ""),
    }
    return page(request, "portal/activities/signup/ticket.html", context, tab="activities")


urlpatterns = [
    path("a/<int:activity_id>/signup/register/", register, name="activity_signup_register"),
    path("a/<int:activity_id>/signup/cancel/", cancel, name="activity_signup_cancel"),
    path("a/<int:activity_id>/signup/confirm/", confirm, name="activity_signup_confirm"),
    path("a/<int:activity_id>/signup/decline/", decline, name="activity_signup_decline"),
    path("a/<int:activity_id>/signup/ticket/", ticket, name="activity_signup_ticket"),
]
