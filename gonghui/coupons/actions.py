"""Every change to coupons: merchants and their accounts, templates and stock, issuing,
redemption (核销), revocation, expiry, and the bulk welfare issue.

``issue`` is the one way a coupon comes into being, whoever calls it (a cadre, a bulk
welfare job, a lottery prize, a mall order, a ticket rush). Inside one transaction it:

1. returns the coupon already made under the same idempotency key (a replay);
2. locks the member's row, so two issues to one member run one after the other and the
   per-member limit is counted with nobody else writing; then re-checks the key (a twin
   request that held the lock first has committed by now);
3. takes one unit of stock with ``UPDATE … SET issued = issued + 1 WHERE issued <
   quantity`` — a single statement, so two issuers never both take the last coupon;
4. writes the coupon.

Lock order is member → template everywhere (the bulk job takes its own row first, then
calls ``issue``); callers that hold a points account lock take it before calling.

``redeem`` flips a coupon with one conditional UPDATE on its own row — ``status='issued'``
and the validity window containing now, and the template accepting the merchant — and
writes the one ``Redemption`` row (unique per coupon). Two merchants scanning one coupon at
the same instant: PostgreSQL makes the second UPDATE wait for the first, re-reads the row,
finds it redeemed and updates nothing; the loser is told when and where it was redeemed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from gonghui.core import access, audit, jobs, pii
from gonghui.core.access import Perm
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.mobiles import normalize_mobile
from gonghui.core.models import User
from gonghui.coupons import tokens
from gonghui.coupons.models import (
    BulkIssue,
    BulkIssueStatus,
    Coupon,
    CouponCategory,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    Merchant,
    MerchantKind,
    MerchantStatus,
    MerchantUser,
    Redemption,
    TemplateStatus,
    ValidityKind,
)
from gonghui.members.models import EmploymentStatus, Member, MemberStatus, NewEmploymentGroup, VerificationStatus
from gonghui.members.selectors import in_subtree
from gonghui.members.verification import is_verified
from gonghui.orgs.models import Org

log = logging.getLogger("gonghui.coupons")


# --- errors ----------------------------------------------------------------------------------


class CouponRefused(Conflict):
    """A coupon that exists but cannot be redeemed here and now."""

    code = "COUPON_REFUSED"

    def __init__(self, code: str, message: str, *, coupon: Coupon | None = None) -> None:
        super().__init__(code, message)
        self.coupon = coupon  # for the audit row; never part of the response


class OutOfStock(Conflict):
    code = "COUPON_OUT_OF_STOCK"


class LimitReached(Conflict):
    code = "COUPON_LIMIT_REACHED"


class NotAMerchant(DomainError):
    code = "COUPON_MERCHANT_REQUIRED"
    status = 403


class CouponNotFound(DomainError):
    code = "COUPON_NOT_FOUND"
    status = 404


class CheckThrottled(DomainError):
    code = "COUPON_CHECK_THROTTLED"
    status = 429


def local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


# --- merchants -------------------------------------------------------------------------------

MERCHANT_FIELDS = ("name", "kind", "address", "contact", "status")


def _clean_merchant(values: dict[str, Any]) -> dict[str, Any]:
    cleaned = {k: (values.get(k) or "").strip() if isinstance(values.get(k), str) else values.get(k) for k in values}
    cleaned = {k: v for k, v in cleaned.items() if k in MERCHANT_FIELDS}
    if "name" in cleaned and not cleaned["name"]:
        raise InvalidValue("MERCHANT_NAME_REQUIRED", "请填写商户名称。")
    if "kind" in cleaned and cleaned["kind"] not in MerchantKind.values:
        raise InvalidValue("MERCHANT_BAD_KIND", "商户类型无效。")
    if "status" in cleaned and cleaned["status"] not in MerchantStatus.values:
        raise InvalidValue("MERCHANT_BAD_STATUS", "商户状态无效。")
    return cleaned


@transaction.atomic
def create_merchant(*, actor: Any, org: Org, values: dict[str, Any]) -> Merchant:
    access.require(actor, Perm.COUPON_MANAGE, org.path)
    cleaned = _clean_merchant({"kind": MerchantKind.OTHER, **values})
    if not cleaned.get("name"):
        raise InvalidValue("MERCHANT_NAME_REQUIRED", "请填写商户名称。")
    merchant = Merchant.objects.create(org=org, org_path=org.path, **cleaned)
    audit.record("merchant.create", actor=actor, obj=merchant, org=org, details={"name": merchant.name})
    return merchant


@transaction.atomic
def update_merchant(*, actor: Any, merchant: Merchant, values: dict[str, Any]) -> Merchant:
    access.require(actor, Perm.COUPON_MANAGE, merchant.org_path)
    locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
    cleaned = _clean_merchant(values)
    changed = {k: v for k, v in cleaned.items() if getattr(locked, k) != v}
    for key, value in changed.items():
        setattr(locked, key, value)
    if changed:
        locked.save(update_fields=[*changed, "updated_at"])
        audit.record("merchant.update", actor=actor, obj=locked, org=locked.org, details={"changed": sorted(changed)})
    return locked


@transaction.atomic
def add_merchant_user(*, actor: Any, merchant: Merchant, mobile: str, name: str = "") -> MerchantUser:
    """Link the account with this mobile (created if there is none: it signs in by SMS code)."""
    access.require(actor, Perm.COUPON_MANAGE, merchant.org_path)
    number = normalize_mobile(mobile)
    user = User.objects.filter(mobile=number).first()
    if user is None:
        username = number if not User.objects.filter(username=number).exists() else f"m{number}"
        user = User.objects.create_user(username, mobile=number, name=(name or "").strip()[:64])
    link = MerchantUser.objects.select_for_update().filter(user=user).first()
    if link is not None and link.merchant_id != merchant.pk and link.is_active:
        raise Conflict("MERCHANT_USER_ELSEWHERE", "该手机号的账号已是另一家商户的核销员，请先在那家商户移除。")
    if link is not None and link.merchant_id == merchant.pk and link.is_active:
        raise Conflict("MERCHANT_USER_EXISTS", "该账号已是本商户的核销员。")
    if link is None:
        link = MerchantUser.objects.create(merchant=merchant, user=user, added_by=actor)
    else:
        link.merchant = merchant
        link.is_active = True
        link.added_by = actor
        link.save(update_fields=["merchant", "is_active", "added_by"])
    audit.record(
        "merchant.user_add",
        actor=actor,
        obj=merchant,
        org=merchant.org,
        details={"user": user.pk, "mobile": pii.mask_mobile(number)},
    )
    return link


@transaction.atomic
def remove_merchant_user(*, actor: Any, link: MerchantUser) -> MerchantUser:
    access.require(actor, Perm.COUPON_MANAGE, link.merchant.org_path)
    locked = MerchantUser.objects.select_for_update(of=("self",)).select_related("merchant").get(pk=link.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        audit.record(
            "merchant.user_remove",
            actor=actor,
            obj=locked.merchant,
            org=locked.merchant.org,
            details={"user": locked.user_id},
        )
    return locked


def merchant_link(user: Any) -> MerchantUser | None:
    """The user's active link to a merchant, or None."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    return MerchantUser.objects.select_related("merchant").filter(user_id=user.pk, is_active=True).first()


