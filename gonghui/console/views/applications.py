"""入会审批: the queue of online applications in the cadre's subtree, and the decisions.

Reading needs ``member.view`` over the application's union, deciding ``member.change``;
both through ``core.access`` (another district's application is a 404). The decisions
themselves — approve, bulk approve, reject with a reason — are ``members.joining``
actions, which lock the application row, so a double click or two cadres at once issue
one member and one card number.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm
from gonghui.console.views.common import cadre, cadre_required, page
from gonghui.core import access, idnumbers
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent
from gonghui.members import actions as member_actions
from gonghui.members import joining
from gonghui.members.models import Application, ApplicationStatus, NewEmploymentGroup
from gonghui.orgs.models import Org

PAGE_SIZE = 30
MAX_BULK = 200

STATUS_TONES: dict[str, str] = {
    ApplicationStatus.PENDING: "amber",
    ApplicationStatus.APPROVED: "green",
    ApplicationStatus.REJECTED: "red",
    ApplicationStatus.WITHDRAWN: "grey",
}


class ApplicationFilterForm(ConsoleForm):
    status = forms.ChoiceField(
        label=gettext_lazy("状态"),
        choices=[("", gettext_lazy("全部状态")), *ApplicationStatus.choices],
        required=False,
    )
    org = forms.TypedChoiceField(label=gettext_lazy("申请工会"), coerce=int, required=False, empty_value=None)
    group = forms.ChoiceField(
        label=gettext_lazy("新就业形态"),
        choices=[("", gettext_lazy("全部")), ("any", gettext_lazy("任一新就业形态")), *NewEmploymentGroup.choices],
        required=False,
    )
    since = forms.DateField(
        label=gettext_lazy("申请日期从"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(label=gettext_lazy("至"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    q = forms.CharField(
        label=gettext_lazy("姓名 / 手机号 / 身份证号"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("姓名开头、11 位手机号或完整身份证号")}),
    )

    def __init__(self, *args: Any, orgs: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["org"]
        if isinstance(field, forms.TypedChoiceField):
            field.choices = [("", _("全部工会")), *orgs]


class RejectForm(ConsoleForm):
    reason = forms.CharField(
        label=gettext_lazy("不予通过的原因"),
        max_length=joining.REASON_MAX,
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": gettext_lazy("申请人会看到这段说明，请写清楚原因和下一步怎么办")}
        ),
        error_messages={"required": gettext_lazy("请填写不予通过的原因，申请人会看到这段说明。")},
    )


def _scoped(request: HttpRequest, perm: Perm = Perm.MEMBER_VIEW) -> QuerySet[Application]:
    qs = Application.objects.select_related("org").defer("id_number_enc")
    return access.scope(cadre(request), qs, perm)


def _queue_orgs(request: HttpRequest) -> list[tuple[int, str]]:
    """Unions with applications in the cadre's scope (for the union filter), by name."""
    rows = (
        _scoped(request)
        .filter(status=ApplicationStatus.PENDING)
        .values_list("org_id", "org__name")
        .distinct()
        .order_by("org__name")[:300]
    )
    return [(pk, name) for pk, name in rows]


def _search(qs: QuerySet[Application], q: str) -> QuerySet[Application]:
    q = q.strip()
    if not q:
        return qs
    try:
        rid = idnumbers.parse(q)
    except idnumbers.IdNumberError:
        pass
    else:
        return qs.filter(id_number_bidx=member_actions.id_blind_index(rid.number))
    if q.isdigit() and len(q) == 11:
        return qs.filter(mobile=q)
    return qs.filter(name__startswith=q)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered(request: HttpRequest, form: ApplicationFilterForm) -> QuerySet[Application]:
    qs = _scoped(request)
    data: dict[str, Any] = form.cleaned_data if form.is_valid() else {"status": ApplicationStatus.PENDING}
    if data.get("status"):
        qs = qs.filter(status=data["status"])
    if data.get("org"):
        org = access.get_object_or_404(cadre(request), Org.objects.all(), Perm.MEMBER_VIEW, pk=data["org"])
        qs = qs.filter(org_path__startswith=org.path)
    group = data.get("group")
    if group == "any":
        qs = qs.exclude(new_employment_group="")
    elif group:
        qs = qs.filter(new_employment_group=group)
    if data.get("since"):
        qs = qs.filter(created_at__gte=_day_start(data["since"]))
    if data.get("until"):
        qs = qs.filter(created_at__lt=_day_start(data["until"]) + timedelta(days=1))
    if data.get("q"):
        qs = _search(qs, data["q"])
    return qs.order_by("created_at", "id") if data.get("status") == ApplicationStatus.PENDING else qs.order_by("-id")


