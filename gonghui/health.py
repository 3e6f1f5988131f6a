"""Health endpoints for load balancers and orchestrators.

- ``/healthz``: liveness — the process answers through the whole middleware stack; it
  touches neither the database nor the cache (it is also the "bare Django endpoint"
  floor of the load benchmarks in bench/).
- ``/readyz``: readiness — one ``SELECT 1`` on the database; the cache is reported but
  never makes the platform unready (it is not required for correctness).
"""

from __future__ import annotations

from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any database failure means "not ready"
        return JsonResponse({"status": "unavailable", "database": "down"}, status=503)
    try:
        cache.set("readyz", 1, 5)
        cache_state = "ok" if cache.get("readyz") == 1 else "degraded"
    except Exception:  # a cache outage degrades speed, not correctness
        cache_state = "down"
    return JsonResponse({"status": "ok", "database": "ok", "cache": cache_state})
