"""Every change to the union tree and to cadre roles goes through here.

Each action validates, writes inside one transaction, and records an audit event in
the same transaction. Callers (console, API, commands) have already checked the actor's
right over the org through ``core.access``; actions re-check what the data itself
forbids (a level under the wrong parent, a move into one's own subtree).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

from django.apps import apps
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from gonghui.core import audit, uscc
from gonghui.core.access import RoleKind
from gonghui.core.errors import DomainError, InvalidValue
from gonghui.core.text import pinyin_keys
from gonghui.orgs.models import ALLOWED_CHILDREN, Notice, Org, OrgLevel, OrgStatus, OrgTag, Role

# Fields an org record may carry, as accepted from forms, the API and imports.
EDITABLE_FIELDS = (
    "name",
    "short_name",
    "uscc",
    "unit_name",
    "unit_uscc",
    "unit_type",
    "industry",
    "region_code",
    "address",
    "employee_count",
    "declared_member_count",
    "chair_name",
    "founded_on",
    "approval_date",
    "approval_doc_no",
    "term_start",
    "term_end",
    "intro",
    "theme_color",
    "industry_parent",
    "is_pool_union",
)


def clean_org_values(values: dict[str, Any], *, level: str | None, instance: Org | None = None) -> dict[str, Any]:
    """Normalise and validate org fields; raise InvalidValue with a field-specific code."""
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        if key not in EDITABLE_FIELDS:
            raise InvalidValue("ORG_UNKNOWN_FIELD", f"未知字段：{key}")
        cleaned[key] = value.strip() if isinstance(value, str) else value
    if "name" in cleaned and not cleaned["name"]:
        raise InvalidValue("ORG_NAME_REQUIRED", "工会名称不能为空。")
    if cleaned.get("uscc"):
        cleaned["uscc"] = uscc.parse(cleaned["uscc"], union=True)
        clash = Org.objects.filter(uscc=cleaned["uscc"])
        if instance is not None:
            clash = clash.exclude(pk=instance.pk)
        if clash.exists():
            raise InvalidValue("ORG_USCC_TAKEN", f"统一社会信用代码 {cleaned['uscc']} 已被其他工会使用。")
    elif "uscc" in cleaned:
        cleaned["uscc"] = None
    if cleaned.get("unit_uscc"):
        cleaned["unit_uscc"] = uscc.parse(cleaned["unit_uscc"])
    region = cleaned.get("region_code")
    if region and (len(region) != 6 or not region.isdigit()):
        raise InvalidValue("ORG_BAD_REGION", "行政区划代码应为 6 位数字。")
    start, end = cleaned.get("term_start"), cleaned.get("term_end")
    if isinstance(start, date) and isinstance(end, date) and end < start:
        raise InvalidValue("ORG_BAD_TERM", "任期结束日期不能早于开始日期。")
    color = cleaned.get("theme_color")
    if color is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        raise InvalidValue("ORG_BAD_THEME_COLOR", "主题色应为 #RRGGBB 形式的颜色值。")
    parent_industry = cleaned.get("industry_parent")
    if parent_industry is not None and parent_industry.level != OrgLevel.INDUSTRY:
        raise InvalidValue("ORG_BAD_INDUSTRY_PARENT", "所属产业工会必须是产业工会。")
    if "name" in cleaned:
        cleaned["name_pinyin"], cleaned["name_initials"] = pinyin_keys(cleaned["name"])
    return cleaned


def _check_level(parent: Org | None, level: str) -> None:
    if level not in OrgLevel.values:
        raise InvalidValue("ORG_BAD_LEVEL", f"未知的工会层级：{level}")
    if parent is None:
        if level != OrgLevel.PROVINCE:
            raise InvalidValue("ORG_BAD_LEVEL", "顶层组织必须是省总工会。")
        return
    if not parent.is_active:
        raise DomainError("ORG_CLOSED", f"{parent.name} 已撤销，不能在其下新建组织。")
    if level not in ALLOWED_CHILDREN[parent.level]:
        raise InvalidValue(
            "ORG_BAD_LEVEL",
            f"{parent.get_level_display()}下不能直接设立{OrgLevel(level).label}。",
        )


@transaction.atomic
def create_org(*, actor: Any, parent: Org | None, level: str, values: dict[str, Any]) -> Org:
    if parent is not None:
        # Lock the parent and take its current status: a union closed a moment ago must
        # not receive a child. (treebeard locks it again and re-reads its path.)
        parent.status = Org.objects.select_for_update().values_list("status", flat=True).get(pk=parent.pk)
    _check_level(parent, level)
    cleaned = clean_org_values(values, level=level)
    if not cleaned.get("name"):
        raise InvalidValue("ORG_NAME_REQUIRED", "工会名称不能为空。")
    try:
        with transaction.atomic():
            if parent is None:
                org: Org = Org.objects.add_root({"level": level, **cleaned})
            else:
                org = Org.objects.add_child(parent, {"level": level, **cleaned})
    except IntegrityError as exc:
        # Two unions registered with one USCC at the same moment: the unique index decides.
        if cleaned.get("uscc") and Org.objects.filter(uscc=cleaned["uscc"]).exists():
            raise InvalidValue("ORG_USCC_TAKEN", f"统一社会信用代码 {cleaned['uscc']} 已被其他工会使用。") from exc
        raise
    audit.record("org.create", actor=actor, obj=org, details={"level": level, "parent": parent.pk if parent else None})
    return org


@transaction.atomic
def update_org(*, actor: Any, org: Org, values: dict[str, Any]) -> Org:
    cleaned = clean_org_values(values, level=org.level, instance=org)
    changes: dict[str, list[Any]] = {}
    for key, value in cleaned.items():
        old = getattr(org, key)
        if old != value:
            changes[key] = [_jsonable(old), _jsonable(value)]
            setattr(org, key, value)
    if changes:
        org.save(update_fields=[*cleaned.keys(), "updated_at"])
        audit.record("org.update", actor=actor, obj=org, details={"changes": changes})
    return org


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Org):
        return value.pk
    return value


def _lock_tree() -> None:
    """Serialise the actions that rewrite whole branches (move, close) on the root rows.

    Both compute paths in Python from rows they read; a concurrent move of an ancestor
    would make those paths stale. Such changes are rare cadre actions, so one at a time
    costs nothing. Call first, before reading the orgs involved.
    """
    list(Org.objects.select_for_update().filter(depth=1).order_by("path").values_list("pk", flat=True))


def _lock_subtree(org: Org) -> None:
    """Lock ``org`` and everything below it before its members or paths are rewritten.

    Whoever is adding a child union (treebeard locks the parent) or a member
    (``members.actions.create_member`` locks the union) inside the subtree either
    commits before this returns, and the rewrite, a later statement, sees the new row;
    or waits, and then reads the new path or the closed status.
    """
    list(
        Org.objects.select_for_update().filter(path__startswith=org.path).order_by("path").values_list("pk", flat=True)
    )


def _rewrite_path_copies(old_path: str, new_path: str) -> int:
    """Rewrite every stored copy of a path under ``old_path`` to sit under ``new_path``.

    Models declare their copies as ``org_path_copies = ("org_path", …)``; orgs does not
    import the domains that keep them (they depend on orgs, not the other way round).
    """
    rewritten = 0
    for model in apps.get_models():
        for field_name in getattr(model, "org_path_copies", ()):
            rewritten += model._default_manager.filter(**{f"{field_name}__startswith": old_path}).update(
                **{field_name: Concat(Value(new_path), Substr(F(field_name), len(old_path) + 1))}
            )
    return rewritten


@transaction.atomic
def move_subtree(*, actor: Any, org: Org, new_parent: Org) -> Org:
    """Move ``org`` and everything under it below ``new_parent``.

    Members, applications, transfers, broadcasts and audit events keep a copy of their
    org's path (the fields each model lists in ``org_path_copies``); they are rewritten
    here in the same transaction, one UPDATE per field, so scoping never sees a
    half-moved tree.
    """
    _lock_tree()
    org = Org.objects.get(pk=org.pk)
    new_parent = Org.objects.get(pk=new_parent.pk)
    if new_parent.path.startswith(org.path):
        raise InvalidValue("ORG_MOVE_INTO_SELF", "不能把组织移动到它自己或它的下级组织之下。")
    if org.depth == 1:
        raise InvalidValue("ORG_MOVE_ROOT", "省总工会不能移动。")
    _check_level(new_parent, org.level)
    _lock_subtree(org)
    old_path = org.path
    old_parent = Org.objects.get_parent(org)
    Org.objects.move(org, new_parent, pos="last-child")
    org.refresh_from_db()
    new_path = org.path
    _rewrite_path_copies(old_path, new_path)
    audit.record(
        "org.move",
        actor=actor,
        obj=org,
        details={
            "from_parent": old_parent.pk if old_parent else None,
            "to_parent": new_parent.pk,
            "old_path": old_path,
            "new_path": new_path,
        },
    )
    return org


@transaction.atomic
def close_org(*, actor: Any, org: Org, reason: str) -> int:
    """Close a union (the employer closed or merged). Returns members moved.

    DOMAIN.md: when the employer closes, membership is kept and moved to the parent
    union as retained membership. Sub-unions of a closed union close with it; their
    members also move to the closed union's parent.
    """
    if not reason.strip():
        raise InvalidValue("ORG_CLOSE_REASON_REQUIRED", "请填写撤销原因。")
    _lock_tree()
    org = Org.objects.get(pk=org.pk)
    if not org.is_active:
        raise DomainError("ORG_ALREADY_CLOSED", f"{org.name} 已经撤销。")
    parent = Org.objects.get_parent(org)
    if parent is None:
        raise InvalidValue("ORG_CLOSE_ROOT", "省总工会不能撤销。")
    if not parent.is_active:
        raise DomainError("ORG_PARENT_CLOSED", "上级工会已撤销，请先处理上级工会。")
    _lock_subtree(org)
    from gonghui.members import actions as member_actions

    moved = member_actions.retain_members_of_closed_subtree(actor=actor, closed=org, receiver=parent)
    now = timezone.now()
    closed = Org.objects.filter(path__startswith=org.path, status=OrgStatus.ACTIVE).update(
        status=OrgStatus.CLOSED, closed_at=now
    )
    audit.record(
        "org.close",
        actor=actor,
        obj=org,
        details={"reason": reason.strip(), "members_moved": moved, "orgs_closed": closed, "receiver": parent.pk},
    )
    return moved


@transaction.atomic
def grant_role(*, actor: Any, user: Any, org: Org, role: str) -> Role:
    if role not in RoleKind.values:
        raise InvalidValue("ROLE_UNKNOWN", f"未知角色：{role}")
    obj, created = Role.objects.get_or_create(user=user, org=org, role=role, defaults={"granted_by": actor})
    if created:
        audit.record("role.grant", actor=actor, obj=obj, org=org, details={"user": user.pk, "role": role})
    return obj


@transaction.atomic
def revoke_role(*, actor: Any, role: Role) -> None:
    audit.record("role.revoke", actor=actor, obj=role, org=role.org, details={"user": role.user_id, "role": role.role})
    role.delete()


TAG_MAX = 20


@transaction.atomic
def set_tags(*, actor: Any, org: Org, tags: list[str]) -> list[str]:
    """Replace the union's tags (trimmed, NFKC, de-duplicated, at most 20)."""
    clean: list[str] = []
    for raw in tags:
        tag = unicodedata.normalize("NFKC", str(raw)).strip()
        if not tag:
            continue
        if len(tag) > 20:
            raise InvalidValue("TAG_TOO_LONG", f"标签“{tag[:20]}…”太长：每个标签最多 20 个字。")
        if tag not in clean:
            clean.append(tag)
    if len(clean) > TAG_MAX:
        raise InvalidValue("TAG_TOO_MANY", f"每个工会最多 {TAG_MAX} 个标签。")
    before = sorted(OrgTag.objects.filter(org=org).values_list("name", flat=True))
    if before == sorted(clean):
        return clean
    OrgTag.objects.filter(org=org).exclude(name__in=clean).delete()
    OrgTag.objects.bulk_create([OrgTag(org=org, name=t) for t in clean], ignore_conflicts=True)
    audit.record("org.tags", actor=actor, obj=org, details={"before": before, "after": sorted(clean)})
    return clean


