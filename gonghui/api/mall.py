"""``/api/v1/mall`` and ``/api/v1/me/mall`` (members), ``/api/v1/mall/manage`` (cadres): the points mall.

Members: the goods offered to them (their union and the unions above it), one goods with
their balance and whether they may order it, placing an order, their orders, cancelling
one before fulfilment. Cadres (``Perm.MALL_MANAGE`` for goods and cancelling,
``Perm.MALL_FULFIL`` for orders): goods CRUD with stock, status and card codes; orders of
their subtree's goods; ship, confirm a pickup by the member's code, cancel with a reason.

``Idempotency-Key``: placing an order REQUIRES one (≤ 64 characters; the order key is
``api:<user>:<key>``): a retry returns the original order (200, ``replayed: true``), the
same key for another goods or quantity is ``409 IDEMPOTENCY_KEY_REUSED``. Cancelling
honours one: a retry with the key of the cancellation that succeeded gets the cancelled
order back (200, ``replayed``) instead of ``409 MALL_NOT_CANCELLABLE``; the refund is paid
exactly once whatever the keys.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from gonghui.api.auth import AccountSessionAuth, current_user, require_member
from gonghui.api.errors import ApiError, responses
from gonghui.api.paging import PageMeta, paginate
from gonghui.core import access
from gonghui.core.access import Perm
from gonghui.core.models import User
from gonghui.mall import actions, selectors
from gonghui.mall.models import Goods, GoodsKind, GoodsStatus, Order, OrderStatus
from gonghui.members.models import Member
from gonghui.orgs.models import Org
from gonghui.points import ledger

KEY_MAX = 64
MAX_PAGE_SIZE = 100

shop_router = Router(tags=["积分商城 mall"], auth=AccountSessionAuth())
me_router = Router(tags=["积分商城 mall"], auth=AccountSessionAuth())
router = Router(tags=["积分商城 mall"])


# --- schemas ------------------------------------------------------------------------------


class GoodsOut(Schema):
    id: int
    org_id: int = Field(..., description="上架工会")
    org_name: str
    name: str
    description: str
    kind: str = Field(
        ..., description="physical_pickup 到店自提、physical_delivery 快递配送、virtual_code 卡密、coupon 券"
    )
    kind_label: str
    price_points: int = Field(..., description="单价（积分）")
    stock: int = Field(..., description="库存总量")
    sold: int = Field(..., description="已兑换")
    remaining: int = Field(..., description="剩余")
    per_member_limit: int = Field(..., description="每人限兑")
    verified_only: bool = Field(..., description="仅限实名认证会员")
    status: str = Field(..., description="draft 草稿、on_sale 上架中、off_sale 已下架")
    sale_starts_at: datetime | None
    sale_ends_at: datetime | None
    pickup_place: str = Field(..., description="领取地点（到店自提）")
    coupon_template_id: int | None = Field(None, description="兑换的券模板（券类商品）")
    images: list[str] = Field(..., description="图片地址")

    @staticmethod
    def of(goods: Goods) -> GoodsOut:
        return GoodsOut(
            id=goods.pk,
            org_id=goods.org_id,
            org_name=goods.org.name,
            name=goods.name,
            description=goods.description,
            kind=goods.kind,
            kind_label=str(goods.get_kind_display()),
            price_points=goods.price_points,
            stock=goods.stock,
            sold=goods.sold,
            remaining=goods.remaining,
            per_member_limit=goods.per_member_limit,
            verified_only=goods.verified_only,
            status=goods.status,
            sale_starts_at=goods.sale_starts_at,
            sale_ends_at=goods.sale_ends_at,
            pickup_place=goods.pickup_place,
            coupon_template_id=goods.coupon_template_id,
            images=[im.image.url for im in goods.images.all()],
        )


class GoodsPage(PageMeta):
    items: list[GoodsOut]


class MyGoodsOut(Schema):
    goods: GoodsOut
    balance: int = Field(..., description="我的积分余额")
    held: int = Field(..., description="我已兑换（未取消）的数量")
    can_order: bool
    refusal_code: str = Field("", description="不能兑换时的原因代码，如 MALL_VERIFIED_ONLY")
    refusal: str = Field("", description="不能兑换时的原因")


class AddressIn(Schema):
    name: str = Field(..., max_length=50, description="收货人")
    mobile: str = Field(..., max_length=20, description="联系电话（手机）")
    address: str = Field(..., max_length=200, description="收货地址")


class OrderIn(Schema):
    goods_id: int
    quantity: int = Field(1, ge=1, le=99)
    address: AddressIn | None = Field(None, description="快递配送的商品必填")


class OrderOut(Schema):
    id: int
    number: str = Field(..., description="订单号")
    goods_id: int
    goods_name: str
    goods_kind: str
    member_id: int
    quantity: int
    points: int = Field(..., description="消耗积分")
    status: str = Field(
        ...,
        description="placed 待发货、pickup_ready 待领取、shipped 已发货、delivered_code 已发放卡密、"
        "coupon_issued 已发券、received 已签收、picked_up 已领取、cancelled 已取消（积分已退回）",
    )
    status_label: str
    pickup_code: str | None = Field(None, description="取货码（仅会员本人可见，待领取时）")
    codes: list[str] = Field(default_factory=list, description="卡密（会员本人可见全文，干部可见脱敏）")
    recipient_name: str = Field("", description="收货人（干部列表中脱敏）")
    recipient_mobile: str = Field("", description="联系电话（干部列表中脱敏）")
    address: str = Field("", description="收货地址（干部列表中脱敏）")
    carrier: str = ""
    tracking_number: str = ""
    cancel_reason: str = ""
    created_at: datetime
    fulfilled_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None

    @staticmethod
    def of(order: Order, *, owner: bool, masked: bool = False) -> OrderOut:
        codes = sorted(order.virtual_codes.all(), key=lambda c: c.pk)  # prefetched in lists
        addr = (
            order.masked_address()
            if masked
            else {
                "name": order.recipient_name,
                "mobile": order.recipient_mobile,
                "address": order.address,
            }
        )
        return OrderOut(
            id=order.pk,
            number=order.number,
            goods_id=order.goods_id,
            goods_name=order.goods.name,
            goods_kind=order.goods.kind,
            member_id=order.member_id,
            quantity=order.quantity,
            points=order.points,
            status=order.status,
            status_label=str(order.get_status_display()),
            pickup_code=order.pickup_code if owner and order.status == OrderStatus.PICKUP_READY else None,
            codes=[c.code if owner else c.masked for c in codes],
            recipient_name=addr["name"],
            recipient_mobile=addr["mobile"],
            address=addr["address"],
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            cancel_reason=order.cancel_reason,
            created_at=order.created_at,
            fulfilled_at=order.fulfilled_at,
            completed_at=order.completed_at,
            cancelled_at=order.cancelled_at,
        )


class PlacedOut(Schema):
    order: OrderOut
    balance: int = Field(..., description="下单后的积分余额")
    replayed: bool = Field(..., description="同一 Idempotency-Key 的重试：返回原订单，未再次扣分")


class OrderPage(PageMeta):
    items: list[OrderOut]


class GoodsIn(Schema):
    org_id: int = Field(..., description="上架工会：商品面向它及全部下级工会的会员")
    name: str = Field(..., min_length=1, max_length=100)
    kind: GoodsKind
    price_points: int = Field(..., ge=1)
    stock: int = Field(0, ge=0, description="库存；虚拟卡密商品忽略（库存 = 导入的卡密数）")
    per_member_limit: int = Field(1, ge=1, le=99)
    verified_only: bool = True
    description: str = ""
    pickup_place: str = Field("", max_length=200)
    coupon_template_id: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None


class GoodsPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    price_points: int | None = Field(None, ge=1)
    per_member_limit: int | None = Field(None, ge=1, le=99)
    verified_only: bool | None = None
    description: str | None = None
    pickup_place: str | None = Field(None, max_length=200)
    coupon_template_id: int | None = None
    sale_starts_at: datetime | None = None
    sale_ends_at: datetime | None = None
    stock: int | None = Field(None, ge=0, description="新的库存总量，不能少于已兑换数")
    status: GoodsStatus | None = Field(None, description="上架 on_sale、下架 off_sale、草稿 draft")


class CodesIn(Schema):
    codes: list[str] = Field(..., min_length=1, max_length=5000, description="卡密，每个 ≤ 64 字符；重复的跳过")


class CodesOut(Schema):
    added: int
    skipped: int
    stock: int


class ShipIn(Schema):
    carrier: str = Field(..., min_length=1, max_length=50, description="快递公司")
    tracking_number: str = Field(..., min_length=1, max_length=64, description="快递单号")


class PickupIn(Schema):
    code: str = Field(..., min_length=1, max_length=40, description="会员的 8 位取货码，或取货二维码的内容")


class CancelIn(Schema):
    reason: str = Field(..., min_length=1, max_length=200, description="取消原因（会员可见）")


# --- helpers ------------------------------------------------------------------------------


def _me(request: HttpRequest) -> tuple[User, Member]:
    return current_user(request), require_member(request)


def _key(request: HttpRequest, *, required: bool, what: str) -> str:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > KEY_MAX:
        raise ApiError(400, "IDEMPOTENCY_KEY_TOO_LONG", f"Idempotency-Key 不能超过 {KEY_MAX} 个字符。")
    if required and not key:
        raise ApiError(400, "IDEMPOTENCY_KEY_REQUIRED", f"{what}必须带 Idempotency-Key 请求头。")
    return key


def _my_order(member: Member, order_id: int) -> Order:
    order = Order.objects.select_related("goods").filter(pk=order_id, member=member).first()
    if order is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    return order


# --- members ------------------------------------------------------------------------------


@shop_router.get(
    "/goods", response={200: GoodsPage, **responses(403)}, operation_id="list_mall_goods", summary="可兑换的商品"
)
def list_mall_goods(
    request: HttpRequest,
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
    size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> GoodsPage:
    """本工会及上级工会上架、在兑换时间内、未兑完的商品，最新的在前。"""
    _, member = _me(request)
    items, meta = paginate(selectors.shop(member), page, size)
    return GoodsPage(items=[GoodsOut.of(g) for g in items], **meta)


@shop_router.get(
    "/goods/{int:goods_id}",
    response={200: MyGoodsOut, **responses(403, 404)},
    operation_id="get_mall_goods",
    summary="商品详情与我能否兑换",
)
def get_mall_goods(request: HttpRequest, goods_id: int) -> MyGoodsOut:
    _, member = _me(request)
    goods = selectors.visible_goods(member).prefetch_related("images").filter(pk=goods_id).first()
    if goods is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    refused = actions.refusal(goods, member)
    held = actions.held_by(goods, member)
    balance = ledger.balance_of(member)
    code, message = (refused.code, refused.message) if refused else ("", "")
    if not code and goods.remaining <= 0:
        code, message = "MALL_OUT_OF_STOCK", f"“{goods.name}”已兑完。"
    elif not code and held >= goods.per_member_limit:
        code, message = "MALL_LIMIT_REACHED", f"每人限兑 {goods.per_member_limit} 件，您已兑换 {held} 件。"
    elif not code and balance < goods.price_points:
        code, message = "POINTS_INSUFFICIENT", f"积分不足：需要 {goods.price_points} 分，可用 {balance} 分。"
    return MyGoodsOut(
        goods=GoodsOut.of(goods),
        balance=balance,
        held=held,
        can_order=not code,
        refusal_code=code,
        refusal=message,
    )


@shop_router.post(
    "/orders",
    response={200: PlacedOut, 201: PlacedOut, **responses(400, 404, 409)},
    operation_id="place_mall_order",
    summary="兑换下单（必须带 Idempotency-Key）",
)
def place_mall_order(request: HttpRequest, body: OrderIn) -> Status[PlacedOut]:
    """库存和积分在同一事务中扣减：积分不足（`409 POINTS_INSUFFICIENT`）不占库存，已兑完（`409
    MALL_OUT_OF_STOCK`）不扣积分。必须带 `Idempotency-Key`：重试返回原订单（200，`replayed: true`）。
    商品要求实名而会员未实名：`409 MALL_VERIFIED_ONLY`；超过每人限兑：`409 MALL_LIMIT_REACHED`。"""
    user, member = _me(request)
    key = _key(request, required=True, what="兑换下单")
    goods = selectors.visible_goods(member).filter(pk=body.goods_id).first()
    if goods is None:
        raise ApiError(404, "NOT_FOUND", "对象不存在")
    address = actions.Address(body.address.name, body.address.mobile, body.address.address) if body.address else None
    placed = actions.place_order(
        member=member, goods=goods, key=f"api:{user.pk}:{key}", quantity=body.quantity, address=address, actor=user
    )
    out = PlacedOut(
        order=OrderOut.of(placed.order, owner=True), balance=ledger.balance_of(member), replayed=placed.replayed
    )
    return Status(200 if placed.replayed else 201, out)


@me_router.get(
    "/orders", response={200: OrderPage, **responses(403)}, operation_id="list_my_mall_orders", summary="我的兑换订单"
)
def list_my_mall_orders(
    request: HttpRequest,
    status: OrderStatus | None = None,
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
    size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> OrderPage:
    _, member = _me(request)
    qs = selectors.my_orders(member).prefetch_related("virtual_codes")
    if status:
        qs = qs.filter(status=status)
    items, meta = paginate(qs, page, size)
    return OrderPage(items=[OrderOut.of(o, owner=True) for o in items], **meta)


@me_router.get(
    "/orders/{int:order_id}",
    response={200: OrderOut, **responses(403, 404)},
    operation_id="get_my_mall_order",
    summary="我的兑换订单详情",
)
def get_my_mall_order(request: HttpRequest, order_id: int) -> OrderOut:
    """待领取的订单带取货码（到领取地点出示；二维码内容为 `GHMALL:<取货码>`）；卡密订单带卡密全文。"""
    _, member = _me(request)
    return OrderOut.of(_my_order(member, order_id), owner=True)


@me_router.post(
    "/orders/{int:order_id}/cancel",
    response={200: OrderOut, **responses(400, 404, 409)},
    operation_id="cancel_my_mall_order",
    summary="取消兑换（发货或领取前）",
)
def cancel_my_mall_order(request: HttpRequest, order_id: int) -> OrderOut:
    """积分全额退回、库存还回，只发生一次。已发货、已领取、卡密或券已发放的订单返回 `409 MALL_NOT_CANCELLABLE`；
    带着成功那次的 `Idempotency-Key` 重试则返回已取消的订单。"""
    user, member = _me(request)
    key = _key(request, required=False, what="取消订单")
    order = _my_order(member, order_id)
    done = actions.cancel_by_member(member=member, order=order, key=f"api:{user.pk}:{key}" if key else "")
    return OrderOut.of(done.order, owner=True)


# --- cadres -------------------------------------------------------------------------------


def _managed(request: HttpRequest, goods_id: int) -> Goods:
    goods: Goods = access.get_object_or_404(
        current_user(request), Goods.objects.select_related("org"), Perm.MALL_MANAGE, pk=goods_id
    )
    return goods


def _fulfil(request: HttpRequest, order_id: int) -> Order:
    order: Order = access.get_object_or_404(
        current_user(request), Order.objects.select_related("goods"), Perm.MALL_FULFIL, pk=order_id
    )
    return order


@router.get(
    "/goods", response={200: GoodsPage, **responses()}, operation_id="list_managed_goods", summary="商品（干部）"
)
def list_managed_goods(
    request: HttpRequest,
    status: GoodsStatus | None = None,
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
    size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> GoodsPage:
    qs = selectors.managed_goods(current_user(request)).prefetch_related("images")
    if status:
        qs = qs.filter(status=status)
    items, meta = paginate(qs, page, size)
    return GoodsPage(items=[GoodsOut.of(g) for g in items], **meta)


@router.post(
    "/goods", response={201: GoodsOut, **responses(400, 404)}, operation_id="create_goods", summary="新建商品（草稿）"
)
def create_goods(request: HttpRequest, body: GoodsIn) -> Status[GoodsOut]:
    user = current_user(request)
    org: Org = access.get_object_or_404(user, Org.objects.all(), Perm.MALL_MANAGE, pk=body.org_id)
    values = body.dict(exclude={"org_id", "stock"})
    goods = actions.create_goods(actor=user, org=org, values=values, stock=body.stock)
    return Status(201, GoodsOut.of(goods))


@router.get(
    "/goods/{int:goods_id}",
    response={200: GoodsOut, **responses(404)},
    operation_id="get_managed_goods",
    summary="商品详情（干部）",
)
def get_managed_goods(request: HttpRequest, goods_id: int) -> GoodsOut:
    return GoodsOut.of(_managed(request, goods_id))


@router.patch(
    "/goods/{int:goods_id}",
    response={200: GoodsOut, **responses(400, 404, 409)},
    operation_id="update_goods",
    summary="修改商品、库存或上下架",
)
def update_goods(request: HttpRequest, goods_id: int, body: GoodsPatch) -> GoodsOut:
    """库存不能少于已兑换数（`409 MALL_STOCK_BELOW_SOLD`）；上架需要库存（`400 MALL_NO_STOCK`）。"""
    user = current_user(request)
    goods = _managed(request, goods_id)
    values = body.dict(exclude_unset=True, exclude={"stock", "status"})
    if values:
        goods = actions.update_goods(actor=user, goods=goods, values=values)
    if body.stock is not None:
        goods = actions.set_stock(actor=user, goods=goods, stock=body.stock)
    if body.status is not None:
        goods = actions.set_status(actor=user, goods=goods, status=body.status)
    return GoodsOut.of(Goods.objects.select_related("org").get(pk=goods.pk))


@router.post(
    "/goods/{int:goods_id}/codes",
    response={200: CodesOut, **responses(400, 404)},
    operation_id="add_goods_codes",
    summary="导入卡密（虚拟商品）",
)
def add_goods_codes(request: HttpRequest, goods_id: int, body: CodesIn) -> CodesOut:
    goods = _managed(request, goods_id)
    codes = actions.parse_codes("\n".join(body.codes))
    added = actions.add_codes(actor=current_user(request), goods=goods, codes=codes)
    goods.refresh_from_db()
    return CodesOut(added=added, skipped=len(codes) - added, stock=goods.stock)


@router.get(
    "/orders", response={200: OrderPage, **responses(404)}, operation_id="list_mall_orders", summary="兑换订单（干部）"
)
def list_mall_orders(
    request: HttpRequest,
    status: OrderStatus | None = None,
    goods_id: int | None = None,
    page: int = Query(1, ge=1),  # type: ignore[type-arg]
    size: int = Query(20, ge=1, le=MAX_PAGE_SIZE),  # type: ignore[type-arg]
) -> OrderPage:
    """管辖范围内工会上架商品的订单；收货信息脱敏（详情接口返回全文，用于发货）。"""
    user = current_user(request)
    if goods_id is not None:
        access.get_object_or_404(user, Goods.objects.all(), Perm.MALL_FULFIL, pk=goods_id)
    qs = selectors.fulfil_orders(user, status=status or "", goods_id=goods_id).prefetch_related("virtual_codes")
    items, meta = paginate(qs, page, size)
    return OrderPage(items=[OrderOut.of(o, owner=False, masked=True) for o in items], **meta)


@router.get(
    "/orders/{int:order_id}",
    response={200: OrderOut, **responses(404)},
    operation_id="get_mall_order",
    summary="兑换订单详情（干部）",
)
def get_mall_order(request: HttpRequest, order_id: int) -> OrderOut:
    return OrderOut.of(_fulfil(request, order_id), owner=False)


@router.post(
    "/orders/{int:order_id}/ship",
    response={200: OrderOut, **responses(400, 404, 409)},
    operation_id="ship_mall_order",
    summary="发货",
)
def ship_mall_order(request: HttpRequest, order_id: int, body: ShipIn) -> OrderOut:
    order = actions.ship(
        actor=current_user(request),
        order=_fulfil(request, order_id),
        carrier=body.carrier,
        tracking_number=body.tracking_number,
    )
    return OrderOut.of(order, owner=False)


@router.post(
    "/orders/pickup",
    response={200: OrderOut, **responses(400, 409)},
    operation_id="confirm_mall_pickup",
    summary="凭取货码确认领取",
)
def confirm_mall_pickup(request: HttpRequest, body: PickupIn) -> OrderOut:
    """只找得到本人管辖范围内商品的订单；其他取货码返回 `400 MALL_PICKUP_CODE_UNKNOWN`。
    已领取：`409 MALL_BAD_STATE`。"""
    order = actions.confirm_pickup(actor=current_user(request), raw_code=body.code)
    return OrderOut.of(order, owner=False)


@router.post(
    "/orders/{int:order_id}/cancel",
    response={200: OrderOut, **responses(400, 404, 409)},
    operation_id="cancel_mall_order",
    summary="取消订单并退回积分（干部）",
)
def cancel_mall_order(request: HttpRequest, order_id: int, body: CancelIn) -> OrderOut:
    """待发货、待领取、已发货（退回）的订单可取消，积分全额退回、库存还回，只发生一次。需要 `mall.manage`。
    `Idempotency-Key` 可选：带着成功那次的键重试返回已取消的订单。"""
    user = current_user(request)
    key = _key(request, required=False, what="取消订单")
    order = _fulfil(request, order_id)
    access.require(user, Perm.MALL_MANAGE, order.org_path)
    done = actions.cancel_by_cadre(
        actor=user, order=order, reason=body.reason, key=f"api:{user.pk}:{key}" if key else ""
    )
    return OrderOut.of(done.order, owner=False)