# --- templates -------------------------------------------------------------------------------

TEMPLATE_FIELDS = (
    "name",
    "category",
    "face_value_fen",
    "benefit",
    "terms",
    "validity_kind",
    "valid_from",
    "valid_until",
    "valid_days",
    "per_member_limit",
    "verified_only",
    "status",
)


def _clean_template(values: dict[str, Any]) -> dict[str, Any]:
    data = {k: values[k] for k in TEMPLATE_FIELDS if k in values}
    for key in ("name", "benefit", "terms"):
        if key in data:
            data[key] = (data[key] or "").strip()
    if not data.get("name"):
        raise InvalidValue("COUPON_NAME_REQUIRED", "请填写券名称。")
    if data.get("category", CouponCategory.OTHER) not in CouponCategory.values:
        raise InvalidValue("COUPON_BAD_CATEGORY", "券类别无效。")
    if data.get("status", TemplateStatus.ACTIVE) not in TemplateStatus.values:
        raise InvalidValue("COUPON_BAD_STATUS", "状态无效。")
    value = data.get("face_value_fen")
    if value is not None and (not isinstance(value, int) or value < 0):
        raise InvalidValue("COUPON_BAD_VALUE", "面值必须是非负整数（单位：分）。")
    if not value and not data.get("benefit"):
        raise InvalidValue("COUPON_VALUE_REQUIRED", "请填写面值，或用文字说明券的权益（如“双人温泉票一张”）。")
    if int(data.get("per_member_limit") or 0) < 1:
        raise InvalidValue("COUPON_BAD_LIMIT", "每人限领至少为 1 张。")
    kind = data.get("validity_kind", ValidityKind.FIXED)
    if kind == ValidityKind.FIXED:
        start, end = data.get("valid_from"), data.get("valid_until")
        if not start or not end or start >= end:
            raise InvalidValue("COUPON_BAD_VALIDITY", "固定有效期须填写生效时间和失效时间，且失效时间晚于生效时间。")
        data["valid_days"] = None
    elif kind == ValidityKind.RELATIVE:
        if int(data.get("valid_days") or 0) < 1:
            raise InvalidValue("COUPON_BAD_VALIDITY", "领取后有效天数至少为 1 天。")
        data["valid_from"] = data["valid_until"] = None
    else:
        raise InvalidValue("COUPON_BAD_VALIDITY", "有效期方式无效。")
    return data


def merchants_for(org_path: str) -> QuerySet[Merchant]:
    """Merchants a template of the union at ``org_path`` may name: signed by that union, a
    union above it, or a union below it."""
    ancestors = [org_path[:n] for n in range(Org.steplen, len(org_path) + 1, Org.steplen)]
    return Merchant.objects.filter(Q(org_path__in=ancestors) | Q(org_path__startswith=org_path))


