"""积分商城 for members: the goods of their union and the unions above it, one goods with
the member's balance, ordering with a confirmation step (and an address for parcels), my
orders with the pickup code as QR, cancelling before fulfilment.

The confirmation form carries a nonce drawn when the page was shown; the order key is
``portal:<member>:<nonce>``, so a double tap or a reload of the POST makes one order.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from gonghui.core.errors import DomainError
from gonghui.coupons.models import Coupon, CouponSource
from gonghui.mall import actions, selectors
from gonghui.mall.models import Goods, GoodsKind, Order, OrderStatus
from gonghui.members.models import Member
from gonghui.points import ledger
from gonghui.portal.views.card import qr_svg
from gonghui.portal.views.common import member_of, page

NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PAGE_SIZE = 60
ORDER_TABS = {
    "": "全部",
    "open": "进行中",
    "done": "已完成",
    "cancelled": "已取消",
}
OPEN = (OrderStatus.PLACED, OrderStatus.PICKUP_READY, OrderStatus.SHIPPED)
DONE = (OrderStatus.RECEIVED, OrderStatus.PICKED_UP, OrderStatus.DELIVERED_CODE, OrderStatus.COUPON_ISSUED)


def _member(request: HttpRequest) -> Member:
    member = member_of(request)
    if member is None:
        raise Http404
    return member


def _goods(member: Member, goods_id: int) -> Goods:
    goods = selectors.visible_goods(member).prefetch_related("images").filter(pk=goods_id).first()
    if goods is None:
        raise Http404
    return goods


def _buyable(goods: Goods, member: Member) -> dict[str, Any]:
    """What the goods page says about ordering: the reason it cannot, or how many it can."""
    balance = ledger.balance_of(member)
    held = actions.held_by(goods, member)
    refused = actions.refusal(goods, member)
    reason = refused.message if refused else ""
    code = refused.code if refused else ""
    allowed = min(goods.per_member_limit - held, goods.remaining)
    if not reason and goods.remaining <= 0:
        reason, code = _("已兑完"), "MALL_OUT_OF_STOCK"
    elif not reason and allowed <= 0:
        reason = _("每人限兑 %(n)s 件，您已兑换 %(held)s 件。") % {"n": goods.per_member_limit, "held": held}
        code = "MALL_LIMIT_REACHED"
    elif not reason and balance < goods.price_points:
        reason = _("积分不足：需要 %(need)s 分，您有 %(have)s 分。") % {"need": goods.price_points, "have": balance}
        code = "POINTS_INSUFFICIENT"
    return {
        "balance": balance,
        "held": held,
        "reason": reason,
        "reason_code": code,
        "max_quantity": max(min(allowed, balance // goods.price_points), 0),
    }


@never_cache
@login_required
def mall_home(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    context: dict[str, Any] = {"member": member}
    if member is not None:
        context["goods_list"] = list(selectors.shop(member)[:PAGE_SIZE])
        context["balance"] = ledger.balance_of(member)
        context["open_orders"] = selectors.my_orders(member).filter(status__in=OPEN).count()
    return page(request, "portal/mall/home.html", context, tab="me")


@never_cache
@login_required
def goods_detail(request: HttpRequest, goods_id: int) -> HttpResponse:
    member = _member(request)
    goods = _goods(member, goods_id)
    return page(
        request,
        "portal/mall/goods.html",
        {"goods": goods, "images": list(goods.images.all()), **_buyable(goods, member)},
        tab="me",
    )


@never_cache
@login_required
def order_confirm(request: HttpRequest, goods_id: int) -> HttpResponse:
    """GET: the confirmation step (quantity, address for parcels). POST: place the order."""
    member = _member(request)
    goods = _goods(member, goods_id)
    info = _buyable(goods, member)
    values: dict[str, str] = {"quantity": "1", "name": member.name, "mobile": "", "address": ""}
    error = ""
    if request.method == "POST":
        nonce = request.POST.get("nonce", "")
        values = {k: request.POST.get(k, "").strip() for k in ("quantity", "name", "mobile", "address")}
        if not NONCE.match(nonce):
            error = _("页面已过期，请重新确认。")
        else:
            try:
                quantity = int(values["quantity"] or "1")
            except ValueError:
                quantity = 0
            address = (
                actions.Address(values["name"], values["mobile"], values["address"])
                if goods.kind == GoodsKind.DELIVERY
                else None
            )
            try:
                placed = actions.place_order(
                    member=member,
                    goods=goods,
                    key=f"portal:{member.pk}:{nonce}",
                    quantity=quantity,
                    address=address,
                    actor=request.user,
                )
            except DomainError as exc:
                error = exc.message
            else:
                if not placed.replayed:
                    messages.success(request, _("兑换成功，已扣除 %(n)s 积分。") % {"n": placed.order.points})
                return redirect("portal:mall_order", order_id=placed.order.pk)
    context = {
        "goods": goods,
        "values": values,
        "error": error,
        "nonce": secrets.token_urlsafe(18),
        "quantities": list(range(1, max(info["max_quantity"], 1) + 1)),
        "is_delivery": goods.kind == GoodsKind.DELIVERY,
        **info,
    }
    return page(request, "portal/mall/confirm.html", context, tab="me", status=400 if error else 200)


@never_cache
@login_required
def my_orders(request: HttpRequest) -> HttpResponse:
    member = member_of(request)
    tab = request.GET.get("tab", "")
    if tab not in ORDER_TABS:
        tab = ""
    context: dict[str, Any] = {"member": member, "tab_key": tab}
    if member is not None:
        qs = selectors.my_orders(member)
        if tab == "open":
            qs = qs.filter(status__in=OPEN)
        elif tab == "done":
            qs = qs.filter(status__in=DONE)
        elif tab == "cancelled":
            qs = qs.filter(status=OrderStatus.CANCELLED)
        context["orders"] = list(qs[:PAGE_SIZE])
        context["tabs"] = [{"key": k, "label": _(v), "active": k == tab} for k, v in ORDER_TABS.items()]
    return page(request, "portal/mall/orders.html", context, tab="me")


def _my_order(request: HttpRequest, order_id: int) -> tuple[Member, Order]:
    member = _member(request)
    order = (
        Order.objects.select_related("goods__org", "spend_entry", "refund_entry")
        .filter(pk=order_id, member=member)
        .first()
    )
    if order is None:
        raise Http404
    return member, order


@never_cache
@login_required
def order_detail(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _my_order(request, order_id)[1]
    qr = None
    if order.status == OrderStatus.PICKUP_READY and order.pickup_code:
        qr = qr_svg(actions.pickup_qr_content(order), _("取货二维码"), attrs='id="pickup-qr"')
    coupons = (
        list(Coupon.objects.filter(source=CouponSource.POINTS, source_id=str(order.pk), member_id=order.member_id))
        if order.goods.kind == GoodsKind.COUPON
        else []
    )
    context = {
        "order": order,
        "goods": order.goods,
        "qr": qr,
        "codes": list(order.virtual_codes.order_by("id").values_list("code", flat=True)),
        "coupons": coupons,
        "can_cancel": order.status in (OrderStatus.PLACED, OrderStatus.PICKUP_READY),
        "can_receive": order.status == OrderStatus.SHIPPED,
    }
    return page(request, "portal/mall/order.html", context, tab="me")


@require_POST
@login_required
def order_cancel(request: HttpRequest, order_id: int) -> HttpResponse:
    member, order = _my_order(request, order_id)
    try:
        nonce = request.POST.get("nonce", "")
        key = f"portal:{nonce}" if NONCE.match(nonce) else ""
        done = actions.cancel_by_member(member=member, order=order, key=key)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if not done.replayed:
            messages.success(request, _("订单已取消，%(n)s 积分已退回。") % {"n": order.points})
    return redirect("portal:mall_order", order_id=order.pk)


@require_POST
@login_required
def order_received(request: HttpRequest, order_id: int) -> HttpResponse:
    member, order = _my_order(request, order_id)
    try:
        actions.confirm_received(order=order, member=member)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("已确认收货。"))
    return redirect("portal:mall_order", order_id=order.pk)
