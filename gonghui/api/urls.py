"""URLs under ``/api/``: the Ninja API, with every non-Ninja error turned into JSON.

Ninja answers a wrong method with a plain-text 405, and Django answers an unknown path
with an HTML 404; API clients get the same ``{"code", "message"}`` body as everywhere
else instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt

from gonghui.api.errors import json_error
from gonghui.api.main import api


def _json_method_not_allowed(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    @functools.wraps(view)  # keeps csrf_exempt: CadreSessionAuth checks CSRF itself
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = json_error(405, details={"allowed": [m.strip() for m in allowed.split(",")]})
            response["Allow"] = allowed
        return response

    return wrapper


@csrf_exempt  # an unknown path is a 404 whatever the method; no CSRF 403 in front of it
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
    return json_error(404, message="接口不存在")


def _api_patterns() -> list[URLPattern | URLResolver]:
    patterns, _app_name, _namespace = api.urls
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_method_not_allowed(pattern.callback)
    return patterns


app_name = "api"
urlpatterns: list[URLPattern | URLResolver] = [
    *_api_patterns(),
    re_path(r"^.*$", not_found, name="not-found"),
]