@transaction.atomic
def publish_notice(*, actor: Any, org: Org, title: str, body: str) -> Notice:
    if not title.strip() or not body.strip():
        raise InvalidValue("NOTICE_REQUIRED", "标题和正文都不能为空。")
    notice = Notice.objects.create(
        org=org, title=title.strip(), body=body.strip(), published_at=timezone.now(), created_by=actor
    )
    audit.record("notice.publish", actor=actor, obj=notice, org=org)
    return notice


BRANDING_MAX_BYTES = 2 * 1024 * 1024
BRANDING_TYPES = {"image/png", "image/jpeg", "image/webp"}


def _check_image(upload: Any, label: str) -> None:
    from PIL import Image, UnidentifiedImageError

    if upload.size > BRANDING_MAX_BYTES:
        raise InvalidValue("ORG_IMAGE_TOO_LARGE", f"{label}不能超过 2 MB。")
    if getattr(upload, "content_type", None) not in BRANDING_TYPES:
        raise InvalidValue("ORG_IMAGE_TYPE", f"{label}只能是 PNG、JPEG 或 WebP 图片。")
    try:
        with Image.open(upload) as image:
            image.verify()
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidValue("ORG_IMAGE_INVALID", f"{label}不是有效的图片文件。") from exc
    finally:
        upload.seek(0)


@transaction.atomic
def set_branding(
    *, actor: Any, org: Org, logo: Any = None, banner: Any = None, clear_logo: bool = False, clear_banner: bool = False
) -> Org:
    """Replace or clear a union's logo and banner (its home page branding)."""
    fields: list[str] = []
    if logo is not None:
        _check_image(logo, "标志")
        org.logo.save(logo.name, logo, save=False)
        fields.append("logo")
    elif clear_logo and org.logo:
        org.logo = None  # type: ignore[assignment]
        fields.append("logo")
    if banner is not None:
        _check_image(banner, "横幅")
        org.banner.save(banner.name, banner, save=False)
        fields.append("banner")
    elif clear_banner and org.banner:
        org.banner = None  # type: ignore[assignment]
        fields.append("banner")
    if fields:
        org.save(update_fields=[*fields, "updated_at"])
        audit.record("org.branding", actor=actor, obj=org, details={"fields": fields})
    return org