@cadre_required
def application_list(request: HttpRequest) -> HttpResponse:
    params = request.GET.copy()
    if "status" not in params:
        params["status"] = ApplicationStatus.PENDING  # the queue opens on what waits
    form = ApplicationFilterForm(params, orgs=_queue_orgs(request))
    qs = _filtered(request, form)
    page_obj = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    user = cadre(request)
    rows = [
        {
            "app": app,
            "tone": STATUS_TONES.get(app.status, "grey"),
            "can_decide": app.status == ApplicationStatus.PENDING
            and access.can(user, Perm.MEMBER_CHANGE, app.org_path),
        }
        for app in page_obj
    ]
    filters = {k: v for k, v in params.items() if k in ApplicationFilterForm.base_fields and v}
    context = {
        "form": form,
        "rows": rows,
        "page_obj": page_obj,
        "filters": filters,
        "any_decidable": any(r["can_decide"] for r in rows),
    }
    return page(request, "console/applications.html", context, section="applications")


def _application(request: HttpRequest, application_id: int, perm: Perm) -> Application:
    qs = Application.objects.select_related("org", "member", "decided_by", "user")
    return access.get_object_or_404(cadre(request), qs, perm, pk=application_id)


def _detail(request: HttpRequest, application: Application, form: RejectForm, status: int = 200) -> HttpResponse:
    user = cadre(request)
    can_audit = access.can(user, Perm.AUDIT_VIEW, application.org_path)
    trail = (
        list(AuditEvent.objects.filter(object_type="members.application", object_id=str(application.pk))[:20])
        if can_audit
        else []
    )
    context = {
        "app": application,
        "tone": STATUS_TONES.get(application.status, "grey"),
        "can_decide": application.status == ApplicationStatus.PENDING
        and access.can(user, Perm.MEMBER_CHANGE, application.org_path),
        "reject_form": form,
        "trail": trail,
        "can_audit": can_audit,
        "back": reverse("console:applications"),
    }
    return page(request, "console/application_detail.html", context, section="applications", status=status)


@cadre_required
def application_detail(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _application(request, application_id, Perm.MEMBER_VIEW)
    return _detail(request, application, RejectForm())


@require_POST
@cadre_required
def application_approve(request: HttpRequest, application_id: int) -> HttpResponseRedirect:
    application = _application(request, application_id, Perm.MEMBER_CHANGE)
    try:
        member = joining.approve(cadre(request), application)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("console:application_detail", application.pk)
    messages.success(
        request,
        _("已通过 %(name)s 的入会申请，会员卡号 %(card)s。") % {"name": member.name, "card": member.card_number},
    )
    return redirect("console:applications")


@require_POST
@cadre_required
def application_reject(request: HttpRequest, application_id: int) -> HttpResponse:
    application = _application(request, application_id, Perm.MEMBER_CHANGE)
    form = RejectForm(request.POST)
    if form.is_valid():
        try:
            joining.reject(cadre(request), application, form.cleaned_data["reason"])
        except DomainError as exc:
            form.add_error("reason" if exc.code.startswith("REJECT_REASON") else None, exc.message)
        else:
            messages.success(request, _("已驳回 %(name)s 的入会申请，并通知申请人。") % {"name": application.name})
            return redirect("console:applications")
    return _detail(request, application, form, status=400)


@require_POST
@cadre_required
def application_bulk_approve(request: HttpRequest) -> HttpResponseRedirect:
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()][:MAX_BULK]
    back = request.POST.get("back", "")
    target = back if back.startswith(reverse("console:applications")) else reverse("console:applications")
    if not ids:
        messages.error(request, _("请先勾选要通过的申请。"))
        return redirect(target)
    # Only applications the cadre may decide; anything else in the list is ignored (as a 404 would be).
    chosen = list(_scoped(request, Perm.MEMBER_CHANGE).filter(pk__in=ids))
    result = joining.bulk_approve(cadre(request), chosen)
    if result.approved:
        messages.success(request, _("已通过 %(n)s 份入会申请，会员卡号已发放。") % {"n": len(result.approved)})
    for application, exc in result.failed:
        messages.error(request, f"{application.name}：{exc.message}")
    return redirect(target)
