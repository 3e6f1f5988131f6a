"""积分: the member's balance, points expiring soon, the daily sign-in, every entry.

Points move only through ``points.rules`` (sign-in) and the ledger; this page reads
``points.statement``. The mall is linked when its page exists (``portal:mall``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.core.errors import DomainError
from gonghui.members.models import Member
from gonghui.points import rules, statement
from gonghui.points.models import RuleKind, SignIn
from gonghui.portal.views.common import member_of, page

PER_PAGE = 20


def mall_url() -> str:
    """The points mall's page, if this installation has one."""
    try:
        return reverse("portal:mall")
    except NoReverseMatch:
        return ""


def _signin_context(member: Member, today: SignIn | None, *, fresh: Any = None, error: str = "") -> dict[str, Any]:
    rule = rules.effective_rule(member.org_path, RuleKind.SIGNIN, timezone.now())
    return {
        "signed": today,
        "fresh": fresh,  # the sign-in just made (rules.SignInResult), to say "+N"
        "error": error,
        "rule": rule,
        "summary": statement.summary(member),
    }


@never_cache
@login_required
def points_home(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    context: dict[str, Any] = {"member": member, "mall_url": mall_url()}
    if member is not None:
        page_obj = Paginator(statement.entries_of(member), PER_PAGE).get_page(request.GET.get("page"))
        context.update(
            page_obj=page_obj,
            expiring_days=statement.EXPIRING_DAYS,
            **_signin_context(member, rules.signed_in_today(member)),
        )
    return page(request, "portal/points/home.html", context, tab="me")


@require_POST
@login_required
def points_sign_in(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    if member is None:
        return redirect("portal:points")
    htmx = request.headers.get("HX-Request") == "true"
    try:
        result = rules.sign_in(member)
    except DomainError as exc:
        if exc.code != "ALREADY_SIGNED_IN":
            raise
        if not htmx:
            messages.info(request, exc.message)
            return redirect("portal:points")
        context = _signin_context(member, rules.signed_in_today(member))
        return render(request, "portal/points/_signin.html", {**context, "member": member, "oob": True})
    if not htmx:
        if result.award.points:
            messages.success(request, _("签到成功 +%(n)s 积分") % {"n": result.award.points})
        else:
            messages.success(request, _("签到成功。%(why)s") % {"why": result.award.message})
        return redirect("portal:points")
    context = _signin_context(member, result.sign_in, fresh=result)
    return render(request, "portal/points/_signin.html", {**context, "member": member, "oob": True})