def _check_merchants(org_path: str, merchant_ids: list[int]) -> list[Merchant]:
    ids = sorted({int(i) for i in merchant_ids})
    found = list(merchants_for(org_path).filter(pk__in=ids))
    if len(found) != len(ids):
        raise InvalidValue("COUPON_MERCHANT_OUTSIDE", "所选商户不在本工会或上级、下级工会签约的商户之中。")
    return found


@transaction.atomic
def create_template(
    *, actor: Any, org: Org, values: dict[str, Any], merchant_ids: list[int], quantity: int
) -> CouponTemplate:
    access.require(actor, Perm.COUPON_MANAGE, org.path)
    data = _clean_template(values)
    if int(quantity) < 1:
        raise InvalidValue("COUPON_BAD_QUANTITY", "发行总量至少为 1 张。")
    merchants = _check_merchants(org.path, merchant_ids)
    template = CouponTemplate.objects.create(
        org=org,
        org_path=org.path,
        quantity=int(quantity),
        created_by=actor if getattr(actor, "pk", None) else None,
        **data,
    )
    template.merchants.set(merchants)
    audit.record(
        "coupon.template_create",
        actor=actor,
        obj=template,
        org=org,
        details={"quantity": template.quantity, "merchants": [m.pk for m in merchants]},
    )
    return template


@transaction.atomic
def update_template(
    *, actor: Any, template: CouponTemplate, values: dict[str, Any], merchant_ids: list[int]
) -> CouponTemplate:
    """Change what a template says. Coupons already issued keep the validity they got."""
    access.require(actor, Perm.COUPON_MANAGE, template.org_path)
    locked = CouponTemplate.objects.select_for_update().get(pk=template.pk)
    current = {k: getattr(locked, k) for k in TEMPLATE_FIELDS}
    data = _clean_template({**current, **values})
    merchants = _check_merchants(locked.org_path, merchant_ids)
    changed = sorted(k for k, v in data.items() if getattr(locked, k) != v)
    for key in changed:
        setattr(locked, key, data[key])
    locked.save(update_fields=[*changed, "updated_at"])
    before = set(locked.merchants.values_list("pk", flat=True))
    after = {m.pk for m in merchants}
    if before != after:
        locked.merchants.set(merchants)
        changed.append("merchants")
    if changed:
        audit.record("coupon.template_update", actor=actor, obj=locked, org=locked.org, details={"changed": changed})
    return locked


@transaction.atomic
def set_quantity(*, actor: Any, template: CouponTemplate, quantity: int) -> CouponTemplate:
    """Raise or lower the stock; never below what is already issued (one conditional UPDATE)."""
    access.require(actor, Perm.COUPON_MANAGE, template.org_path)
    if int(quantity) < 1:
        raise InvalidValue("COUPON_BAD_QUANTITY", "发行总量至少为 1 张。")
    before = CouponTemplate.objects.filter(pk=template.pk).values_list("quantity", flat=True).first()
    if not CouponTemplate.objects.filter(pk=template.pk, issued__lte=int(quantity)).update(quantity=int(quantity)):
        issued = CouponTemplate.objects.filter(pk=template.pk).values_list("issued", flat=True).first()
        raise Conflict("COUPON_STOCK_BELOW_ISSUED", f"发行总量不能少于已发放的 {issued} 张。")
    template.refresh_from_db()
    audit.record(
        "coupon.stock", actor=actor, obj=template, org=template.org, details={"from": before, "to": template.quantity}
    )
    return template


# --- issuing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    coupon: Coupon
    replayed: bool  # True when the key had already made this coupon


def _check_key(key: str) -> None:
    if not key or len(key) > 128:
        raise InvalidValue("IDEMPOTENCY_KEY_REQUIRED", "发券必须带幂等键（1–128 个字符）。")


def _replay_issue(key: str, template: CouponTemplate, member: Member) -> Issued | None:
    coupon = Coupon.objects.select_related("template").filter(idempotency_key=key).first()
    if coupon is None:
        return None
    if coupon.template_id != template.pk or coupon.member_id != member.pk:
        raise Conflict("IDEMPOTENCY_KEY_REUSED", "该幂等键已用于另一张券。", key=key)
    return Issued(coupon, True)


def _validity(template: CouponTemplate, now: datetime) -> tuple[datetime, datetime]:
    if template.validity_kind == ValidityKind.RELATIVE:
        return now, now + timedelta(days=int(template.valid_days or 1))
    if template.valid_from is None or template.valid_until is None:
        raise InvalidValue("COUPON_BAD_VALIDITY", "券模板缺少有效期。")
    return template.valid_from, template.valid_until


