"""活动管理: the generic console pages every activity kind plugs into.

The list of the cadre's subtree, "新建活动" (kind and organiser), the edit form (general
fields, audience filters, the kind's own settings form rendered generically, cover),
the named member list, publish / close early / archive, the activity page (state,
window, audience, participation charts, the kind's manage links and results partial)
and the export. A kind's own organiser pages live in ``console.views.activity_<key>``
and are found through ``activities.plugins`` (never an ``if kind == ...`` here).

Every activity is read through ``activities.selectors.get_for_cadre``: outside the
cadre's subtree, or without the right to manage it, the answer is the console's 404.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.activities import actions, plugins, registry, selectors
from gonghui.activities.models import (
    Activity,
    ActivityState,
    ActivityStatus,
    AudienceMember,
    Participation,
    audience_group_choices,
)
from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.members.models import Member, MemberStatus, NewEmploymentGroup
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Org, OrgStatus, OrgTag

PER_PAGE = 30
# How far below each of the cadre's own unions the organiser picker reaches, and how many.
PICKER_DEPTH = 2
PICKER_LIMIT = 300
# Filter choices offered on the edit form (distinct values inside the organiser's subtree).
CHOICE_LIMIT = 200
AUDIENCE_LIST_MAX = 20000
DATETIME_INPUT = "%Y-%m-%dT%H:%M"

ACTIVITY_ERROR_FIELDS = {
    "ACTIVITY_TITLE_REQUIRED": "title",
    "ACTIVITY_WINDOW_REQUIRED": "starts_at",
    "ACTIVITY_WINDOW_ORDER": "ends_at",
    "ACTIVITY_AUDIENCE_GROUP": "audience_groups",
    "ACTIVITY_COVER_TOO_LARGE": "cover",
    "ACTIVITY_COVER_TYPE": "cover",
    "ACTIVITY_COVER_INVALID": "cover",
    "ACTIVITY_KIND_UNKNOWN": "kind",
    "ORG_CLOSED": "org",
}

STATE_TONES = {
    ActivityState.DRAFT: "grey",
    ActivityState.PUBLISHED: "blue",
    ActivityState.OPEN: "green",
    ActivityState.CLOSED: "amber",
    ActivityState.ARCHIVED: "grey",
}


# --- helpers ------------------------------------------------------------------------------


def _activity(request: HttpRequest, activity_id: int, perm: Perm = Perm.ACTIVITY_VIEW) -> Activity:
    return selectors.get_for_cadre(cadre(request), activity_id, perm)


def organiser_orgs(user: Any) -> list[Org]:
    """Active unions the cadre may run activities for: their own and two levels below."""
    roots = [g for g in access.grants(user) if g.allows(Perm.ACTIVITY_MANAGE)]
    if not roots:
        return []
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), Perm.ACTIVITY_MANAGE)
    deepest = max(len(g.path) // Org.steplen for g in roots) + PICKER_DEPTH
    return list(qs.filter(depth__lte=deepest).order_by("path")[:PICKER_LIMIT])


def _org_choices(orgs: list[Org]) -> list[tuple[str, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs]


def state_filter(qs: QuerySet[Activity], state: str, now: datetime | None = None) -> QuerySet[Activity]:
    """Activities in one of the five states the cadre sees (the clock decides three)."""
    now = now or timezone.now()
    published = Q(status=ActivityStatus.PUBLISHED)
    if state == ActivityState.DRAFT:
        return qs.filter(status=ActivityStatus.DRAFT)
    if state == ActivityState.PUBLISHED:
        return qs.filter(published, starts_at__gt=now)
    if state == ActivityState.OPEN:
        return qs.filter(published, starts_at__lte=now, ends_at__gt=now)
    if state == ActivityState.CLOSED:
        return qs.filter(Q(status=ActivityStatus.CLOSED) | (published & Q(ends_at__lte=now)))
    if state == ActivityState.ARCHIVED:
        return qs.filter(status=ActivityStatus.ARCHIVED)
    return qs


def kind_label(key: str) -> str:
    try:
        return str(registry.get(key).label)
    except DomainError:
        return key


def _datetime_field(label: Any) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        input_formats=[DATETIME_INPUT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
    )


def _checkboxes(label: Any, choices: Any) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=choices,
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "checkbox"}),
    )


# --- forms --------------------------------------------------------------------------------


class ActivityCreateForm(ConsoleForm):
    kind = forms.ChoiceField(label=gettext_lazy("活动类型"))
    org = forms.ChoiceField(
        label=gettext_lazy("主办工会"), help_text=gettext_lazy("活动面向主办工会及其全部下级工会的会员。")
    )
    title = forms.CharField(label=gettext_lazy("标题"), max_length=120)
    summary = forms.CharField(label=gettext_lazy("简介"), max_length=200, required=False)
    starts_at = _datetime_field(gettext_lazy("开始时间"))
    ends_at = _datetime_field(gettext_lazy("结束时间"))

    def __init__(self, *args: Any, orgs: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = registry.choices()  # type: ignore[attr-defined]
        self.fields["org"].choices = _org_choices(orgs)  # type: ignore[attr-defined]


class ActivityForm(ConsoleForm):
    """The general fields of an activity (the kind's settings are a second form)."""

    title = forms.CharField(label=gettext_lazy("标题"), max_length=120)
    summary = forms.CharField(label=gettext_lazy("简介"), max_length=200, required=False)
    starts_at = _datetime_field(gettext_lazy("开始时间"))
    ends_at = _datetime_field(gettext_lazy("结束时间"))
    description = forms.CharField(
        label=gettext_lazy("活动详情"),
        required=False,
        max_length=50000,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=gettext_lazy(
            "可用简单 HTML：<p> <strong> <em> <ul> <ol> <li> <h3> <a> <img>；脚本、样式等会被自动去除。"
        ),
    )
    rules = forms.CharField(
        label=gettext_lazy("活动规则"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 4})
    )
    cover = forms.FileField(
        label=gettext_lazy("封面图"),
        required=False,
        help_text=gettext_lazy("PNG、JPEG 或 WebP，不超过 2 MB。建议横向图片，宽高比约 16:9。"),
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    clear_cover = forms.BooleanField(label=gettext_lazy("删除现有封面图"), required=False)
    audience_industries = _checkboxes(gettext_lazy("限定行业"), [])
    audience_groups = _checkboxes(gettext_lazy("限定新就业形态群体"), audience_group_choices())
    audience_tags = _checkboxes(gettext_lazy("限定工会标签"), [])
    verified_only = forms.BooleanField(label=gettext_lazy("仅限已实名认证的会员"), required=False)
    exclude_retained = forms.BooleanField(label=gettext_lazy("保留会籍的会员不参加"), required=False)
    member_list_only = forms.BooleanField(
        label=gettext_lazy("仅限指定名单内的会员"),
        required=False,
        help_text=gettext_lazy("勾选后在“指定名单”中上传会员卡号或手机号。"),
    )

    def __init__(self, *args: Any, activity: Activity, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        subtree = Org.objects.filter(path__startswith=activity.org_path)
        industries = set(
            subtree.exclude(industry="").order_by().values_list("industry", flat=True).distinct()[:CHOICE_LIMIT]
        )
        industries.update(activity.audience_industries)
        tags = set(
            OrgTag.objects.filter(org__path__startswith=activity.org_path)
            .order_by()
            .values_list("name", flat=True)
            .distinct()[:CHOICE_LIMIT]
        )
        tags.update(activity.audience_tags)
        self.fields["audience_industries"].choices = [(v, v) for v in sorted(industries)]  # type: ignore[attr-defined]
        self.fields["audience_tags"].choices = [(v, v) for v in sorted(tags)]  # type: ignore[attr-defined]
        if activity.state == ActivityState.OPEN:
            # Who may take part and when it starts are frozen once it is open (fairness).
            for name in actions.FROZEN_WHEN_OPEN:
                self.fields[name].disabled = True

    def values(self) -> dict[str, Any]:
        # Disabled (frozen) fields are left out: their round trip through the form drops
        # the seconds of a datetime, which the action would take for a change.
        return {k: v for k, v in self.cleaned_data.items() if k in actions.FIELDS and not self.fields[k].disabled}


def settings_form_for(activity: Activity, data: Any = None, *, frozen: bool = False) -> forms.Form | None:
    """The kind's own settings form, bound or not, in the console's look (prefix ``s``)."""
    form_class = registry.get(activity.kind).settings_form
    if form_class is None:
        return None
    form = form_class(data, initial=dict(activity.settings), prefix="s")
    form.label_suffix = ""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
            pass
        elif isinstance(widget, forms.CheckboxInput):
            widget.attrs.setdefault("class", "checkbox")
        elif isinstance(widget, forms.Select):
            widget.attrs.setdefault("class", "select")
        else:
            widget.attrs.setdefault("class", "input")
        if frozen:
            field.disabled = True
    return form


def _settings_values(form: forms.Form) -> dict[str, Any]:
    """What the kind's ``clean_settings`` re-validates: the submitted raw values."""
    return {name: form[name].value() for name in form.fields}


class CloseForm(ConsoleForm):
    reason = forms.CharField(
        label=gettext_lazy("提前结束的原因"), max_length=200, widget=forms.Textarea(attrs={"rows": 2})
    )


class AudienceListForm(ConsoleForm):
    lines = forms.CharField(
        label=gettext_lazy("会员卡号或手机号"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "placeholder": "GH4400000001\n13800138000"}),
        help_text=gettext_lazy("每行一个；只能是主办工会及其下级工会的在册会员。提交后替换原名单。"),
    )


class OrgTagsForm(ConsoleForm):
    tags = forms.CharField(
        label=gettext_lazy("工会标签"),
        required=False,
        max_length=500,
        help_text=gettext_lazy("用逗号或顿号分隔，如：非公企业、新就业形态、园区。活动可以只面向带某个标签的工会。"),
    )

    def tag_list(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        for sep in ("，", "、", ";", "；", "\n"):
            raw = raw.replace(sep, ",")
        return [t for t in (part.strip() for part in raw.split(",")) if t]


# --- list and create ----------------------------------------------------------------------


@cadre_required
def activity_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    qs = selectors.for_cadre(user)
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", "")
    q = (request.GET.get("q") or "").strip()[:50]
    if kind in dict(registry.choices()):
        qs = qs.filter(kind=kind)
    if state in ActivityState.values:
        qs = state_filter(qs, state)
    if q:
        qs = qs.filter(title__icontains=q)
    page_obj = Paginator(qs.order_by("-created_at", "-pk"), PER_PAGE).get_page(request.GET.get("page"))
    rows = list(page_obj.object_list)
    counts = dict(
        Participation.objects.filter(activity__in=rows)
        .values("activity_id")
        .annotate(n=Count("id"))
        .values_list("activity_id", "n")
    )
    items = [
        {
            "a": a,
            "kind_label": kind_label(a.kind),
            "state": a.state,
            "state_label": a.state_label,
            "tone": STATE_TONES.get(ActivityState(a.state), "grey"),
            "count": counts.get(a.pk, 0),
        }
        for a in rows
    ]
    params = {k: v for k, v in {"kind": kind, "state": state, "q": q}.items() if v}
    context = {
        "page_obj": page_obj,
        "items": items,
        "kinds": registry.choices(),
        "states": ActivityState.choices,
        "kind": kind,
        "state": state,
        "q": q,
        "params": params,
        "can_create": access.can_anywhere(user, Perm.ACTIVITY_MANAGE),
    }
    return page(request, "console/activities/list.html", context, section="activities")


@cadre_required
def activity_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = organiser_orgs(user)
    if not orgs or not registry.choices():
        return page(request, "console/404.html", {}, status=404)
    initial = {"org": request.GET.get("org") or str(orgs[0].pk), "kind": request.GET.get("kind", "")}
    form = ActivityCreateForm(request.POST or None, orgs=orgs, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        # The organiser is looked up in the cadre's scope directly (404 outside it).
        org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ACTIVITY_MANAGE, pk=data["org"])
        values = {k: data[k] for k in ("title", "summary", "starts_at", "ends_at")}
        try:
            activity = actions.create_activity(actor=user, org=org, kind=data["kind"], values=values)
        except DomainError as exc:
            add_domain_error(form, exc, ACTIVITY_ERROR_FIELDS)
        else:
            messages.success(request, _("已创建草稿，请完善活动内容和参与范围，然后发布。"))
            return redirect("console:activity_edit", activity.pk)
    kinds = [{"key": k.key, "label": str(k.label), "description": str(k.description)} for k in registry.all_kinds()]
    context = {"form": form, "kinds": kinds}
    return page(
        request, "console/activities/new.html", context, section="activities", status=400 if form.errors else 200
    )


# --- edit ---------------------------------------------------------------------------------


def _edit_initial(activity: Activity) -> dict[str, Any]:
    initial = {name: getattr(activity, name) for name in actions.FIELDS}
    for name in ("starts_at", "ends_at"):
        initial[name] = timezone.localtime(initial[name])
    return initial


@cadre_required
def activity_edit(request: HttpRequest, activity_id: int) -> HttpResponse:
    user = cadre(request)
    activity = _activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    state = activity.state
    editable = state in (ActivityState.DRAFT, ActivityState.PUBLISHED, ActivityState.OPEN)
    is_post = request.method == "POST" and editable
    form = ActivityForm(
        request.POST if is_post else None,
        request.FILES if is_post else None,
        initial=_edit_initial(activity),
        activity=activity,
    )
    frozen = state == ActivityState.OPEN
    settings_form = settings_form_for(activity, request.POST if is_post else None, frozen=frozen)
    if not editable:
        form.add_error(None, _("活动已结束，不能再修改。"))
    elif is_post:
        valid = form.is_valid()
        valid = (settings_form is None or settings_form.is_valid()) and valid
        if valid:
            try:
                with transaction.atomic():
                    settings = None if frozen or settings_form is None else _settings_values(settings_form)
                    actions.update_activity(actor=user, activity=activity, values=form.values(), settings=settings)
                    cover = form.cleaned_data.get("cover")
                    if cover is not None or form.cleaned_data.get("clear_cover"):
                        actions.set_cover(
                            actor=user, activity=activity, cover=cover, clear=form.cleaned_data["clear_cover"]
                        )
            except DomainError as exc:
                field = exc.details.get("field") if exc.code == "ACTIVITY_SETTINGS_INVALID" else None
                if settings_form is not None and field in settings_form.fields:
                    settings_form.add_error(field, exc.message)
                else:
                    add_domain_error(form, exc, ACTIVITY_ERROR_FIELDS)
                if form.cleaned_data.get("cover") is not None and "cover" not in form.errors:
                    form.add_error(None, _("本次修改均未保存；已选择的图片需要重新选择。"))
            else:
                messages.success(request, _("已保存活动“%(title)s”。") % {"title": form.cleaned_data["title"]})
                return redirect("console:activity_detail", activity.pk)
    has_errors = bool(form.errors or (settings_form is not None and settings_form.errors))
    context = {
        "activity": activity,
        "form": form,
        "settings_form": settings_form,
        "kind_label": kind_label(activity.kind),
        "frozen": frozen,
        "editable": editable,
        "cover_max": actions.COVER_MAX_BYTES,
    }
    return page(
        request, "console/activities/edit.html", context, section="activities", status=400 if has_errors else 200
    )


def _resolve_members(activity: Activity, lines: Iterable[str]) -> tuple[list[Member], list[str]]:
    """Members of the organiser's subtree named by card number or mobile; the lines not found."""
    cards: dict[str, str] = {}
    mobiles: dict[str, str] = {}
    unknown: list[str] = []
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        try:
            mobiles[normalize_mobile(line)] = line
            continue
        except MobileError:
            pass
        cards[line.upper()] = line
    base = Member.objects.filter(
        org_path__startswith=activity.org_path, status__in=(MemberStatus.ACTIVE, MemberStatus.RETAINED)
    )
    found: dict[int, Member] = {}
    seen_cards: set[str] = set()
    seen_mobiles: set[str] = set()
    if cards:
        for m in base.filter(card_number__in=list(cards)):
            found[m.pk] = m
            seen_cards.add(str(m.card_number))
    if mobiles:
        for m in base.filter(mobile__in=list(mobiles)):
            found[m.pk] = m
            seen_mobiles.add(m.mobile)
    unknown = [line for key, line in cards.items() if key not in seen_cards]
    unknown += [line for key, line in mobiles.items() if key not in seen_mobiles]
    return list(found.values()), unknown


@cadre_required
def activity_audience(request: HttpRequest, activity_id: int) -> HttpResponse:
    """指定名单: replace the named list by card numbers or mobiles, one per line."""
    user = cadre(request)
    activity = _activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    form = AudienceListForm(request.POST or None)
    unknown: list[str] = []
    if request.method == "POST" and form.is_valid():
        lines = (form.cleaned_data["lines"] or "").splitlines()
        if len(lines) > AUDIENCE_LIST_MAX:
            form.add_error("lines", _("一次最多 %(n)s 行。") % {"n": f"{AUDIENCE_LIST_MAX:,}"})
        else:
            members, unknown = _resolve_members(activity, lines)
            if unknown:
                form.add_error("lines", _("有 %(n)s 行找不到对应的会员，名单未保存。") % {"n": len(unknown)})
            else:
                try:
                    n = actions.set_audience_members(actor=user, activity=activity, members=members)
                except DomainError as exc:
                    add_domain_error(form, exc, {"AUDIENCE_LIST_OUTSIDE": "lines", "ACTIVITY_OPEN_FROZEN": "lines"})
                else:
                    messages.success(request, _("名单已保存，共 %(n)s 人。") % {"n": f"{n:,}"})
                    return redirect("console:activity_detail", activity.pk)
    listed = AudienceMember.objects.filter(activity=activity).select_related("member", "member__org")
    context = {
        "activity": activity,
        "form": form,
        "unknown": unknown[:50],
        "unknown_more": max(0, len(unknown) - 50),
        "listed_count": listed.count(),
        "listed": list(listed.order_by("member__name")[:50]),
    }
    return page(
        request, "console/activities/audience.html", context, section="activities", status=400 if form.errors else 200
    )


# --- lifecycle ----------------------------------------------------------------------------


@require_POST
@cadre_required
def activity_publish(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    return perform(
        request,
        lambda: actions.publish_activity(actor=cadre(request), activity=activity),
        _("活动已发布，会员可以在“活动”中看到。"),
        resolve_url("console:activity_detail", activity.pk),
    )


@require_POST
@cadre_required
def activity_close(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    form = CloseForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请填写提前结束的原因。"))
        return redirect("console:activity_detail", activity.pk)
    return perform(
        request,
        lambda: actions.close_activity(actor=cadre(request), activity=activity, reason=form.cleaned_data["reason"]),
        _("活动已结束。"),
        resolve_url("console:activity_detail", activity.pk),
    )


@require_POST
@cadre_required
def activity_archive(request: HttpRequest, activity_id: int) -> HttpResponse:
    activity = _activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    return perform(
        request,
        lambda: actions.archive_activity(actor=cadre(request), activity=activity),
        _("活动已归档。"),
        resolve_url("console:activity_detail", activity.pk),
    )


# --- the activity page --------------------------------------------------------------------


def audience_summary(activity: Activity) -> list[str]:
    """The audience in words: the organiser's subtree and each narrowing filter."""
    parts = [_("%(org)s及全部下级工会的会员") % {"org": activity.org.name}]
    groups = dict(NewEmploymentGroup.choices)
    if activity.audience_industries:
        parts.append(_("行业：%(v)s") % {"v": "、".join(activity.audience_industries)})
    if activity.audience_groups:
        parts.append(_("新就业形态：%(v)s") % {"v": "、".join(str(groups.get(g, g)) for g in activity.audience_groups)})
    if activity.audience_tags:
        parts.append(_("工会标签：%(v)s") % {"v": "、".join(activity.audience_tags)})
    if activity.verified_only:
        parts.append(_("仅限已实名认证"))
    if activity.exclude_retained:
        parts.append(_("保留会籍的会员不参加"))
    if activity.member_list_only:
        n = AudienceMember.objects.filter(activity=activity).count()
        parts.append(_("仅限指定名单（%(n)s 人）") % {"n": f"{n:,}"})
    return parts


def _results_template(activity: Activity) -> str:
    name = f"console/activities/{activity.kind}/results.html"
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return ""
    return name


@cadre_required
def activity_detail(request: HttpRequest, activity_id: int) -> HttpResponse:
    user = cadre(request)
    activity = _activity(request, activity_id)
    module = plugins.kind_module("gonghui.console.views", activity.kind)
    can_manage = access.can(user, Perm.ACTIVITY_MANAGE, activity.org_path)
    manage_links: list[tuple[str, str]] = []
    results: dict[str, Any] = {}
    results_template = ""
    if module is not None:
        if can_manage and hasattr(module, "manage_links"):
            manage_links = list(module.manage_links(activity))
        if hasattr(module, "results_context"):
            results_template = _results_template(activity)
            if results_template:
                results = module.results_context(request, activity)
    by_suborg = selectors.participation_by_suborg(activity)
    by_day = selectors.participation_by_day(activity)
    state = activity.state
    context = {
        "activity": activity,
        "state": state,
        "tone": STATE_TONES.get(ActivityState(state), "grey"),
        "kind_label": kind_label(activity.kind),
        "audience": audience_summary(activity),
        "count": selectors.participation_count(activity),
        "by_suborg": by_suborg,
        "by_day": by_day,
        "chart_data": {
            "suborg": {"names": [r["name"] for r in by_suborg], "counts": [r["count"] for r in by_suborg]},
            "day": {"dates": [r["date"] for r in by_day], "counts": [r["count"] for r in by_day]},
        },
        "manage_links": manage_links,
        "results": results,
        "results_template": results_template,
        "can_manage": can_manage,
        "can_edit": can_manage and state in (ActivityState.DRAFT, ActivityState.PUBLISHED, ActivityState.OPEN),
        "can_publish": can_manage and activity.status == ActivityStatus.DRAFT,
        "can_close": can_manage and activity.status == ActivityStatus.PUBLISHED and state != ActivityState.CLOSED,
        "can_archive": can_manage and state in (ActivityState.CLOSED, ActivityState.DRAFT),
        "close_form": CloseForm(),
    }
    return page(request, "console/activities/detail.html", context, section="activities")


# --- export -------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(value) else value
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return value


def _xlsx(headers: list[str], rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet("导出")
    sheet.append(headers)
    for row in rows:
        cells = []
        for value in row:
            v = _cell(value)
            # Text stays text: card numbers and ID-like strings must not become numbers.
            cell = WriteOnlyCell(sheet, value=v)
            if isinstance(v, str):
                cell.number_format = "@"
            cells.append(cell)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv(headers: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    # A BOM so that Excel opens the UTF-8 file with its Chinese intact.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@cadre_required
def activity_export(request: HttpRequest, activity_id: int) -> HttpResponse:
    """The kind's export as CSV or xlsx, with Chinese headers; recorded in the audit log."""
    activity = _activity(request, activity_id, Perm.ACTIVITY_MANAGE)
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    headers, rows = actions.export_activity(actor=cadre(request), activity=activity, file_format=file_format)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    filename = f"{activity.title}-{stamp}.{file_format}"
    if file_format == "xlsx":
        body = _xlsx(headers, rows)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body = _csv(headers, rows)
        content_type = "text/csv; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = (
        f"attachment; filename=\"activity-{activity.pk}.{file_format}\"; filename*=UTF-8''{quote(filename)}"
    )
    return response


# --- union tags ---------------------------------------------------------------------------


@cadre_required
def org_tags(request: HttpRequest, org_id: int) -> HttpResponse:
    """工会标签: free labels activities can be aimed at (``orgs.actions.set_tags``)."""
    user = cadre(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.ORG_CHANGE, pk=org_id)
    current = list(OrgTag.objects.filter(org=org).order_by("name").values_list("name", flat=True))
    form = OrgTagsForm(request.POST or None, initial={"tags": "、".join(current)})
    if request.method == "POST" and form.is_valid():
        try:
            org_actions.set_tags(actor=user, org=org, tags=form.tag_list())
        except DomainError as exc:
            add_domain_error(form, exc, {"TAG_TOO_LONG": "tags", "TAG_TOO_MANY": "tags"})
        else:
            messages.success(request, _("已保存 %(name)s 的标签。") % {"name": org.name})
            return redirect("console:org_detail", org.pk)
    known = list(
        OrgTag.objects.filter(org__path__startswith=org.path[: Org.steplen])
        .order_by()
        .values_list("name", flat=True)
        .distinct()[:50]
    )
    context = {"org": org, "form": form, "current": current, "known": sorted(set(known))}
    return page(
        request, "console/activities/org_tags.html", context, section="orgs", status=400 if form.errors else 200
    )


def kind_urlpatterns() -> list[URLPattern | URLResolver]:
    """Each kind's own organiser pages (``console.views.activity_<key>.urlpatterns``)."""
    found: list[URLPattern | URLResolver] = []
    for _key, module in plugins.kind_modules("gonghui.console.views"):
        found.extend(getattr(module, "urlpatterns", []))
    return found


def detail_url(activity: Activity) -> str:
    return reverse("console:activity_detail", args=[activity.pk])
