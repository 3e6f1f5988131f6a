"""资讯管理: compose, edit, preview, publish (now or at a set time), withdraw and pin the
news of the unions in the cadre's subtree; read counts per item; images for the body.

Every item is read through ``news.selectors.get_for_cadre`` (``Perm.NEWS_PUBLISH``):
another subtree's item is the console's 404. Every change goes through ``news.actions``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.news import actions, selectors
from gonghui.orgs.models import Org, OrgStatus

PER_PAGE = 30
PICKER_DEPTH = 2
PICKER_LIMIT = 300
DATETIME_INPUT = "%Y-%m-%dT%H:%M"

ERROR_FIELDS = {
    "NEWS_TITLE_REQUIRED": "title",
    "NEWS_TITLE_TOO_LONG": "title",
    "NEWS_SUMMARY_TOO_LONG": "summary",
    "NEWS_TAGS_TOO_MANY": "tags",
    "NEWS_TAG_TOO_LONG": "tags",
    "NEWS_IMAGE_TOO_LARGE": "cover",
    "NEWS_IMAGE_TYPE": "cover",
    "NEWS_IMAGE_INVALID": "cover",
    "NEWS_PUBLISH_PAST": "published_at",
    "ORG_CLOSED": "org",
}

STATE_TONES = {"draft": "grey", "scheduled": "blue", "published": "green", "withdrawn": "amber"}


def publisher_orgs(user: Any) -> list[Org]:
    """Active unions the cadre may publish for: their own and two levels below."""
    roots = [g for g in access.grants(user) if g.allows(Perm.NEWS_PUBLISH)]
    if not roots:
        return []
    qs = access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), Perm.NEWS_PUBLISH)
    deepest = max(len(g.path) // Org.steplen for g in roots) + PICKER_DEPTH
    return list(qs.filter(depth__lte=deepest).order_by("path")[:PICKER_LIMIT])


def _org_choices(orgs: list[Org]) -> list[tuple[str, str]]:
    top = min((o.depth for o in orgs), default=1)
    return [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs]


class NewsForm(ConsoleForm):
    title = forms.CharField(label=gettext_lazy("标题"), max_length=120)
    summary = forms.CharField(
        label=gettext_lazy("摘要"), max_length=200, required=False, help_text=gettext_lazy("列表中显示，可不填。")
    )
    tags = forms.CharField(
        label=gettext_lazy("标签"),
        max_length=120,
        required=False,
        help_text=gettext_lazy("用逗号分隔，最多 5 个，例如：政策解读，劳模风采"),
    )
    body = forms.CharField(
        label=gettext_lazy("正文"),
        required=False,
        max_length=100000,
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text=gettext_lazy(
            "可用简单 HTML：<p> <strong> <em> <ul> <ol> <li> <h3> <blockquote> <a> <img>；脚本、样式等会被自动去除。"
        ),
    )
    cover = forms.FileField(
        label=gettext_lazy("封面图"),
        required=False,
        help_text=gettext_lazy("PNG、JPEG 或 WebP，不超过 2 MB，建议宽高比 16:9。"),
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/webp"}),
    )
    clear_cover = forms.BooleanField(label=gettext_lazy("删除现有封面图"), required=False)
    pinned = forms.BooleanField(label=gettext_lazy("置顶"), required=False)


class NewsCreateForm(NewsForm):
    org = forms.ChoiceField(
        label=gettext_lazy("发布工会"), help_text=gettext_lazy("资讯面向发布工会及其全部下级工会的会员。")
    )

    def __init__(self, *args: Any, orgs: list[Org], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["org"].choices = _org_choices(orgs)  # type: ignore[attr-defined]
        self.order_fields(["org"])


class PublishForm(ConsoleForm):
    published_at = forms.DateTimeField(
        label=gettext_lazy("定时发布"),
        required=False,
        input_formats=[DATETIME_INPUT, "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
        help_text=gettext_lazy("留空即立即发布。"),
    )


def _values(form: forms.Form) -> dict[str, Any]:
    data = form.cleaned_data
    return {k: data[k] for k in ("title", "summary", "tags", "body", "pinned")}


@cadre_required
def news_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    qs = selectors.for_cadre(user)
    q = request.GET.get("q", "").strip()[:50]
    state = request.GET.get("state", "")
    if q:
        qs = qs.filter(title__icontains=q)
    qs = selectors.filter_state(qs, state)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    rows = [
        {"n": n, "state": (s := selectors.state_of(n)), "label": selectors.STATE_LABELS[s], "tone": STATE_TONES[s]}
        for n in page_obj.object_list
    ]
    context = {
        "rows": rows,
        "page_obj": page_obj,
        "q": q,
        "state": state,
        "states": list(selectors.STATE_LABELS.items()),
        "params": {"q": q, "state": state},
        "can_create": bool(publisher_orgs(user)),
    }
    return page(request, "console/news/list.html", context, section="news")


@cadre_required
def news_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = publisher_orgs(user)
    form = NewsCreateForm(request.POST or None, request.FILES or None, orgs=orgs)
    if request.method == "POST" and form.is_valid():
        org = access.get_object_or_404(user, Org.objects.all(), Perm.NEWS_PUBLISH, pk=form.cleaned_data["org"])
        try:
            news = actions.create_news(
                actor=user, org=org, values=_values(form), cover=form.cleaned_data["cover"] or None
            )
        except DomainError as exc:
            add_domain_error(form, exc, ERROR_FIELDS)
        else:
            messages.success(request, _("已保存为草稿。预览无误后即可发布。"))
            return redirect("console:news_detail", news.pk)
    context = {"form": form, "news": None, "upload_org": orgs[0].pk if orgs else ""}
    return page(request, "console/news/form.html", context, section="news", status=400 if form.errors else 200)


@cadre_required
def news_edit(request: HttpRequest, news_id: int) -> HttpResponse:
    user = cadre(request)
    news = selectors.get_for_cadre(user, news_id)
    initial = {
        "title": news.title,
        "summary": news.summary,
        "tags": "，".join(news.tag_names),
        "body": news.body,
        "pinned": news.pinned,
    }
    form = NewsForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_news(
                actor=user,
                news=news,
                values=_values(form),
                cover=form.cleaned_data["cover"] or None,
                clear_cover=form.cleaned_data["clear_cover"],
            )
        except DomainError as exc:
            add_domain_error(form, exc, ERROR_FIELDS)
        else:
            messages.success(request, _("已保存。"))
            return redirect("console:news_detail", news.pk)
    context = {"form": form, "news": news, "upload_org": news.org_id}
    return page(request, "console/news/form.html", context, section="news", status=400 if form.errors else 200)


@cadre_required
def news_detail(request: HttpRequest, news_id: int) -> HttpResponse:
    user = cadre(request)
    news = selectors.get_for_cadre(user, news_id)
    state = selectors.state_of(news)
    context = {
        "news": news,
        "state": state,
        "state_label": selectors.STATE_LABELS[state],
        "tone": STATE_TONES[state],
        "publish_form": PublishForm(),
        "reads_credited": news.reads.filter(credited_at__isnull=False).count(),
    }
    return page(request, "console/news/detail.html", context, section="news")


@require_POST
@cadre_required
def news_publish(request: HttpRequest, news_id: int) -> HttpResponse:
    user = cadre(request)
    news = selectors.get_for_cadre(user, news_id)
    form = PublishForm(request.POST)
    at: datetime | None = form.cleaned_data["published_at"] if form.is_valid() else None
    if not form.is_valid():
        messages.error(request, _("发布时间格式不对。"))
        return redirect("console:news_detail", news.pk)
    try:
        news = actions.publish(actor=user, news=news, at=at)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if news.published_at and news.published_at > timezone.now():
            when = timezone.localtime(news.published_at).strftime("%Y-%m-%d %H:%M")
            messages.success(request, _("已设置定时发布：%(when)s 起会员可见。") % {"when": when})
        else:
            messages.success(request, _("已发布，%(org)s及下级工会的会员现在可以看到。") % {"org": news.org.name})
    return redirect("console:news_detail", news.pk)


@require_POST
@cadre_required
def news_withdraw(request: HttpRequest, news_id: int) -> HttpResponse:
    user = cadre(request)
    news = selectors.get_for_cadre(user, news_id)
    return perform(
        request,
        lambda: actions.withdraw(actor=user, news=news),
        _("已撤回，会员端不再显示。"),
        resolve_url("console:news_detail", news.pk),
    )


@require_POST
@cadre_required
def news_pin(request: HttpRequest, news_id: int) -> HttpResponse:
    user = cadre(request)
    news = selectors.get_for_cadre(user, news_id)
    pinned = request.POST.get("pinned") == "1"
    actions.set_pinned(actor=user, news=news, pinned=pinned)
    messages.success(request, _("已置顶。") if pinned else _("已取消置顶。"))
    return redirect("console:news_detail", news.pk)


@require_POST
@cadre_required
def news_preview(request: HttpRequest) -> HttpResponse:
    """The body as members will see it (sanitised), for the compose page's preview pane."""
    body = actions.sanitise_html(request.POST.get("body", "")[:100000])
    title = request.POST.get("title", "").strip()[:120]
    return render(request, "console/news/_preview.html", {"body": body, "title": title})


@require_POST
@cadre_required
def news_image_upload(request: HttpRequest) -> HttpResponse:
    """Store an image for a news body; answers ``{"url": ...}`` to insert as ``<img>``."""
    user = cadre(request)
    org = access.get_object_or_404(user, Org.objects.all(), Perm.NEWS_PUBLISH, pk=request.POST.get("org") or 0)
    upload = request.FILES.get("image")
    if upload is None:
        return JsonResponse({"code": "NEWS_IMAGE_REQUIRED", "message": _("请选择图片。")}, status=400)
    try:
        image = actions.upload_image(actor=user, org=org, upload=upload)
    except DomainError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status, json_dumps_params={"ensure_ascii": False})
    return JsonResponse({"url": image.image.url, "id": image.pk})