def _check_issuable(template: CouponTemplate, member: Member, now: datetime) -> None:
    if template.status != TemplateStatus.ACTIVE:
        raise Conflict("COUPON_TEMPLATE_INACTIVE", f"“{template.name}”已暂停或停用，不能发放。")
    if template.validity_kind == ValidityKind.FIXED and template.valid_until and template.valid_until <= now:
        raise Conflict("COUPON_TEMPLATE_ENDED", f"“{template.name}”的有效期已过，不能再发放。")
    if member.status == MemberStatus.LEFT or member.erased_at is not None:
        raise Conflict("COUPON_MEMBER_INELIGIBLE", "已退会的会员不能领券。")
    if not member.org_path.startswith(template.org_path):
        raise InvalidValue("COUPON_MEMBER_OUTSIDE", "此券只发给发券工会范围内的会员。")
    if template.verified_only and not is_verified(member):
        raise Conflict("COUPON_VERIFIED_ONLY", "此券仅限已实名认证的会员领取，请先完成实名认证。")


def _create_coupon(**values: Any) -> Coupon:
    """Insert with a fresh random code; a code collision (one in 2^60) just draws another."""
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return Coupon.objects.create(code=tokens.new_code(), **values)
        except IntegrityError:
            if Coupon.objects.filter(idempotency_key=values["idempotency_key"]).exists():
                raise Conflict("IDEMPOTENCY_KEY_REUSED", "该幂等键已用于另一张券。") from None
    raise RuntimeError("could not draw a free coupon code")


def issue(
    template: CouponTemplate,
    member: Member,
    *,
    source: str,
    source_id: str = "",
    key: str,
    actor: Any = None,
    record_audit: bool = True,
) -> Issued:
    """Give ``member`` one coupon of ``template``; the same ``key`` always returns the same coupon.

    Callers decide who may issue (console and API check ``coupon.manage``; the mall and the
    lottery issue on the member's own behalf). Call it inside your own transaction to make
    the coupon part of a larger change (a mall order): it nests as a savepoint.
    ``record_audit=False`` is for the bulk job, which audits the whole run instead.
    """
    _check_key(key)
    if source not in CouponSource.values:
        raise InvalidValue("COUPON_BAD_SOURCE", "发券来源无效。")
    with transaction.atomic():
        replay = _replay_issue(key, template, member)
        if replay:
            return replay
        locked = Member.objects.select_for_update().filter(pk=member.pk).first()
        if locked is None:
            raise Conflict("COUPON_MEMBER_INELIGIBLE", "会员不存在。")
        replay = _replay_issue(key, template, locked)  # a twin holding the lock first has committed
        if replay:
            return replay
        fresh = CouponTemplate.objects.select_related("org").get(pk=template.pk)
        now = timezone.now()
        _check_issuable(fresh, locked, now)
        held = Coupon.objects.filter(template=fresh, member=locked).exclude(status=CouponStatus.REVOKED).count()
        if held >= fresh.per_member_limit:
            raise LimitReached(message=f"每人限领 {fresh.per_member_limit} 张，已领 {held} 张。")
        if not CouponTemplate.objects.filter(pk=fresh.pk, issued__lt=F("quantity")).update(issued=F("issued") + 1):
            raise OutOfStock(message=f"“{fresh.name}”已发完。")
        valid_from, valid_until = _validity(fresh, now)
        coupon = _create_coupon(
            template=fresh,
            member=locked,
            org_path=fresh.org_path,
            status=CouponStatus.ISSUED,
            issued_at=now,
            valid_from=valid_from,
            valid_until=valid_until,
            source=source,
            source_id=str(source_id)[:64],
            idempotency_key=key,
            issued_by=actor if getattr(actor, "pk", None) else None,
        )
        if record_audit:
            audit.record(
                "coupon.issue",
                actor=actor,
                obj=coupon,
                org=fresh.org,
                details={"template": fresh.pk, "member": locked.pk, "source": source, "source_id": str(source_id)},
                actor_label="" if getattr(actor, "pk", None) else f"发券（{CouponSource(source).label}）",
            )
    return Issued(coupon, False)


def grant(*, actor: Any, template: CouponTemplate, member: Member, key: str) -> Issued:
    """A cadre gives one member a coupon (工会发放): needs ``coupon.manage`` over the template."""
    access.require(actor, Perm.COUPON_MANAGE, template.org_path)
    return issue(template, member, source=CouponSource.GRANT, source_id=str(actor.pk), key=key, actor=actor)


@transaction.atomic
def revoke(*, actor: Any, coupon: Coupon, reason: str) -> Coupon:
    """作废 an unused coupon (issued in error). Its stock is not given back: ``issued`` counts coupons made."""
    access.require(actor, Perm.COUPON_MANAGE, coupon.org_path)
    if not (reason or "").strip():
        raise InvalidValue("COUPON_REASON_REQUIRED", "请填写作废原因。")
    if not Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ISSUED).update(status=CouponStatus.REVOKED):
        coupon.refresh_from_db()
        raise Conflict("COUPON_NOT_REVOCABLE", f"这张券{coupon.get_status_display()}，不能作废。")
    coupon.refresh_from_db()
    audit.record(
        "coupon.revoke", actor=actor, obj=coupon, org=coupon.template.org, details={"reason": reason.strip()[:200]}
    )
    return coupon


