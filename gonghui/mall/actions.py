"""Every change in the points mall: goods and their stock, codes and images; orders, their
fulfilment and cancellation.

An order is one transaction (``place_order``), in this order:

1. lock the member's points account (``points.ledger.lock_account``) — it serialises
   everything one member does with points, so the idempotency check, the per-member limit
   and the balance below are all read under one lock and are exact;
2. replay: an order already made with this key is returned as it is;
3. eligibility: goods on sale and in its window, member in the goods' subtree, active,
   verified when the goods require it, within the per-member limit;
4. stock: one conditional UPDATE (``sold = sold + q WHERE sold + q ≤ stock``); a sold-out
   goods stops here, before any point moves;
5. points: ``ledger.spend`` with key ``mall:order:<order key>`` — not enough points raises
   and the whole transaction, stock included, rolls back;
6. delivery of what is instant: a pickup code, virtual codes (``SKIP LOCKED``: racing
   orders take different free codes), or coupons (``coupons.actions.issue``).

Cancellation (member before fulfilment, cadre with a reason) wins one conditional status
update on the order row, then refunds the spend (``mall:refund:<order id>``) and gives the
stock back: exactly once, whoever presses the button how many times.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from gonghui.core import access, audit
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.mobiles import MobileError, normalize_mobile
from gonghui.coupons import actions as coupon_actions
from gonghui.coupons.models import CouponSource, CouponTemplate, TemplateStatus
from gonghui.mall.models import (
    CADRE_CANCELLABLE,
    LIVE,
    MEMBER_CANCELLABLE,
    Goods,
    GoodsImage,
    GoodsKind,
    GoodsStatus,
    Order,
    OrderStatus,
    VirtualCode,
)
from gonghui.members.models import Member, MemberStatus
from gonghui.members.verification import is_verified
from gonghui.orgs.models import Org
from gonghui.points import ledger
from gonghui.points.models import SourceType

KEY_MAX = 100
MAX_IMAGES = 6
IMAGE_MAX_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {"image/png", "image/jpeg", "image/webp"}
MAX_CODES_PER_UPLOAD = 5000
PICKUP_CODE_DIGITS = 8


class OutOfStock(Conflict):
    code = "MALL_OUT_OF_STOCK"


class LimitReached(Conflict):
    code = "MALL_LIMIT_REACHED"


class NotOnSale(Conflict):
    code = "MALL_NOT_ON_SALE"


class VerifiedOnly(Conflict):
    code = "MALL_VERIFIED_ONLY"


class NotCancellable(Conflict):
    code = "MALL_NOT_CANCELLABLE"


@dataclass(frozen=True)
class Placed:
    order: Order
    replayed: bool  # True when the key had already made this order (a retried request)


@dataclass(frozen=True)
class Cancelled:
    order: Order
    replayed: bool


@dataclass(frozen=True)
class Address:
    name: str
    mobile: str
    address: str


def _now() -> datetime:
    return timezone.now()


# --- goods ---------------------------------------------------------------------------------

GOODS_FIELDS = (
    "name",
    "description",
    "kind",
    "price_points",
    "per_member_limit",
    "verified_only",
    "sale_starts_at",
    "sale_ends_at",
    "pickup_place",
    "coupon_template_id",
)


def check_image(upload: Any) -> None:
    """PNG/JPEG/WebP, ≤ 2 MB, really an image (the same rules as a union's branding)."""
    from PIL import Image, UnidentifiedImageError

    if upload.size > IMAGE_MAX_BYTES:
        raise InvalidValue("MALL_IMAGE_TOO_LARGE", "商品图片不能超过 2 MB。")
    if getattr(upload, "content_type", None) not in IMAGE_TYPES:
        raise InvalidValue("MALL_IMAGE_TYPE", "商品图片只能是 PNG、JPEG 或 WebP。")
    try:
        with Image.open(upload) as image:
            image.verify()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidValue("MALL_IMAGE_INVALID", "商品图片不是有效的图片文件。") from exc
    finally:
        upload.seek(0)


def _clean_goods(values: dict[str, Any], org_path: str, *, kind_fixed: str | None = None) -> dict[str, Any]:
    data = {k: values[k] for k in GOODS_FIELDS if k in values}
    name = str(data.get("name", "") or "").strip()
    if "name" in data and not name:
        raise InvalidValue("MALL_NAME_REQUIRED", "请填写商品名称。")
    if "name" in data:
        data["name"] = name[:100]
    if "description" in data:
        data["description"] = str(data["description"] or "").strip()
    kind = data.get("kind", kind_fixed)
    if kind is not None and kind not in GoodsKind.values:
        raise InvalidValue("MALL_BAD_KIND", "商品类型无效。")
    if kind_fixed is not None and "kind" in data and data["kind"] != kind_fixed:
        raise InvalidValue("MALL_KIND_FIXED", "商品创建后不能更改类型。")
    if "price_points" in data:
        price = data["price_points"]
        if not isinstance(price, int) or isinstance(price, bool) or price <= 0:
            raise InvalidValue("MALL_BAD_PRICE", "兑换积分必须是正整数。")
    if "per_member_limit" in data:
        limit = data["per_member_limit"]
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 99:
            raise InvalidValue("MALL_BAD_LIMIT", "每人限兑须在 1–99 之间。")
    if "verified_only" in data:
        data["verified_only"] = bool(data["verified_only"])
    if "pickup_place" in data:
        data["pickup_place"] = str(data["pickup_place"] or "").strip()[:200]
    starts, ends = data.get("sale_starts_at"), data.get("sale_ends_at")
    if starts and ends and ends <= starts:
        raise InvalidValue("MALL_BAD_WINDOW", "结束兑换时间必须晚于开始时间。")
    if kind == GoodsKind.COUPON:
        template_id = data.get("coupon_template_id")
        if not template_id:
            raise InvalidValue("MALL_COUPON_TEMPLATE_REQUIRED", "券类商品须选择兑换的券。")
        template = CouponTemplate.objects.filter(pk=template_id).first()
        # The goods' audience must lie inside the template's: every buyer can be issued it.
        if template is None or not org_path.startswith(template.org_path):
            raise InvalidValue("MALL_COUPON_TEMPLATE_OUTSIDE", "只能兑换本级或上级工会的券。")
        if template.status != TemplateStatus.ACTIVE:
            raise InvalidValue("MALL_COUPON_TEMPLATE_INACTIVE", f"“{template.name}”已暂停或停用。")
    elif kind is not None:
        data["coupon_template_id"] = None
    if kind == GoodsKind.PICKUP and "pickup_place" in data and not data["pickup_place"]:
        raise InvalidValue("MALL_PICKUP_PLACE_REQUIRED", "到店自提的商品须填写领取地点。")
    return data


@transaction.atomic
def create_goods(
    *, actor: Any, org: Org, values: dict[str, Any], stock: int = 0, images: list[Any] | None = None
) -> Goods:
    access.require(actor, Perm.MALL_MANAGE, org.path)
    data = _clean_goods(values, org.path)
    for required in ("name", "kind", "price_points"):
        if required not in data:
            raise InvalidValue("MALL_FIELD_REQUIRED", "请填写商品名称、类型和兑换积分。")
    if not isinstance(stock, int) or stock < 0:
        raise InvalidValue("MALL_BAD_STOCK", "库存必须是不小于 0 的整数。")
    if data["kind"] == GoodsKind.VIRTUAL:
        stock = 0  # a virtual goods' stock is its codes: add_codes raises it
    goods = Goods.objects.create(org=org, org_path=org.path, stock=stock, created_by=actor, **data)
    if images:
        _add_images(goods, images)
    audit.record(
        "mall.goods_create",
        actor=actor,
        obj=goods,
        org=org,
        details={"name": goods.name, "kind": goods.kind, "price": goods.price_points, "stock": stock},
    )
    return goods


@transaction.atomic
def update_goods(*, actor: Any, goods: Goods, values: dict[str, Any]) -> Goods:
    access.require(actor, Perm.MALL_MANAGE, goods.org_path)
    locked = Goods.objects.select_for_update().get(pk=goods.pk)
    data = _clean_goods(values, locked.org_path, kind_fixed=locked.kind)
    data.pop("kind", None)
    changed = {k: v for k, v in data.items() if getattr(locked, k) != v}
    for name, value in changed.items():
        setattr(locked, name, value)
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        audit.record(
            "mall.goods_update",
            actor=actor,
            obj=locked,
            org=locked.org,
            details={"fields": sorted(changed)},
        )
    return locked


@transaction.atomic
def set_status(*, actor: Any, goods: Goods, status: str) -> Goods:
    access.require(actor, Perm.MALL_MANAGE, goods.org_path)
    if status not in GoodsStatus.values:
        raise InvalidValue("MALL_BAD_STATUS", "商品状态无效。")
    locked = Goods.objects.select_for_update().get(pk=goods.pk)
    if status == GoodsStatus.ON_SALE:
        if locked.kind == GoodsKind.PICKUP and not locked.pickup_place:
            raise InvalidValue("MALL_PICKUP_PLACE_REQUIRED", "到店自提的商品须填写领取地点。")
        if locked.stock == 0:
            raise InvalidValue("MALL_NO_STOCK", "请先设置库存（虚拟商品请先导入卡密）再上架。")
    if locked.status != status:
        before = locked.status
        locked.status = status
        locked.save(update_fields=["status", "updated_at"])
        audit.record(
            "mall.goods_status", actor=actor, obj=locked, org=locked.org, details={"from": before, "to": status}
        )
    return locked


@transaction.atomic
def set_stock(*, actor: Any, goods: Goods, stock: int) -> Goods:
    """Set the total stock. It can never go below what is already sold (a racing order may
    have just taken one: the conditional UPDATE decides, not the value the cadre saw)."""
    access.require(actor, Perm.MALL_MANAGE, goods.org_path)
    if goods.kind == GoodsKind.VIRTUAL:
        raise InvalidValue("MALL_VIRTUAL_STOCK", "虚拟商品的库存等于导入的卡密数量，请导入卡密。")
    if not isinstance(stock, int) or isinstance(stock, bool) or stock < 0:
        raise InvalidValue("MALL_BAD_STOCK", "库存必须是不小于 0 的整数。")
    if not Goods.objects.filter(pk=goods.pk, sold__lte=stock).update(stock=stock, updated_at=_now()):
        sold = Goods.objects.values_list("sold", flat=True).get(pk=goods.pk)
        raise Conflict("MALL_STOCK_BELOW_SOLD", f"库存不能少于已兑换的 {sold} 件。")
    fresh = Goods.objects.select_related("org").get(pk=goods.pk)
    audit.record("mall.stock", actor=actor, obj=fresh, org=fresh.org, details={"stock": stock})
    return fresh


def _add_images(goods: Goods, uploads: list[Any]) -> list[GoodsImage]:
    have = goods.images.count()
    if have + len(uploads) > MAX_IMAGES:
        raise InvalidValue("MALL_TOO_MANY_IMAGES", f"每件商品最多 {MAX_IMAGES} 张图片。")
    for upload in uploads:
        check_image(upload)
    made = []
    for i, upload in enumerate(uploads):
        image = GoodsImage(goods=goods, position=have + i)
        image.image.save(upload.name, upload, save=False)
        image.save()
        made.append(image)
    return made


@transaction.atomic
def add_images(*, actor: Any, goods: Goods, uploads: list[Any]) -> list[GoodsImage]:
    access.require(actor, Perm.MALL_MANAGE, goods.org_path)
    made = _add_images(goods, uploads)
    audit.record("mall.images", actor=actor, obj=goods, org=goods.org, details={"added": len(made)})
    return made


@transaction.atomic
def remove_image(*, actor: Any, image: GoodsImage) -> None:
    goods = image.goods
    access.require(actor, Perm.MALL_MANAGE, goods.org_path)
    image.delete()
    audit.record("mall.images", actor=actor, obj=goods, org=goods.org, details={"removed": 1})


def parse_codes(text: str) -> list[str]:
    """One code a line (commas and blanks also separate), duplicates dropped, order kept."""
    seen: dict[str, None] = {}
    for raw in text.replace(",", "\n").replace("，", "\n").splitlines():
        code = raw.strip()
        if code:
            if len(code) > 64:
                raise InvalidValue("MALL_CODE_TOO_LONG", f"卡密不能超过 64 个字符：{code[:12]}…")
            seen.setdefault(code, None)
    return list(seen)


@transaction.atomic
def add_codes(*, actor: Any, goods: Goods, codes: list[str]) -> int:
    """Import card codes of a virtual goods; codes already there are skipped. Stock rises
    by the number added. Returns that number."""
    access.require(actor, Perm.MALL_MANAGE, goods.org_path)
    if goods.kind != GoodsKind.VIRTUAL:
        raise InvalidValue("MALL_NOT_VIRTUAL", "只有虚拟商品可以导入卡密。")
    if not codes:
        raise InvalidValue("MALL_CODES_EMPTY", "请粘贴卡密，每行一个。")
    if len(codes) > MAX_CODES_PER_UPLOAD:
        raise InvalidValue("MALL_CODES_TOO_MANY", f"一次最多导入 {MAX_CODES_PER_UPLOAD} 个卡密。")
    locked = Goods.objects.select_for_update().get(pk=goods.pk)
    existing = set(VirtualCode.objects.filter(goods=locked, code__in=codes).values_list("code", flat=True))
    new = [VirtualCode(goods=locked, code=c) for c in codes if c not in existing]
    VirtualCode.objects.bulk_create(new)
    if new:
        Goods.objects.filter(pk=locked.pk).update(stock=F("stock") + len(new), updated_at=_now())
    audit.record(
        "mall.codes",
        actor=actor,
        obj=locked,
        org=locked.org,
        details={"added": len(new), "skipped": len(codes) - len(new)},
    )
    return len(new)


# --- placing an order ----------------------------------------------------------------------


def check_key(key: str) -> None:
    if not key or len(key) > KEY_MAX:
        raise InvalidValue("IDEMPOTENCY_KEY_REQUIRED", f"下单必须带幂等键（1–{KEY_MAX} 个字符）。")


def refusal(goods: Goods, member: Member, *, quantity: int = 1, now: datetime | None = None) -> DomainError | None:
    """Why ``member`` may not order ``goods`` now (without counting the limit), or None."""
    now = now or _now()
    if goods.status != GoodsStatus.ON_SALE:
        return NotOnSale(message=f"“{goods.name}”未上架或已下架。")
    if goods.sale_starts_at and now < goods.sale_starts_at:
        local = timezone.localtime(goods.sale_starts_at).strftime("%Y-%m-%d %H:%M")
        return NotOnSale("MALL_NOT_STARTED", f"“{goods.name}”将于 {local} 开始兑换。")
    if goods.sale_ends_at and now >= goods.sale_ends_at:
        return NotOnSale("MALL_ENDED", f"“{goods.name}”的兑换已结束。")
    if member.status not in (MemberStatus.ACTIVE, MemberStatus.RETAINED) or member.erased_at is not None:
        return Conflict("MALL_MEMBER_INELIGIBLE", "只有在册会员可以兑换商品。")
    if not member.org_path.startswith(goods.org_path):
        return InvalidValue("MALL_MEMBER_OUTSIDE", "该商品不面向您所在的工会。")
    if goods.verified_only and not is_verified(member):
        return VerifiedOnly(message="此商品仅限已实名认证的会员兑换，请先完成实名认证。")
    if quantity < 1 or quantity > goods.per_member_limit:
        return InvalidValue("MALL_BAD_QUANTITY", f"兑换数量须在 1–{goods.per_member_limit} 之间。")
    return None


def held_by(goods: Goods, member: Member) -> int:
    """How many of ``goods`` the member holds in live (not cancelled) orders."""
    total = Order.objects.filter(goods=goods, member=member, status__in=LIVE).aggregate(n=Sum("quantity"))["n"]
    return int(total or 0)


def clean_address(address: Address | None) -> Address:
    if address is None or not (address.name.strip() and address.mobile.strip() and address.address.strip()):
        raise InvalidValue("MALL_ADDRESS_REQUIRED", "快递配送的商品请填写收货人、联系电话和收货地址。")
    try:
        mobile = normalize_mobile(address.mobile)
    except MobileError as exc:
        raise InvalidValue("MALL_ADDRESS_MOBILE", "联系电话不是有效的手机号。") from exc
    return Address(address.name.strip()[:50], mobile, address.address.strip()[:200])


def _replay_order(key: str, member: Member, goods: Goods, quantity: int) -> Placed | None:
    order = Order.objects.select_related("goods").filter(idempotency_key=key).first()
    if order is None:
        return None
    if order.member_id != member.pk or order.goods_id != goods.pk or order.quantity != quantity:
        raise Conflict("IDEMPOTENCY_KEY_REUSED", "该幂等键已用于另一笔订单。", key=key)
    return Placed(order, True)


def _new_pickup_code() -> str:
    return f"{secrets.randbelow(10**PICKUP_CODE_DIGITS):0{PICKUP_CODE_DIGITS}d}"


def _create_order(**values: Any) -> Order:
    """Insert the order; a pickup code that collides with a live one just draws another."""
    for _attempt in range(8):
        code = _new_pickup_code() if values.get("status") == OrderStatus.PICKUP_READY else None
        try:
            with transaction.atomic():
                return Order.objects.create(pickup_code=code, **values)
        except IntegrityError:
            if Order.objects.filter(idempotency_key=values["idempotency_key"]).exists():
                raise Conflict("IDEMPOTENCY_KEY_REUSED", "该幂等键已用于另一笔订单。") from None
    raise RuntimeError("could not draw a free pickup code")


def _assign_codes(order: Order, goods: Goods, quantity: int) -> None:
    # SKIP LOCKED: two orders racing for codes take different free rows instead of queueing
    # on the same one (the stock UPDATE already guarantees there are enough).
    free = list(
        VirtualCode.objects.select_for_update(skip_locked=True)
        .filter(goods=goods, order__isnull=True)
        .order_by("id")
        .values_list("pk", flat=True)[:quantity]
    )
    if (
        len(free) < quantity
        or VirtualCode.objects.filter(pk__in=free, order__isnull=True).update(order=order) != quantity
    ):
        raise Conflict("MALL_CODES_EXHAUSTED", f"“{goods.name}”的卡密已发完，请联系上架工会。")


def place_order(
    *,
    member: Member,
    goods: Goods,
    key: str,
    quantity: int = 1,
    address: Address | None = None,
    actor: Any = None,
) -> Placed:
    """Order ``quantity`` of ``goods`` for ``member``: stock, points and delivery, all or nothing.

    ``key`` identifies the request (``api:<user>:<Idempotency-Key>``, ``portal:<member>:<nonce>``):
    the same key returns the same order, whatever happened to the first response.
    """
    check_key(key)
    with transaction.atomic():
        ledger.lock_account(member)
        replay = _replay_order(key, member, goods, quantity)
        if replay:
            return replay
        fresh = Goods.objects.select_related("org", "coupon_template").get(pk=goods.pk)
        buyer = Member.objects.select_related("org").get(pk=member.pk)
        now = _now()
        refused = refusal(fresh, buyer, quantity=quantity, now=now)
        if refused:
            raise refused
        shipping = clean_address(address) if fresh.kind == GoodsKind.DELIVERY else None
        held = held_by(fresh, buyer)
        if held + quantity > fresh.per_member_limit:
            raise LimitReached(message=f"每人限兑 {fresh.per_member_limit} 件，您已兑换 {held} 件。")
        if not Goods.objects.filter(pk=fresh.pk, sold__lte=F("stock") - quantity).update(sold=F("sold") + quantity):
            raise OutOfStock(message=f"“{fresh.name}”已兑完。")
        status = {
            GoodsKind.PICKUP: OrderStatus.PICKUP_READY,
            GoodsKind.DELIVERY: OrderStatus.PLACED,
            GoodsKind.VIRTUAL: OrderStatus.DELIVERED_CODE,
            GoodsKind.COUPON: OrderStatus.COUPON_ISSUED,
        }[GoodsKind(fresh.kind)]
        instant = fresh.kind in (GoodsKind.VIRTUAL, GoodsKind.COUPON)
        order = _create_order(
            goods=fresh,
            member=buyer,
            org_path=fresh.org_path,
            quantity=quantity,
            points=fresh.price_points * quantity,
            status=status,
            idempotency_key=key,
            recipient_name=shipping.name if shipping else "",
            recipient_mobile=shipping.mobile if shipping else "",
            address=shipping.address if shipping else "",
            fulfilled_at=now if instant else None,
        )
        movement = ledger.spend(
            member=buyer,
            amount=order.points,
            key=f"mall:order:{key}",
            source_type=SourceType.ORDER,
            source_id=str(order.pk),
            reason=f"兑换：{fresh.name}" + (f" ×{quantity}" if quantity > 1 else ""),
        )
        order.spend_entry = movement.entry
        order.save(update_fields=["spend_entry", "updated_at"])
        if fresh.kind == GoodsKind.VIRTUAL:
            _assign_codes(order, fresh, quantity)
        elif fresh.kind == GoodsKind.COUPON:
            _issue_coupons(order, fresh, buyer, quantity)
        audit.record(
            "mall.order",
            actor=actor if getattr(actor, "pk", None) else buyer.user,
            obj=order,
            org=fresh.org,
            details={"goods": fresh.pk, "member": buyer.pk, "quantity": quantity, "points": order.points},
            actor_label="" if (getattr(actor, "pk", None) or buyer.user_id) else f"会员 {buyer.pk}",
        )
    return Placed(order, False)


def _issue_coupons(order: Order, goods: Goods, member: Member, quantity: int) -> None:
    template = goods.coupon_template
    if template is None:  # the check constraint forbids it; say so plainly if it ever happens
        raise Conflict("MALL_COUPON_TEMPLATE_MISSING", f"“{goods.name}”没有关联券模板，无法兑换。")
    for i in range(quantity):
        coupon_actions.issue(
            template,
            member,
            source=CouponSource.POINTS,
            source_id=str(order.pk),
            key=f"mall:coupon:{order.pk}:{i}",
        )


# --- cancelling ----------------------------------------------------------------------------


def _cancel(order: Order, *, allowed: tuple[str, ...], actor: Any, reason: str, key: str, by_member: bool) -> Cancelled:
    with transaction.atomic():
        ledger.lock_account(order.member)  # the same lock order as place_order: account first
        now = _now()
        # The conditional UPDATE is the gate: of N racing cancellations exactly one matches.
        won = Order.objects.filter(pk=order.pk, status__in=allowed).update(
            status=OrderStatus.CANCELLED,
            cancelled_at=now,
            cancelled_by=actor if getattr(actor, "pk", None) else None,
            cancel_reason=reason[:200],
            cancel_key=key,
            pickup_code=None,
            updated_at=now,
        )
        fresh = Order.objects.select_related("goods__org", "spend_entry", "member").get(pk=order.pk)
        if not won:
            if fresh.status == OrderStatus.CANCELLED and key and fresh.cancel_key == key:
                return Cancelled(fresh, True)
            if fresh.status == OrderStatus.CANCELLED:
                raise NotCancellable(message="该订单已取消，积分已退回。")
            raise NotCancellable(message=f"订单{fresh.get_status_display()}，不能取消。")
        if fresh.spend_entry is None:  # every placed order has one (check_ledgers proves it)
            raise Conflict("MALL_ORDER_NO_SPEND", "订单缺少积分消费记录，无法退回。")
        movement = ledger.refund(
            spend_entry=fresh.spend_entry,
            key=f"mall:refund:{fresh.pk}",
            reason=f"取消兑换：{fresh.goods.name}",
        )
        if not Goods.objects.filter(pk=fresh.goods_id, sold__gte=fresh.quantity).update(
            sold=F("sold") - fresh.quantity
        ):
            raise Conflict("MALL_STOCK_MISMATCH", "商品已兑换数量与订单不一致，请联系管理员。")
        fresh.refund_entry = movement.entry
        fresh.save(update_fields=["refund_entry", "updated_at"])
        audit.record(
            "mall.cancel",
            actor=actor if getattr(actor, "pk", None) else None,
            obj=fresh,
            org=fresh.goods.org,
            details={"by": "member" if by_member else "cadre", "reason": reason[:200], "points": fresh.points},
            actor_label="" if getattr(actor, "pk", None) else f"会员 {fresh.member_id}",
        )
    return Cancelled(fresh, False)


def cancel_by_member(*, member: Member, order: Order, key: str = "") -> Cancelled:
    """The member withdraws an order that has not been fulfilled yet; points and stock return."""
    if order.member_id != member.pk:
        raise NotCancellable("MALL_NOT_YOURS", "这不是您的订单。")
    return _cancel(
        order, allowed=MEMBER_CANCELLABLE, actor=member.user, reason="会员取消", key=key[:160], by_member=True
    )


def cancel_by_cadre(*, actor: Any, order: Order, reason: str, key: str = "") -> Cancelled:
    """A cadre cancels (out of stock on the shelf, a parcel returned): reason required."""
    access.require(actor, Perm.MALL_MANAGE, order.org_path)
    if not (reason or "").strip():
        raise InvalidValue("MALL_REASON_REQUIRED", "请填写取消原因（会员可见）。")
    return _cancel(order, allowed=CADRE_CANCELLABLE, actor=actor, reason=reason.strip(), key=key[:160], by_member=False)


# --- fulfilment ----------------------------------------------------------------------------


def _move(order: Order, *, frm: tuple[str, ...], to: str, **values: Any) -> bool:
    return bool(Order.objects.filter(pk=order.pk, status__in=frm).update(status=to, updated_at=_now(), **values))


@transaction.atomic
def ship(*, actor: Any, order: Order, carrier: str, tracking_number: str) -> Order:
    access.require(actor, Perm.MALL_FULFIL, order.org_path)
    carrier, tracking_number = (carrier or "").strip(), (tracking_number or "").strip()
    if not carrier or not tracking_number:
        raise InvalidValue("MALL_TRACKING_REQUIRED", "请填写快递公司和快递单号。")
    now = _now()
    if not _move(
        order,
        frm=(OrderStatus.PLACED,),
        to=OrderStatus.SHIPPED,
        carrier=carrier[:50],
        tracking_number=tracking_number[:64],
        fulfilled_by=actor,
        fulfilled_at=now,
    ):
        order.refresh_from_db()
        raise Conflict("MALL_BAD_STATE", f"订单{order.get_status_display()}，不能发货。")
    fresh = Order.objects.select_related("goods__org").get(pk=order.pk)
    audit.record(
        "mall.ship",
        actor=actor,
        obj=fresh,
        org=fresh.goods.org,
        details={"carrier": carrier[:50], "tracking_number": tracking_number[:64]},
    )
    return fresh


def normalise_pickup_code(raw: str) -> str:
    """Digits of what was typed or scanned (the QR holds ``GHMALL:<code>``)."""
    text = (raw or "").strip().upper()
    if text.startswith("GHMALL:"):
        text = text[len("GHMALL:") :]
    return "".join(ch for ch in text if ch.isdigit())


def pickup_qr_content(order: Order) -> str:
    return f"GHMALL:{order.pickup_code}"


@transaction.atomic
def confirm_pickup(*, actor: Any, raw_code: str) -> Order:
    """A cadre hands the goods over against the member's pickup code (typed or scanned).

    Only orders of goods inside the cadre's ``mall.fulfil`` subtree are found; any other
    code reads as unknown, so nothing leaks about other districts.
    """
    code = normalise_pickup_code(raw_code)
    if len(code) != PICKUP_CODE_DIGITS:
        raise InvalidValue("MALL_PICKUP_CODE_FORMAT", f"取货码是 {PICKUP_CODE_DIGITS} 位数字。")
    order = (
        access.scope(actor, Order.objects.select_related("goods__org", "member"), Perm.MALL_FULFIL)
        .filter(Q(pickup_code=code))
        .first()
    )
    if order is None:
        raise InvalidValue("MALL_PICKUP_CODE_UNKNOWN", "取货码无效，或不是本工会的订单。")
    now = _now()
    if not _move(
        order,
        frm=(OrderStatus.PICKUP_READY,),
        to=OrderStatus.PICKED_UP,
        fulfilled_by=actor,
        fulfilled_at=now,
        completed_at=now,
    ):
        order.refresh_from_db()
        raise Conflict("MALL_BAD_STATE", f"订单{order.get_status_display()}，不能再次领取。")
    fresh = Order.objects.select_related("goods__org", "member").get(pk=order.pk)
    audit.record("mall.pickup", actor=actor, obj=fresh, org=fresh.goods.org, details={"member": fresh.member_id})
    return fresh


@transaction.atomic
def confirm_received(*, order: Order, member: Member | None = None, actor: Any = None) -> Order:
    """The member (or a cadre for them) confirms a shipped parcel arrived."""
    if member is not None:
        if order.member_id != member.pk:
            raise Conflict("MALL_NOT_YOURS", "这不是您的订单。")
        who: Any = member.user
    else:
        access.require(actor, Perm.MALL_FULFIL, order.org_path)
        who = actor
    if not _move(order, frm=(OrderStatus.SHIPPED,), to=OrderStatus.RECEIVED, completed_at=_now()):
        order.refresh_from_db()
        raise Conflict("MALL_BAD_STATE", f"订单{order.get_status_display()}，不能确认收货。")
    fresh = Order.objects.select_related("goods__org").get(pk=order.pk)
    audit.record(
        "mall.receive",
        actor=who if getattr(who, "pk", None) else None,
        obj=fresh,
        org=fresh.goods.org,
        details={"by": "member" if member is not None else "cadre"},
        actor_label="" if getattr(who, "pk", None) else "系统",
    )
    return fresh


def auto_receive(*, days: int | None = None, batch: int = 500) -> int:
    """Shipped parcels nobody confirmed within ``MALL_AUTO_RECEIVE_DAYS`` count as received
    (自动确认收货). Each order moves by its own conditional UPDATE: a rerun does nothing twice."""
    days = days if days is not None else int(getattr(settings, "MALL_AUTO_RECEIVE_DAYS", 15))
    cutoff = _now() - timedelta(days=days)
    done = 0
    while True:
        ids = list(
            Order.objects.filter(status=OrderStatus.SHIPPED, fulfilled_at__lte=cutoff)
            .order_by("id")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return done
        for pk in ids:
            with transaction.atomic():
                moved = Order.objects.filter(pk=pk, status=OrderStatus.SHIPPED).update(
                    status=OrderStatus.RECEIVED, completed_at=_now(), updated_at=_now()
                )
                if moved:
                    order = Order.objects.select_related("goods__org").get(pk=pk)
                    audit.record(
                        "mall.receive",
                        obj=order,
                        org=order.goods.org,
                        details={"by": "auto", "days": days},
                        actor_label="自动确认收货",
                    )
                    done += 1
