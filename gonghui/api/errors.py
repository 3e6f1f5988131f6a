"""Every API error is JSON: ``{"code": ..., "message": ..., "details": ...}``.

``code`` is stable and meant for programs; ``message`` is Chinese and meant for people
(it may be reworded); ``details`` appears only when it helps (which field failed, the
existing member's id on a conflict). Domain actions raise ``DomainError`` with their own
codes; this module maps everything else (404, validation, authentication, method,
unexpected exceptions) onto the same shape.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import Field, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from gonghui.core.errors import DomainError

if TYPE_CHECKING:
    from ninja import NinjaAPI

logger = logging.getLogger("gonghui.api")

# Set on the request by the auth class to say why authentication failed, so that the
# single 401 raised by Ninja after every auth callback declined can name the reason.
AUTH_FAILURE_ATTR = "_gonghui_auth_failure"

AUTH_FAILURES: dict[str, tuple[int, str]] = {
    "AUTH_REQUIRED": (401, "请先登录"),
    "OTP_REQUIRED": (401, "请先完成二次验证（动态口令）"),
    "CADRE_REQUIRED": (403, "仅限工会干部使用此接口"),
}

# Codes for errors Ninja or Django raise with a bare HTTP status.
STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("BAD_REQUEST", "请求有误"),
    401: ("AUTH_REQUIRED", "请先登录"),
    403: ("PERMISSION_DENIED", "没有权限执行此操作"),
    404: ("NOT_FOUND", "对象不存在"),
    405: ("METHOD_NOT_ALLOWED", "不支持该请求方法"),
    409: ("CONFLICT", "请求与现有数据冲突"),
    413: ("PAYLOAD_TOO_LARGE", "请求内容过大"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "请求内容类型不受支持，请使用 application/json"),
    422: ("VALIDATION_ERROR", "请求参数有误"),
    429: ("THROTTLED", "请求过于频繁，请稍后再试"),
    500: ("INTERNAL_ERROR", "服务器内部错误，请稍后再试"),
}


class ErrorOut(Schema):
    """The body of every error response."""

    code: str = Field(
        ..., description="稳定的错误代码，供程序判断 / stable machine-readable code", examples=["NOT_FOUND"]
    )
    message: str = Field(
        ..., description="中文错误说明，供人阅读 / human-readable message (Chinese)", examples=["对象不存在"]
    )
    details: Any = Field(None, description="补充信息（如出错字段）/ optional details, e.g. the fields that failed")


class ApiError(DomainError):
    """An error raised by the API layer itself (not by a domain action)."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(code, message, **details)
        self.status = status


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if details:
        body["details"] = details
    return body


def json_error(status: int, code: str | None = None, message: str | None = None, details: Any = None) -> JsonResponse:
    """A plain Django JSON error response, for places outside Ninja's handlers."""
    default_code, default_message = STATUS_CODES.get(status, STATUS_CODES[400 if status < 500 else 500])
    return JsonResponse(
        error_body(code or default_code, message or default_message, details),
        status=status,
        json_dumps_params={"ensure_ascii": False},
    )


def responses(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The error responses an endpoint documents in OpenAPI, besides the common ones."""
    common = {401, 403, 422, 500}
    return dict.fromkeys(sorted(common | set(statuses)), ErrorOut)


def _domain_error(request: HttpRequest, exc: DomainError, api: NinjaAPI) -> HttpResponse:
    return api.create_response(request, exc.as_dict(), status=exc.status)


def _not_found(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    code, message = STATUS_CODES[404]
    return api.create_response(request, error_body(code, message), status=404)


def _permission_denied(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    code, message = STATUS_CODES[403]
    return api.create_response(request, error_body(code, message), status=403)


def _validation_error(request: HttpRequest, exc: ValidationError, api: NinjaAPI) -> HttpResponse:
    # Keep where and why; drop "input" and "ctx": the rejected value may be an ID number,
    # and it must not be echoed into responses or the logs of proxies in between.
    details = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in exc.errors
    ]
    code, message = STATUS_CODES[422]
    return api.create_response(request, error_body(code, message, details), status=422)


def _authentication_error(request: HttpRequest, exc: AuthenticationError, api: NinjaAPI) -> HttpResponse:
    reason = getattr(request, AUTH_FAILURE_ATTR, "AUTH_REQUIRED")
    status, message = AUTH_FAILURES.get(reason, AUTH_FAILURES["AUTH_REQUIRED"])
    return api.create_response(request, error_body(reason, message), status=status)


def _http_error(request: HttpRequest, exc: HttpError, api: NinjaAPI) -> HttpResponse:
    code, message = STATUS_CODES.get(exc.status_code, STATUS_CODES[400 if exc.status_code < 500 else 500])
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        code, message = "MALFORMED_BODY", "请求体不是有效的 JSON"
    return api.create_response(request, error_body(code, message), status=exc.status_code)


def _unexpected(request: HttpRequest, exc: Exception, api: NinjaAPI) -> HttpResponse:
    logger.exception("unhandled error in API %s %s", request.method, request.path, exc_info=exc)
    code, message = STATUS_CODES[500]
    return api.create_response(request, error_body(code, message), status=500)


def install(api: NinjaAPI) -> None:
    """Replace Ninja's default handlers (plain ``detail`` bodies, HTML tracebacks)."""
    api.add_exception_handler(Exception, partial(_unexpected, api=api))
    api.add_exception_handler(DomainError, partial(_domain_error, api=api))
    api.add_exception_handler(Http404, partial(_not_found, api=api))
    api.add_exception_handler(PermissionDenied, partial(_permission_denied, api=api))
    api.add_exception_handler(ValidationError, partial(_validation_error, api=api))
    api.add_exception_handler(AuthenticationError, partial(_authentication_error, api=api))
    api.add_exception_handler(HttpError, partial(_http_error, api=api))
