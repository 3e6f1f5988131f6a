"""Writing the audit log.

Every action calls ``record`` inside its own transaction, so the event and the change
commit or roll back together. The request's IP address and user agent come from a
context variable set by ``core.middleware.RequestContextMiddleware``; management
commands and tasks leave them empty and say who ran them in ``actor_label``.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

from django.db import models

from gonghui.core.models import AuditEvent


@dataclass(frozen=True)
class RequestContext:
    ip: str | None
    user_agent: str


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("gonghui_request", default=None)


def record(
    action: str,
    *,
    actor: Any = None,
    obj: models.Model | None = None,
    org: Any = None,
    details: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Append one audit event.

    ``org`` is the union the event belongs to (for subtree-scoped reading); it defaults
    to ``obj.org`` or ``obj`` itself when the object is an org (anything with ``path``).
    """
    if org is None and obj is not None:
        org = getattr(obj, "org", None)
        if org is None and hasattr(obj, "path") and hasattr(obj, "depth"):
            org = obj
    ctx = current_request.get()
    label = actor_label or (str(actor) if actor is not None and getattr(actor, "pk", None) else "系统")
    return AuditEvent.objects.create(
        actor=actor if actor is not None and getattr(actor, "pk", None) else None,
        actor_label=label[:100],
        action=action,
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        org_id=getattr(org, "pk", None),
        org_path=getattr(org, "path", "") or "",
        ip=ctx.ip if ctx else None,
        user_agent=ctx.user_agent[:255] if ctx else "",
        details=details or {},
    )