def revoke_unused(coupon: Coupon, *, reason: str, actor: Any = None, actor_label: str = "") -> Coupon:
    """作废 an unused coupon on behalf of the flow that issued it (a ticket rush whose grant is
    given back). Callers decide who may, as with ``issue``; call it inside your own
    transaction so the revocation and your change commit together (it nests as a savepoint).

    The guard is the same one conditional UPDATE as ``revoke`` (``status='issued'``): a
    cashier redeeming the coupon at the same instant serialises on the coupon's row, and
    exactly one of the two wins. A coupon that is not unused any more is refused with
    ``COUPON_NOT_REVOCABLE``; the caller reads ``status`` to say why. Stock is not given
    back (``issued`` counts coupons made).
    """
    with transaction.atomic():
        if not Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.ISSUED).update(status=CouponStatus.REVOKED):
            coupon.refresh_from_db()
            raise Conflict("COUPON_NOT_REVOCABLE", f"这张券{coupon.get_status_display()}，不能作废。")
        coupon = Coupon.objects.select_related("template__org").get(pk=coupon.pk)
        audit.record(
            "coupon.revoke",
            actor=actor,
            obj=coupon,
            org=coupon.template.org,
            details={"reason": (reason or "").strip()[:200], "source": coupon.source, "source_id": coupon.source_id},
            actor_label=actor_label,
        )
    return coupon


def usable_templates(org_path: str) -> QuerySet[CouponTemplate]:
    """Active templates a union at ``org_path`` may give away (a lottery prize, a rush item):
    its own and those of every union above it, so every member of its subtree can be issued
    one. The same rule the mall applies to coupon goods."""
    ancestors = [org_path[:n] for n in range(Org.steplen, len(org_path) + 1, Org.steplen)]
    return CouponTemplate.objects.filter(org_path__in=ancestors, status=TemplateStatus.ACTIVE)


def check_usable_template(org_path: str, template_id: int | None) -> CouponTemplate:
    """The template ``template_id`` if a union at ``org_path`` may give it away, else
    ``COUPON_TEMPLATE_OUTSIDE`` / ``COUPON_TEMPLATE_INACTIVE`` (field ``coupon_template``)."""
    template = CouponTemplate.objects.filter(pk=template_id).first() if template_id else None
    # The giver's audience must lie inside the template's: every member reached can be issued it.
    if template is None or not org_path.startswith(template.org_path):
        raise InvalidValue("COUPON_TEMPLATE_OUTSIDE", "只能选择本级或上级工会的券。", field="coupon_template")
    if template.status != TemplateStatus.ACTIVE:
        raise InvalidValue("COUPON_TEMPLATE_INACTIVE", f"“{template.name}”已暂停或停用。", field="coupon_template")
    return template


# --- redemption ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redeemed:
    coupon: Coupon
    redemption: Redemption
    replayed: bool  # True when the Idempotency-Key had already redeemed it (a retried request)


@dataclass(frozen=True)
class Preview:
    """What a merchant sees before pressing 确认核销: masked, and only for coupons it accepts."""

    coupon: Coupon
    masked_name: str
    refusal: CouponRefused | None

    @property
    def can_redeem(self) -> bool:
        return self.refusal is None


def _require_merchant(user: Any) -> MerchantUser:
    link = merchant_link(user)
    if link is None:
        raise NotAMerchant(message="当前账号不是合作商户的核销员。")
    if not link.merchant.is_active:
        raise NotAMerchant("COUPON_MERCHANT_SUSPENDED", f"{link.merchant.name} 的合作已暂停，暂不能核销。")
    return link


def _spend_failure_budget(user: Any) -> None:
    """A merchant account that keeps typing codes that do not exist is guessing: slow it down."""
    limit = int(getattr(settings, "COUPON_FAILED_CHECKS_PER_MINUTE", 20))
    key = f"coupon-check-fail:{user.pk}"
    if cache.add(key, 1, 60):
        return
    try:
        used = cache.incr(key)
    except ValueError:
        cache.set(key, 1, 60)
        return
    if used > limit:
        raise CheckThrottled(message="输入错误次数过多，请一分钟后再试。")


def _throttled(user: Any) -> bool:
    limit = int(getattr(settings, "COUPON_FAILED_CHECKS_PER_MINUTE", 20))
    return int(cache.get(f"coupon-check-fail:{user.pk}") or 0) >= limit


def _accepts(template_id: int, merchant: Merchant) -> bool:
    return CouponTemplate.merchants.through.objects.filter(
        coupontemplate_id=template_id, merchant_id=merchant.pk
    ).exists()


