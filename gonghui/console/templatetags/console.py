"""Template helpers of the console: labels, badge tones, compact audit details."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.http import urlencode

from gonghui.console.labels import ACTION_LABELS, DETAIL_VALUES, LEVEL_TONES, OBJECT_TYPES, STATUS_TONES, field_label

register = template.Library()


@register.filter
def num(value: Any) -> str:
    """``1759000`` → ``1,759,000``. Django's zh-hans format has no separator; big counts need one."""
    if value is None or value == "":
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


@register.filter
def object_type_label(object_type: str) -> str:
    return str(OBJECT_TYPES.get(object_type, object_type))


@register.filter
def status_tone(status: str) -> str:
    return STATUS_TONES.get(status, "grey")


@register.filter
def level_tone(level: str) -> str:
    return LEVEL_TONES.get(level, "grey")


@register.filter
def action_tone(action: str) -> str:
    if action.endswith("_failed") or action == "member.pii_reveal":
        return "amber"
    if action in {"org.close", "role.revoke", "auth.totp_reset"}:
        return "red"
    if action.startswith("auth."):
        return "grey"
    return "blue"


_DETAIL_NAMES = {
    "method": "方式",
    "reason": "原因",
    "field": "字段",
    "identifier": "账号",
    "changes": "变更",
    "count": "数量",
    "members_moved": "转出会员",
    "orgs_closed": "撤销组织数",
    "where": "入口",
    "role": "角色",
    "user": "用户编号",
    "level": "层级",
    "parent": "上级编号",
    "recovery_codes_left": "剩余恢复码",
    "fields": "填写字段",
    "device": "设备编号",
    "recovery_codes": "恢复码数量",
    "receiver": "接收工会编号",
    "closed_org": "撤销组织编号",
    "from_parent": "原上级编号",
    "to_parent": "新上级编号",
    "mobile_proof": "手机验证",
    "totp_devices": "删除动态口令",
    "recovery_devices": "删除恢复码组",
    "sessions_ended": "结束会话",
}


@register.filter
def details_pairs(details: Any) -> list[tuple[str, str]]:
    """Audit details as short (label, value) pairs for a table cell."""
    if not isinstance(details, dict):
        return []
    pairs: list[tuple[str, str]] = []
    for key, value in details.items():
        if key == "changes" and isinstance(value, dict):
            shown = "；".join(
                f"{field_label(k)}: {_short(v[0])} → {_short(v[1])}"
                if isinstance(v, list) and len(v) == 2
                else f"{field_label(k)}: {_short(v)}"
                for k, v in value.items()
            )
        elif key == "fields" and isinstance(value, list):
            shown = "、".join(field_label(str(v)) for v in value) or "—"
        else:
            shown = _short(value)
        pairs.append((str(_DETAIL_NAMES.get(key, key)), shown))
    return pairs


def _short(value: Any) -> str:
    if value is None or value == "":
        return "（空）"
    if isinstance(value, str) and value in DETAIL_VALUES:
        return str(DETAIL_VALUES[value])
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


@register.simple_tag
def query(params: dict[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (``None`` removes a key)."""
    merged = {**params, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})
