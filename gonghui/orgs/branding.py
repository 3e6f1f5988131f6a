"""How a union's own colour and name become its home page's look.

A union may set ``theme_color`` in the console. The value lands inside a ``style``
attribute, so anything that is not a plain ``#rrggbb`` falls back to union red rather
than reaching the page (autoescaping stops quotes, not CSS such as ``red;background:url``).
Text on the colour is white or near-black, whichever reads better (WCAG contrast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gonghui.orgs.models import Org

UNION_RED = "#c8161d"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_DARK_TEXT = "#1d1d1f"


@dataclass(frozen=True)
class Theme:
    color: str  # the union's colour
    deep: str  # a darker shade for gradients and pressed states
    on_color: str  # text colour that reads on ``color``


def _channels(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _luminance(hex_color: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(hex_color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _darken(hex_color: str, factor: float) -> str:
    r, g, b = (round(c * factor) for c in _channels(hex_color))
    return f"#{r:02x}{g:02x}{b:02x}"


def theme_for(org: Org | None) -> Theme:
    color = (org.theme_color or "").strip().lower() if org is not None else ""
    if not _HEX.match(color):
        color = UNION_RED
    on_color = "#ffffff" if contrast(color, "#ffffff") >= contrast(color, _DARK_TEXT) else _DARK_TEXT
    return Theme(color=color, deep=_darken(color, 0.72), on_color=on_color)


def monogram(org: Org) -> str:
    """The character shown in place of a logo: the first of the union's short name."""
    name = (org.short_name or org.name).strip()
    return name[:1] or "工"
