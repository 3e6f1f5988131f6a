from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    name = "gonghui.core"
    label = "core"
    verbose_name = "核心"

    def ready(self) -> None:
        checks.register(check_settings, checks.Tags.security)


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Fail loudly on settings that would make the platform unsafe or broken."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from gonghui.core import pii

    errors: list[checks.CheckMessage] = []
    if len(settings.SECRET_KEY) < 32:
        errors.append(
            checks.Error(
                "SECRET_KEY is missing or shorter than 32 characters.",
                id="gonghui.E001",
                hint="Set SECRET_KEY or SECRET_KEY_FILE; `make run` generates local.env.",
            )
        )
    try:
        keys = pii.parse_keys(settings.PII_KEYS)
        if not keys:
            errors.append(checks.Error("PII_KEYS is empty: ID numbers cannot be encrypted.", id="gonghui.E002"))
    except ImproperlyConfigured as exc:
        errors.append(checks.Error(f"PII_KEYS: {exc}", id="gonghui.E003"))
    if len(settings.PII_BLIND_INDEX_KEY) < 32:
        errors.append(checks.Error("PII_BLIND_INDEX_KEY is missing or shorter than 32 characters.", id="gonghui.E004"))
    if not settings.DEBUG and not settings.ALLOWED_HOSTS:
        errors.append(checks.Error("ALLOWED_HOSTS is empty while DEBUG is off.", id="gonghui.E005"))
    return errors
