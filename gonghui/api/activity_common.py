"""What every activity kind's router shares: finding the activity, the caller's member record
(``caller_member`` lives in ``api.auth``).

An activity of another kind, outside the caller's scope, or unknown is the same 404.
"""

from __future__ import annotations

from django.http import HttpRequest

from gonghui.activities import selectors as activity_selectors
from gonghui.activities.models import Activity
from gonghui.api.auth import current_user
from gonghui.api.errors import ApiError
from gonghui.core.access import Perm


def not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "对象不存在")


def public_activity(activity_id: int, kind: str) -> Activity:
    """A published (or closed) activity of ``kind``, as any member or visitor may see it."""
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != kind:
        raise not_found()
    return activity


def cadre_activity(request: HttpRequest, activity_id: int, perm: Perm, kind: str) -> Activity:
    """An activity of ``kind`` inside the calling cadre's scope for ``perm``."""
    activity = activity_selectors.get_for_cadre(current_user(request), activity_id, perm)
    if activity.kind != kind:
        raise not_found()
    return activity
