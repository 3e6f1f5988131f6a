"""Helpers shared by the portal tests."""

from __future__ import annotations

import re

from gonghui.core.models import SmsMessage


def latest_code(mobile: str) -> str:
    """The 6-digit code in the newest SMS the sandbox sent to ``mobile``."""
    message = SmsMessage.objects.filter(mobile=mobile, status=SmsMessage.Status.SENT).order_by("-created_at", "-id")
    text = message.values_list("text", flat=True).first()
    assert text is not None, f"no SMS was sent to {mobile}"
    found = re.search(r"(?<!\d)\d{6}(?!\d)", text)
    assert found is not None, text
    return found.group()