def _find(user: Any, merchant: Merchant, raw: str) -> Coupon:
    """The coupon a scan or a typed code names, if this merchant accepts it."""
    if _throttled(user):
        raise CheckThrottled(message="输入错误次数过多，请一分钟后再试。")
    try:
        code = tokens.parse(raw)
        coupon = Coupon.objects.select_related("template", "member", "redeemed_by_merchant").filter(code=code).first()
        if coupon is None:
            raise CouponNotFound(message="没有这张券，请核对券码后重新输入。")
    except (tokens.InvalidCoupon, CouponNotFound):
        _spend_failure_budget(user)
        raise
    if not _accepts(coupon.template_id, merchant):
        # Another merchant's coupon: say only that it is not valid here (no holder, no value).
        raise CouponRefused("COUPON_WRONG_MERCHANT", f"此券不能在{merchant.name}使用。", coupon=coupon)
    return coupon


def _refusal(coupon: Coupon, now: datetime) -> CouponRefused | None:
    if coupon.status == CouponStatus.REDEEMED:
        where = coupon.redeemed_by_merchant.name if coupon.redeemed_by_merchant else ""
        when = local(coupon.redeemed_at) if coupon.redeemed_at else ""
        return CouponRefused(
            "COUPON_ALREADY_REDEEMED",
            f"此券已于 {when} 在{where}核销，不能重复使用。",
            coupon=coupon,
        )
    if coupon.status == CouponStatus.REVOKED:
        return CouponRefused("COUPON_REVOKED", "此券已被发券工会作废。", coupon=coupon)
    if coupon.status == CouponStatus.EXPIRED or coupon.valid_until <= now:
        return CouponRefused("COUPON_EXPIRED", f"此券已于 {local(coupon.valid_until)} 过期。", coupon=coupon)
    if coupon.valid_from > now:
        return CouponRefused("COUPON_NOT_YET_VALID", f"此券自 {local(coupon.valid_from)} 起才能使用。", coupon=coupon)
    return None


def lookup(user: Any, raw: str) -> Preview:
    """The scanned or typed coupon as this merchant may see it (before 确认核销)."""
    link = _require_merchant(user)
    coupon = _find(user, link.merchant, raw)
    return Preview(coupon, pii.mask_name(coupon.member.name), _refusal(coupon, timezone.now()))


def _replay_redeem(key: str, code: str) -> Redeemed | None:
    prior = (
        Redemption.objects.select_related(
            "coupon__template", "coupon__member", "coupon__redeemed_by_merchant", "merchant"
        )
        .filter(idempotency_key=key)
        .first()
    )
    if prior is None:
        return None
    if prior.coupon.code != code:
        raise Conflict("IDEMPOTENCY_KEY_REUSED", "该幂等键已用于核销另一张券。")
    return Redeemed(prior.coupon, prior, True)


def redeem(user: Any, raw: str, *, key: str | None = None) -> Redeemed:
    """核销: redeem the coupon a merchant's account scanned or typed, exactly once.

    ``key`` (from the API's Idempotency-Key, already made per user) makes a retried request
    return the first result instead of "already redeemed". Refusals are audited too.
    """
    link = _require_merchant(user)
    merchant = link.merchant
    if key is not None and not (0 < len(key) <= 160):
        raise InvalidValue("IDEMPOTENCY_KEY_REQUIRED", "幂等键长度应为 1–160 个字符。")
    try:
        return _redeem(user, merchant, raw, key)
    except CouponRefused as exc:
        audit.record(
            "coupon.redeem_refused",
            actor=user,
            obj=exc.coupon,
            org=exc.coupon.template.org if exc.coupon else merchant.org,
            details={"code": exc.code, "merchant": merchant.pk},
        )
        raise


def _redeem(user: Any, merchant: Merchant, raw: str, key: str | None) -> Redeemed:
    code = tokens.parse(raw)
    if key:
        replay = _replay_redeem(key, code)
        if replay:
            return replay
    coupon = _find(user, merchant, raw)
    with transaction.atomic():
        now = timezone.now()
        accepts = CouponTemplate.merchants.through.objects.filter(
            coupontemplate_id=OuterRef("template_id"), merchant_id=merchant.pk
        )
        # The whole rule in one statement on the coupon's own row: see the module docstring.
        flipped = Coupon.objects.filter(
            Exists(accepts), pk=coupon.pk, status=CouponStatus.ISSUED, valid_from__lte=now, valid_until__gt=now
        ).update(status=CouponStatus.REDEEMED, redeemed_at=now, redeemed_by_merchant=merchant, redeemed_by_user=user)
        if not flipped:
            if key:
                replay = _replay_redeem(key, code)  # our own twin request won the race
                if replay:
                    return replay
            coupon.refresh_from_db()
            coupon = Coupon.objects.select_related("template", "member", "redeemed_by_merchant").get(pk=coupon.pk)
            refusal = _refusal(coupon, now) or CouponRefused(
                "COUPON_WRONG_MERCHANT", f"此券不能在{merchant.name}使用。", coupon=coupon
            )
            raise refusal
        redemption = Redemption.objects.create(
            coupon=coupon, merchant=merchant, user=user, org_path=coupon.org_path, at=now, idempotency_key=key or None
        )
        coupon = Coupon.objects.select_related("template__org", "member", "redeemed_by_merchant").get(pk=coupon.pk)
        audit.record(
            "coupon.redeem",
            actor=user,
            obj=coupon,
            org=coupon.template.org,
            details={"merchant": merchant.pk, "template": coupon.template_id, "member": coupon.member_id},
        )
    return Redeemed(coupon, redemption, False)


