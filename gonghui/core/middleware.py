"""Request-wide concerns: audit context and the idle-session timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from gonghui.core.audit import RequestContext, current_request


def client_ip(request: HttpRequest) -> str | None:
    # Behind the reverse proxy the left-most X-Forwarded-For entry is the client; the
    # proxy must overwrite (not append to) a client-supplied header (docs/DEPLOYMENT.md).
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "TRUST_X_FORWARDED_FOR", False):
        return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class IdleSessionTimeoutMiddleware:
    """Log out a session idle for longer than ``SESSION_IDLE_TIMEOUT`` seconds.

    Also publishes the request's IP and user agent for the audit log.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = current_request.set(RequestContext(client_ip(request), request.META.get("HTTP_USER_AGENT", "")))
        try:
            if request.user.is_authenticated:
                now = int(time.time())
                last = request.session.get("last_seen")
                if last is not None and now - int(last) > settings.SESSION_IDLE_TIMEOUT:
                    logout(request)
                elif last is None or now - int(last) > 30:
                    # Writing the session on every request would cost a DB write per hit.
                    request.session["last_seen"] = now
            return self.get_response(request)
        finally:
            current_request.reset(token)
