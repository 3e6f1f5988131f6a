"""The hot lane (快速通道): a campaign's hottest member actions, with an activity pass.

- ``POST /api/v1/activities/{id}/pass`` (member session): the full eligibility check,
  then a pass (``activities.passes``) for this member and activity, valid
  ``ACTIVITY_PASS_SECONDS`` and never past the end. A member's page asks for it when it
  opens — for a rush, before the doors open;
- ``POST /api/v1/activities/{id}/lane/vote`` and ``…/lane/rush/grab`` with
  ``Authorization: Bearer <pass>``: the same actions, bodies and answers as
  ``…/vote`` and ``…/rush/grab`` on the session path.

The lane's two endpoints are served twice over, with one implementation (``vote`` and
``grab`` below): by Ninja like every endpoint (this is what the OpenAPI documents and
what the test client and the development server call), and, in front of Django, by
``HotLane``, the WSGI application ``gonghui.wsgi`` serves. ``HotLane`` answers these two
paths itself — no middleware, no session, no URL resolver, no Ninja — and hands
everything else to Django. What the skipped layers do for other endpoints, the lane does
itself or does not need: the pass replaces the session, its signature the CSRF token
(a browser never sends a bearer header on its own); the host is checked against
``ALLOWED_HOSTS``; database connections are opened and closed as Django's request
signals do; errors have the API's JSON shape.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer
from pydantic import BaseModel, ValidationError, create_model

from gonghui.activities import passes
from gonghui.activities import selectors as activity_selectors
from gonghui.activities.kinds.rush import actions as rush_actions
from gonghui.activities.kinds.vote import actions as vote_actions
from gonghui.api import activity_common
from gonghui.api.activity_rush import GrabIn, GrabOut, grab_answer
from gonghui.api.activity_vote import CastIn, CastOut, cast_answer, idempotency_key
from gonghui.api.auth import AccountSessionAuth, caller_member
from gonghui.api.errors import STATUS_CODES, ApiError, error_body, responses
from gonghui.core.errors import DomainError

logger = logging.getLogger("gonghui.api")

router = Router(tags=["活动-快速通道 hot lane"])
member_auth = AccountSessionAuth()
LANE_KINDS = ("vote", "rush")
MAX_BODY = 16 * 1024
NO_CREDENTIAL_MESSAGE = "请先获取活动通行证（POST /api/v1/activities/{id}/pass）。"


class PassOut(Schema):
    token: str = Field(..., description="活动通行证：在快速通道的请求头中发送 `Authorization: Bearer <token>`")
    expires_at: datetime = Field(..., description="有效期至（此后请重新获取）")
    activity_id: int


class PassAuth(HttpBearer):
    """``Authorization: Bearer <activity pass>`` (checked for the path's activity by the
    endpoint: the signature and expiry here, the activity there)."""

    openapi_description = (
        "活动通行证（POST /api/v1/activities/{id}/pass 获取）/ an activity pass from POST /api/v1/activities/{id}/pass"
    )

    def __call__(self, request: HttpRequest) -> str:
        # Answered as ``HotLane`` answers, in its order, before the body is read: no bearer
        # pass is 401 PASS_INVALID (not the session's AUTH_REQUIRED), a body that is not
        # JSON 415.
        token = super().__call__(request)
        if not token:
            raise passes.PassInvalid(message=NO_CREDENTIAL_MESSAGE)
        if not request.META.get("CONTENT_TYPE", "").startswith("application/json"):
            code, message = STATUS_CODES[415]
            raise ApiError(415, code, message)
        return str(token)

    def authenticate(self, request: HttpRequest, token: str) -> str:
        return token.strip()


pass_auth = PassAuth()


@router.post(
    "/{activity_id}/pass",
    auth=member_auth,
    response={200: PassOut, **responses(404)},
    operation_id="get_activity_pass",
    summary="获取活动通行证（快速通道）",
)
def get_pass(request: HttpRequest, activity_id: int) -> PassOut:
    """投票、抢票页面打开时调用：完成全部参加条件检查后，发给本人本活动的通行证（有效期见 `expires_at`，
    不超过活动结束时间；抢票活动在开抢前即可获取）。之后的投票、抢票请求走快速通道，带上
    `Authorization: Bearer <token>`。不符合条件时为 `403 NOT_ELIGIBLE` 类错误（`code` 说明原因）。"""
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind not in LANE_KINDS:
        raise activity_common.not_found()
    token, granted = passes.issue(activity, caller_member(request))
    return PassOut(token=token, expires_at=granted.expires, activity_id=activity.pk)


# --- the two actions: one implementation for Ninja and for HotLane -----------------------


def vote(activity_id: int, token: str, body: CastIn, key: str) -> tuple[int, Any]:
    granted = passes.verify(token, activity_id)
    result = vote_actions.cast_with_pass(
        activity_id=activity_id, granted=granted, candidate_ids=body.choices, request_key=idempotency_key(key)
    )
    return cast_answer(result)


def grab(activity_id: int, token: str, body: GrabIn, key: str) -> tuple[int, Any]:
    granted = passes.verify(token, activity_id)
    # Once the stock is gone, the crowd is answered here: from the pass and the flag alone.
    rush_actions.refuse_if_sold_out(activity_id, body.item_id)
    activity = activity_selectors.get_public(activity_id)
    if activity is None or activity.kind != "rush":
        raise activity_common.not_found()
    return grab_answer(
        rush_actions.attempt_with_pass(activity=activity, granted=granted, item_id=body.item_id, token=body.token)
    )


@router.post(
    "/{activity_id}/lane/vote",
    auth=pass_auth,
    response={200: CastOut, 201: CastOut, **responses(400, 404, 409, 415)},
    operation_id="cast_vote_lane",
    summary="投票（快速通道，凭活动通行证）",
)
def lane_vote(request: HttpRequest, activity_id: int, body: CastIn) -> Status[Any]:
    """与 `POST /{activity_id}/vote` 相同的请求、规则和响应，凭活动通行证而不是登录会话。
    通行证无效、过期或不属于本活动时为 `401 PASS_INVALID`（重新获取即可）。"""
    token = str(getattr(request, "auth", ""))
    return Status(*vote(activity_id, token, body, request.headers.get("Idempotency-Key", "")))


@router.post(
    "/{activity_id}/lane/rush/grab",
    auth=pass_auth,
    response={200: GrabOut, 202: GrabOut, **responses(400, 404, 409, 415)},
    operation_id="grab_rush_ticket_lane",
    summary="抢票（快速通道，凭活动通行证）",
)
def lane_grab(request: HttpRequest, activity_id: int, body: GrabIn) -> Status[Any]:
    """与 `POST /{activity_id}/rush/grab` 相同的请求、规则和响应（含排队），凭活动通行证而不是登录会话。
    票抢完后，几乎所有请求都只凭通行证和售罄标记作答，不查数据库。"""
    return Status(*grab(activity_id, str(getattr(request, "auth", "")), body, ""))


# --- HotLane: the same two endpoints in front of Django -----------------------------------

_ROUTE = re.compile(r"/api/v1/activities/([1-9][0-9]{0,17})/lane/(vote|rush/grab)")
# The body as Ninja validates it: the endpoint's parameter ``body`` (so the same ``loc``).
_ACTIONS: dict[str, tuple[type[BaseModel], Callable[[int, str, Any, str], tuple[int, Any]]]] = {
    "vote": (create_model("LaneVoteBody", body=(CastIn, ...)), vote),
    "rush/grab": (create_model("LaneGrabBody", body=(GrabIn, ...)), grab),
}
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
            422: "Unprocessable Entity", 500: "Internal Server Error"}  # fmt: skip

StartResponse = Callable[..., Any]


class HotLane:
    """WSGI: the lane's two endpoints answered before Django; everything else to ``app``."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = _ROUTE.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        close_old_connections()
        try:
            status, payload = _serve(int(match[1]), match[2], environ)
        finally:
            close_old_connections()
        body = json.dumps(payload, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
        start_response(
            f"{status} {_REASONS.get(status, 'Error')}",
            [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [body]


def _error(status: int, code: str | None = None, message: str | None = None, details: Any = None) -> tuple[int, Any]:
    default_code, default_message = STATUS_CODES[status]
    return status, error_body(code or default_code, message or default_message, details)


def _serve(activity_id: int, action: str, environ: dict[str, Any]) -> tuple[int, Any]:
    """Status and JSON body of one lane request, with the API's error shape throughout."""
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
    domain, _port = split_domain_port(host)
    # Django's rule (HttpRequest.get_host): with DEBUG and no ALLOWED_HOSTS, local names.
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    if not domain or not validate_host(domain, allowed):
        return _error(400, "BAD_HOST", "请求的主机名不在允许范围内")
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "PASS_INVALID", NO_CREDENTIAL_MESSAGE)
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return _error(415)
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400)
    if length > MAX_BODY:
        return _error(413)
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    params, run = _ACTIONS[action]
    # As Ninja reads a body: JSON (anything unreadable is MALFORMED_BODY), none at all is
    # a missing one (422), errors located under "body" and the parameter's name.
    data: dict[str, Any] = {}
    if raw:
        try:
            data["body"] = json.loads(raw)
        except (ValueError, RecursionError):
            return _error(400, "MALFORMED_BODY", "请求体不是有效的 JSON")
    try:
        body = params.model_validate(data).body  # type: ignore[attr-defined]
    except ValidationError as exc:
        details = [
            {"loc": ["body", *err.get("loc", ())], "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
            for err in exc.errors()
        ]
        return _error(422, details=details)
    try:
        status, out = run(activity_id, token.strip(), body, environ.get("HTTP_IDEMPOTENCY_KEY", ""))
    except DomainError as exc:
        return exc.status, exc.as_dict()
    except Exception:
        logger.exception("unhandled error in the hot lane: POST %s", environ.get("PATH_INFO"))
        return _error(500)
    return status, out.model_dump(mode="json") if isinstance(out, Schema) else out