# --- expiry ----------------------------------------------------------------------------------


def expire_due(now: datetime | None = None, *, batch: int = 1000) -> int:
    """Mark every unused coupon past ``valid_until`` expired (periodic; idempotent: a rerun
    finds nothing left to do). Each batch is one conditional UPDATE."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(
            Coupon.objects.filter(status=CouponStatus.ISSUED, valid_until__lte=now)
            .order_by("valid_until", "pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        total += Coupon.objects.filter(pk__in=ids, status=CouponStatus.ISSUED, valid_until__lte=now).update(
            status=CouponStatus.EXPIRED
        )
    if total:
        audit.record("coupon.expire", actor_label="expire_coupons", details={"count": total, "at": now.isoformat()})
    return total


# --- bulk issue (普惠发放) --------------------------------------------------------------------

FILTER_CHOICES: dict[str, set[str]] = {
    "status": {MemberStatus.ACTIVE.value, MemberStatus.RETAINED.value},
    "employment_status": {c.value for c in EmploymentStatus},
    "new_employment_group": {c.value for c in NewEmploymentGroup},
    "verification_status": {c.value for c in VerificationStatus},
}


def clean_filters(filters: dict[str, Any] | None) -> dict[str, list[str]]:
    filters = dict(filters or {})
    unknown = set(filters) - set(FILTER_CHOICES)
    if unknown:
        raise InvalidValue("COUPON_BAD_FILTER", f"不支持的筛选条件：{'、'.join(sorted(unknown))}。")
    cleaned: dict[str, list[str]] = {}
    for key, allowed in FILTER_CHOICES.items():
        values = filters.get(key) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list | tuple) or not set(map(str, values)) <= allowed:
            raise InvalidValue("COUPON_BAD_FILTER", f"筛选条件 {key} 的取值无效。")
        if values:
            cleaned[key] = sorted(set(map(str, values)))
    return cleaned


def audience(path: str, filters: dict[str, Any]) -> QuerySet[Member]:
    """Members under ``path`` a bulk issue reaches: not left, not erased, matching ``filters``."""
    qs = in_subtree(Member.objects.all(), path).exclude(status=MemberStatus.LEFT).filter(erased_at__isnull=True)
    for key in FILTER_CHOICES:
        if filters.get(key):
            qs = qs.filter(**{f"{key}__in": filters[key]})
    return qs


@transaction.atomic
def start_bulk_issue(*, actor: Any, template: CouponTemplate, org: Org, filters: dict[str, Any] | None) -> BulkIssue:
    """发放给会员: one coupon to each member of ``org``'s subtree matching ``filters``, in the background."""
    access.require(actor, Perm.COUPON_MANAGE, template.org_path)
    access.require(actor, Perm.COUPON_MANAGE, org.path)
    if not org.path.startswith(template.org_path):
        raise InvalidValue("COUPON_AUDIENCE_OUTSIDE", f"发放范围须在{template.org.name}及其下级工会之内。")
    if template.status != TemplateStatus.ACTIVE:
        raise Conflict("COUPON_TEMPLATE_INACTIVE", f"“{template.name}”已暂停或停用，不能发放。")
    cleaned = clean_filters(filters)
    total = audience(org.path, cleaned).count()
    if total == 0:
        raise InvalidValue("COUPON_NO_RECIPIENTS", "没有符合条件的会员，请调整发放范围。")
    job = BulkIssue.objects.create(
        template=template,
        org=org,
        org_path=org.path,
        filters=cleaned,
        total=total,
        created_by=actor if getattr(actor, "pk", None) else None,
    )
    audit.record(
        "coupon.bulk_issue",
        actor=actor,
        obj=job,
        org=org,
        details={"template": template.pk, "total": total, "filters": cleaned, "remaining_stock": template.remaining},
    )
    job_id = job.pk
    transaction.on_commit(lambda: enqueue_bulk(job_id))
    return job


def enqueue_bulk(job_id: int) -> None:
    from gonghui.coupons import tasks

    result = tasks.bulk_issue_task.enqueue(job_id)
    BulkIssue.objects.filter(pk=job_id).update(task_id=str(result.id)[:64])


