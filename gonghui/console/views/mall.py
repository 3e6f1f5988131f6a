"""积分商城 in the console: goods (CRUD, images, stock, card codes, on/off sale), the
fulfilment page (orders of the cadre's subtree's goods by state; ship with tracking,
confirm a pickup by the member's code typed or scanned, cancel with a reason) and a report
of orders and points per goods (ECharts).

Goods need ``Perm.MALL_MANAGE`` over their union; orders need ``Perm.MALL_FULFIL`` over
the goods' union (cancelling needs ``MALL_MANAGE``). Outside the subtree everything is 404.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from gonghui.console.forms import ConsoleForm, add_domain_error
from gonghui.console.views.common import cadre, cadre_required, page, perform
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.errors import DomainError
from gonghui.coupons.models import CouponTemplate, TemplateStatus
from gonghui.mall import actions, selectors
from gonghui.mall.models import Goods, GoodsImage, GoodsKind, GoodsStatus, Order, OrderStatus, VirtualCode
from gonghui.orgs.models import Org, OrgStatus

PER_PAGE = 30
PICKER_LIMIT = 300
DATETIME_INPUT = "%Y-%m-%dT%H:%M"
FIELD_ERRORS = {
    "MALL_NAME_REQUIRED": "name",
    "MALL_BAD_PRICE": "price_points",
    "MALL_BAD_LIMIT": "per_member_limit",
    "MALL_BAD_WINDOW": "sale_ends_at",
    "MALL_COUPON_TEMPLATE_REQUIRED": "coupon_template",
    "MALL_COUPON_TEMPLATE_OUTSIDE": "coupon_template",
    "MALL_COUPON_TEMPLATE_INACTIVE": "coupon_template",
    "MALL_PICKUP_PLACE_REQUIRED": "pickup_place",
    "MALL_BAD_STOCK": "stock",
    "MALL_IMAGE_TOO_LARGE": "images",
    "MALL_IMAGE_TYPE": "images",
    "MALL_IMAGE_INVALID": "images",
    "MALL_TOO_MANY_IMAGES": "images",
}
STATUS_TONE: dict[str, str] = {
    OrderStatus.PLACED: "amber",
    OrderStatus.PICKUP_READY: "amber",
    OrderStatus.SHIPPED: "blue",
    OrderStatus.DELIVERED_CODE: "green",
    OrderStatus.COUPON_ISSUED: "green",
    OrderStatus.RECEIVED: "green",
    OrderStatus.PICKED_UP: "green",
    OrderStatus.CANCELLED: "grey",
}
GOODS_TONE: dict[str, str] = {GoodsStatus.DRAFT: "grey", GoodsStatus.ON_SALE: "green", GoodsStatus.OFF_SALE: "amber"}


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleImageInput(attrs={"accept": "image/png,image/jpeg,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class GoodsForm(ConsoleForm):
    org = forms.ChoiceField(
        label=gettext_lazy("上架工会"), help_text=gettext_lazy("商品面向该工会及其全部下级工会的会员。")
    )
    name = forms.CharField(label=gettext_lazy("商品名称"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("类型"), choices=GoodsKind.choices)
    price_points = forms.IntegerField(label=gettext_lazy("兑换积分"), min_value=1)
    stock = forms.IntegerField(
        label=gettext_lazy("库存"),
        min_value=0,
        initial=0,
        required=False,
        help_text=gettext_lazy("虚拟卡密商品的库存等于导入的卡密数，此处不填。"),
    )
    per_member_limit = forms.IntegerField(label=gettext_lazy("每人限兑"), min_value=1, max_value=99, initial=1)
    verified_only = forms.BooleanField(label=gettext_lazy("仅限实名认证会员兑换"), required=False, initial=True)
    pickup_place = forms.CharField(
        label=gettext_lazy("领取地点"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("到店自提商品必填，如“区总工会一楼服务台（工作日 9:00–17:00）”。"),
    )
    coupon_template = forms.ChoiceField(label=gettext_lazy("兑换的券"), required=False)
    sale_starts_at = forms.DateTimeField(
        label=gettext_lazy("开始兑换时间"),
        required=False,
        input_formats=[DATETIME_INPUT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
    )
    sale_ends_at = forms.DateTimeField(
        label=gettext_lazy("结束兑换时间"),
        required=False,
        input_formats=[DATETIME_INPUT],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_INPUT),
    )
    description = forms.CharField(
        label=gettext_lazy("商品介绍"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    images = MultipleImageField(
        label=gettext_lazy("商品图片"),
        required=False,
        help_text=gettext_lazy("PNG、JPEG 或 WebP，每张不超过 2 MB，最多 6 张。"),
    )

    def __init__(self, *args: Any, orgs: list[Org], templates: list[CouponTemplate], goods: Goods | None, **kw: Any):
        super().__init__(*args, **kw)
        top = min((o.depth for o in orgs), default=1)
        cast(forms.ChoiceField, self.fields["org"]).choices = [
            (str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs
        ]
        cast(forms.ChoiceField, self.fields["coupon_template"]).choices = [("", _("（不是券类商品）"))] + [
            (str(t.pk), f"{t.name}（{t.org.name}，剩 {t.remaining}）") for t in templates
        ]
        if goods is not None:
            for name in ("org", "kind", "stock", "images"):
                del self.fields[name]

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {
            k: data[k]
            for k in (
                "name",
                "description",
                "price_points",
                "per_member_limit",
                "verified_only",
                "pickup_place",
                "sale_starts_at",
                "sale_ends_at",
            )
        }
        if "kind" in data:
            values["kind"] = data["kind"]
        values["coupon_template_id"] = int(data["coupon_template"]) if data.get("coupon_template") else None
        return values


def _orgs(user: Any) -> list[Org]:
    return list(
        access.scope(user, Org.objects.filter(status=OrgStatus.ACTIVE), Perm.MALL_MANAGE).order_by("path")[
            :PICKER_LIMIT
        ]
    )


def _templates(user: Any) -> list[CouponTemplate]:
    """Coupon templates a goods may sell: active ones the cadre can see (the action checks the tree)."""
    qs = access.scope(user, CouponTemplate.objects.select_related("org"), Perm.COUPON_VIEW)
    return list(qs.filter(status=TemplateStatus.ACTIVE).order_by("-created_at")[:200])


def _managed(request: HttpRequest, goods_id: int) -> Goods:
    goods: Goods = access.get_object_or_404(
        cadre(request), Goods.objects.select_related("org", "coupon_template"), Perm.MALL_MANAGE, pk=goods_id
    )
    return goods


def _order(request: HttpRequest, order_id: int) -> Order:
    order: Order = access.get_object_or_404(
        cadre(request),
        Order.objects.select_related("goods__org", "member", "spend_entry"),
        Perm.MALL_FULFIL,
        pk=order_id,
    )
    return order


# --- goods ---------------------------------------------------------------------------------


@cadre_required
def goods_list(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    if not access.can_anywhere(user, Perm.MALL_MANAGE):
        return page(request, "console/404.html", {}, status=404)
    qs = selectors.managed_goods(user)
    status = request.GET.get("status", "")
    if status in GoodsStatus.values:
        qs = qs.filter(status=status)
    q = request.GET.get("q", "").strip()[:50]
    if q:
        qs = qs.filter(name__icontains=q)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    rows = [{"g": g, "tone": GOODS_TONE.get(g.status, "grey")} for g in page_obj.object_list]
    return page(
        request,
        "console/mall/goods_list.html",
        {
            "rows": rows,
            "page_obj": page_obj,
            "status": status,
            "q": q,
            "statuses": GoodsStatus.choices,
            "params": request.GET,
        },
        section="mall_goods",
    )


@cadre_required
def goods_new(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    orgs = _orgs(user)
    if not orgs:
        return page(request, "console/404.html", {}, status=404)
    form = GoodsForm(request.POST or None, request.FILES or None, orgs=orgs, templates=_templates(user), goods=None)
    if request.method == "POST" and form.is_valid():
        org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.MALL_MANAGE, pk=form.cleaned_data["org"])
        try:
            goods = actions.create_goods(
                actor=user,
                org=org,
                values=form.values(),
                stock=form.cleaned_data.get("stock") or 0,
                images=form.cleaned_data.get("images") or [],
            )
        except DomainError as exc:
            add_domain_error(form, exc, FIELD_ERRORS)
        else:
            messages.success(request, _("商品已保存为草稿，设置好库存后即可上架。"))
            return redirect("console:mall_goods_detail", goods_id=goods.pk)
    return page(request, "console/mall/goods_form.html", {"form": form, "goods": None}, section="mall_goods")


@cadre_required
def goods_edit(request: HttpRequest, goods_id: int) -> HttpResponse:
    user = cadre(request)
    goods = _managed(request, goods_id)
    initial = {
        "name": goods.name,
        "description": goods.description,
        "price_points": goods.price_points,
        "per_member_limit": goods.per_member_limit,
        "verified_only": goods.verified_only,
        "pickup_place": goods.pickup_place,
        "coupon_template": str(goods.coupon_template_id or ""),
        "sale_starts_at": goods.sale_starts_at,
        "sale_ends_at": goods.sale_ends_at,
    }
    form = GoodsForm(request.POST or None, initial=initial, orgs=[], templates=_templates(user), goods=goods)
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_goods(actor=user, goods=goods, values=form.values())
        except DomainError as exc:
            add_domain_error(form, exc, FIELD_ERRORS)
        else:
            messages.success(request, _("商品已修改。"))
            return redirect("console:mall_goods_detail", goods_id=goods.pk)
    return page(request, "console/mall/goods_form.html", {"form": form, "goods": goods}, section="mall_goods")


@cadre_required
def goods_detail(request: HttpRequest, goods_id: int) -> HttpResponse:
    goods = _managed(request, goods_id)
    codes = None
    if goods.kind == GoodsKind.VIRTUAL:
        total = VirtualCode.objects.filter(goods=goods).count()
        free = VirtualCode.objects.filter(goods=goods, order__isnull=True).count()
        codes = {"total": total, "free": free, "used": total - free}
    recent = list(
        access.scope(
            cadre(request), Order.objects.filter(goods=goods).select_related("member"), Perm.MALL_FULFIL
        ).order_by("-created_at")[:10]
    )
    return page(
        request,
        "console/mall/goods_detail.html",
        {
            "goods": goods,
            "images": list(goods.images.all()),
            "codes": codes,
            "recent": [{"o": o, "tone": STATUS_TONE.get(o.status, "grey")} for o in recent],
            "tone": GOODS_TONE.get(goods.status, "grey"),
            "statuses": GoodsStatus,
        },
        section="mall_goods",
    )


def _act(request: HttpRequest, goods: Goods, call: Any, ok: str) -> HttpResponse:
    return perform(request, call, ok, reverse("console:mall_goods_detail", args=[goods.pk]))


@require_POST
@cadre_required
def goods_status(request: HttpRequest, goods_id: int) -> HttpResponse:
    goods = _managed(request, goods_id)
    status = request.POST.get("status", "")
    label = dict(GoodsStatus.choices).get(status, "")
    return _act(
        request,
        goods,
        lambda: actions.set_status(actor=cadre(request), goods=goods, status=status),
        _("商品状态已改为“%(s)s”。") % {"s": label},
    )


@require_POST
@cadre_required
def goods_stock(request: HttpRequest, goods_id: int) -> HttpResponse:
    goods = _managed(request, goods_id)
    try:
        stock = int(request.POST.get("stock", ""))
    except ValueError:
        messages.error(request, _("库存必须是整数。"))
        return redirect("console:mall_goods_detail", goods_id=goods.pk)
    return _act(
        request,
        goods,
        lambda: actions.set_stock(actor=cadre(request), goods=goods, stock=stock),
        _("库存已改为 %(n)s。") % {"n": stock},
    )


@require_POST
@cadre_required
def goods_images(request: HttpRequest, goods_id: int) -> HttpResponse:
    goods = _managed(request, goods_id)
    uploads = request.FILES.getlist("images")
    if not uploads:
        messages.error(request, _("请选择图片。"))
        return redirect("console:mall_goods_detail", goods_id=goods.pk)
    return _act(
        request,
        goods,
        lambda: actions.add_images(actor=cadre(request), goods=goods, uploads=uploads),
        _("已上传 %(n)s 张图片。") % {"n": len(uploads)},
    )


@require_POST
@cadre_required
def goods_image_remove(request: HttpRequest, goods_id: int, image_id: int) -> HttpResponse:
    goods = _managed(request, goods_id)
    image = GoodsImage.objects.filter(pk=image_id, goods=goods).first()
    if image is None:
        return page(request, "console/404.html", {}, status=404)
    return _act(request, goods, lambda: actions.remove_image(actor=cadre(request), image=image), _("图片已删除。"))


@require_POST
@cadre_required
def goods_codes(request: HttpRequest, goods_id: int) -> HttpResponse:
    goods = _managed(request, goods_id)
    try:
        codes = actions.parse_codes(request.POST.get("codes", ""))
        added = actions.add_codes(actor=cadre(request), goods=goods, codes=codes)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("已导入 %(n)s 个卡密（跳过重复 %(s)s 个），库存随之增加。") % {"n": added, "s": len(codes) - added},
        )
    return redirect("console:mall_goods_detail", goods_id=goods.pk)


# --- orders (fulfilment) -------------------------------------------------------------------


@cadre_required
def orders(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    if not access.can_anywhere(user, Perm.MALL_FULFIL):
        return page(request, "console/404.html", {}, status=404)
    status = request.GET.get("status", "")
    goods_id = request.GET.get("goods", "")
    goods = None
    if goods_id:
        goods = access.get_object_or_404(user, Goods.objects.all(), Perm.MALL_FULFIL, pk=goods_id)
    qs = selectors.fulfil_orders(user, status=status, goods_id=goods.pk if goods else None)
    page_obj = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    counts = selectors.status_counts(user)
    rows = [
        {"o": o, "tone": STATUS_TONE.get(o.status, "grey"), "addr": o.masked_address()} for o in page_obj.object_list
    ]
    return page(
        request,
        "console/mall/orders.html",
        {
            "rows": rows,
            "page_obj": page_obj,
            "status": status,
            "goods": goods,
            "states": [(v, label, counts.get(v, 0)) for v, label in OrderStatus.choices],
            "params": request.GET,
            "last_pickup": request.session.pop("mall_last_pickup", None),
        },
        section="mall_orders",
    )


@require_POST
@cadre_required
def pickup(request: HttpRequest) -> HttpResponse:
    """Confirm a pickup by the member's code (typed, or scanned by a scanner that types)."""
    user = cadre(request)
    try:
        order = actions.confirm_pickup(actor=user, raw_code=request.POST.get("code", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("已确认领取：%(goods)s ×%(q)s，会员 %(name)s，订单 %(no)s。")
            % {"goods": order.goods.name, "q": order.quantity, "name": order.member.name, "no": order.number},
        )
        request.session["mall_last_pickup"] = order.pk
    return redirect("console:mall_orders")


@cadre_required
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    user = cadre(request)
    order = _order(request, order_id)
    codes = list(order.virtual_codes.order_by("id"))
    return page(
        request,
        "console/mall/order_detail.html",
        {
            "order": order,
            "tone": STATUS_TONE.get(order.status, "grey"),
            "codes": codes,
            "can_ship": order.status == OrderStatus.PLACED,
            "can_receive": order.status == OrderStatus.SHIPPED,
            "can_cancel": order.status in (OrderStatus.PLACED, OrderStatus.PICKUP_READY, OrderStatus.SHIPPED)
            and access.can(user, Perm.MALL_MANAGE, order.org_path),
        },
        section="mall_orders",
    )


def _order_act(request: HttpRequest, order: Order, call: Any, ok: str) -> HttpResponse:
    return perform(request, call, ok, reverse("console:mall_order_detail", args=[order.pk]))


@require_POST
@cadre_required
def order_ship(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request, order_id)
    return _order_act(
        request,
        order,
        lambda: actions.ship(
            actor=cadre(request),
            order=order,
            carrier=request.POST.get("carrier", ""),
            tracking_number=request.POST.get("tracking_number", ""),
        ),
        _("已发货。"),
    )


@require_POST
@cadre_required
def order_received(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request, order_id)
    return _order_act(
        request, order, lambda: actions.confirm_received(order=order, actor=cadre(request)), _("已确认收货。")
    )


@require_POST
@cadre_required
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request, order_id)
    return _order_act(
        request,
        order,
        lambda: actions.cancel_by_cadre(
            actor=cadre(request), order=order, reason=request.POST.get("reason", ""), key=f"console:{order.pk}"
        ),
        _("订单已取消，积分已退回会员。"),
    )


# --- report --------------------------------------------------------------------------------


@cadre_required
def report(request: HttpRequest) -> HttpResponse:
    user = cadre(request)
    if not access.can_anywhere(user, Perm.MALL_MANAGE):
        return page(request, "console/404.html", {}, status=404)
    orgs = _orgs(user)
    org = None
    if request.GET.get("org"):
        org = access.get_object_or_404(user, Org.objects.all(), Perm.MALL_MANAGE, pk=request.GET["org"])
    rows = selectors.report(user, org=org)
    top = min((o.depth for o in orgs), default=1)
    chart = {
        "names": [r["name"] for r in rows],
        "orders": [r["orders_n"] for r in rows],
        "points": [r["points_n"] for r in rows],
        "labels": {"orders": _("订单数"), "points": _("消耗积分")},
    }
    return page(
        request,
        "console/mall/report.html",
        {
            "rows": rows,
            "chart": chart,
            "org": org,
            "org_choices": [(str(o.pk), "　" * (o.depth - top) + o.name) for o in orgs],
            "totals": {
                "orders": sum(r["orders_n"] for r in rows),
                "points": sum(r["points_n"] for r in rows),
                "cancelled": sum(r["cancelled_n"] for r in rows),
            },
        },
        section="mall_report",
    )
