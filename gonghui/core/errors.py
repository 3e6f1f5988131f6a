"""Errors that carry a stable machine code and a Chinese message.

Domain actions raise ``DomainError`` (or a subclass); interfaces turn it into a form
error, a flash message or a JSON body ``{"code": ..., "message": ...}``. The code never
changes once published; the message may be reworded.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code: str = "ERROR"
    status: int = 400

    def __init__(self, code: str | None = None, message: str = "", **details: Any) -> None:
        self.code = code or self.code
        self.message = message or self.code
        self.details = details
        super().__init__(f"{self.code}: {self.message}")

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidValue(DomainError):
    """A single value failed validation (an ID number, a USCC, a mobile number…)."""

    code = "INVALID_VALUE"


class Conflict(DomainError):
    code = "CONFLICT"
    status = 409