def _issue_one(job_id: int, member_id: int) -> bool:
    """Issue the job's coupon to one member and advance the cursor, in one transaction.

    Lock order: the job row, then (inside ``issue``) the member, then the template. Returns
    False when the job is no longer open or the stock ran out (the job is then stopped).
    """
    with transaction.atomic():
        job = BulkIssue.objects.select_for_update(of=("self",)).select_related("template", "created_by").get(pk=job_id)
        if not job.is_open:
            return False
        if member_id <= job.cursor:
            return True  # another worker got here first
        member = Member.objects.filter(pk=member_id).first()
        now = timezone.now()
        reason = ""
        if member is not None:
            try:
                result = issue(
                    job.template,
                    member,
                    source=CouponSource.WELFARE,
                    source_id=str(job.pk),
                    key=f"bulk:{job.pk}:{member_id}",
                    actor=job.created_by,
                    record_audit=False,
                )
                reason = "COUPON_ALREADY_ISSUED" if result.replayed else ""
            except OutOfStock:
                job.status = BulkIssueStatus.STOPPED
                job.finished_at = job.heartbeat_at = now
                job.error = f"库存已发完：已发放 {job.issued} 张，还有 {job.total - job.processed} 人未处理。"
                job.save(update_fields=["status", "finished_at", "heartbeat_at", "error"])
                audit.record(
                    "coupon.bulk_issue_done",
                    obj=job,
                    org=job.org,
                    actor_label="批量发券任务",
                    details={"issued": job.issued, "skipped": job.skipped, "stopped": "out_of_stock"},
                )
                return False
            except DomainError as exc:
                reason = exc.code
        else:
            reason = "COUPON_MEMBER_INELIGIBLE"
        if reason:
            job.skipped += 1
            job.skip_reasons = {**job.skip_reasons, reason: int(job.skip_reasons.get(reason, 0)) + 1}
        else:
            job.issued += 1
        job.processed += 1
        job.cursor = member_id
        job.heartbeat_at = now
        job.save(update_fields=["skipped", "skip_reasons", "issued", "processed", "cursor", "heartbeat_at"])
        return True


def _finish(job_id: int) -> None:
    with transaction.atomic():
        job = BulkIssue.objects.select_for_update().get(pk=job_id)
        if not job.is_open:
            return
        job.status = BulkIssueStatus.DONE
        job.finished_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "finished_at", "heartbeat_at"])
        audit.record(
            "coupon.bulk_issue_done",
            obj=job,
            org=job.org,
            actor_label="批量发券任务",
            details={"issued": job.issued, "skipped": job.skipped, "reasons": job.skip_reasons},
        )


def run_bulk_issue(job_id: int, *, chunk: int = 500, limit: int | None = None) -> None:
    """Run (or resume) a bulk issue to the end; ``limit`` stops after that many members (tests
    use it to play a worker killed mid-way)."""
    now = timezone.now()
    if not BulkIssue.objects.filter(pk=job_id, status__in=(BulkIssueStatus.QUEUED, BulkIssueStatus.RUNNING)).update(
        status=BulkIssueStatus.RUNNING, heartbeat_at=now, error=""
    ):
        return
    BulkIssue.objects.filter(pk=job_id, started_at__isnull=True).update(started_at=now)
    job = BulkIssue.objects.get(pk=job_id)
    done = 0
    while True:
        cursor = BulkIssue.objects.filter(pk=job_id).values_list("cursor", flat=True).get()
        ids = list(
            audience(job.org_path, job.filters)
            .filter(pk__gt=cursor)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        if not ids:
            _finish(job_id)
            return
        for member_id in ids:
            if limit is not None and done >= limit:
                return
            if not _issue_one(job_id, member_id):
                return
            done += 1


BULK_OPEN_STATUSES = (BulkIssueStatus.QUEUED, BulkIssueStatus.RUNNING)


def stale_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "COUPON_BULK_STALE_SECONDS", 120)))


def is_stale(job: BulkIssue, now: datetime | None = None) -> bool:
    return jobs.is_stale(job, stale_after(), now, open_=BULK_OPEN_STATUSES)


def resume_stale_bulk_issues(now: datetime | None = None) -> list[int]:
    """Re-enqueue open bulk issues whose worker went quiet (``manage.py resume_coupon_issues``).

    Harmless if the worker was only slow: two runs serialise on the job row and the cursor.
    """
    return jobs.sweep_stale(
        BulkIssue.objects.filter(status__in=BULK_OPEN_STATUSES),
        after=stale_after(),
        audit_action="coupon.bulk_issue_resume",
        actor_label="resume_coupon_issues",
        details=lambda job: {"cursor": job.cursor, "processed": job.processed},
        enqueue=lambda job: enqueue_bulk(job.pk),
        now=now,
    )


def resume_bulk_issue(*, actor: Any, job: BulkIssue) -> BulkIssue:
    """继续发放: a cadre restarts a bulk issue whose worker has gone quiet."""
    return jobs.resume_by_cadre(
        actor,
        job,
        perm=Perm.COUPON_MANAGE,
        stale=is_stale,
        refuse=Conflict("COUPON_BULK_NOT_STALE", "该批次正在发放或已经结束，无需继续。"),
        audit_action="coupon.bulk_issue_resume",
        details=lambda locked: {"cursor": locked.cursor},
        enqueue=lambda locked: enqueue_bulk(locked.pk),
    )
