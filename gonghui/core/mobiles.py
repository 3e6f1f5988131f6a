"""Mainland China mobile numbers, normalised to 11 digits.

Validity comes from the ``phonenumbers`` metadata (the CN mobile pattern), matched
directly: ``phonenumbers.parse`` + ``is_valid_number`` takes ~30 µs a call, which adds
up to minutes on a million-row import, while the compiled pattern answers the same
question in well under a microsecond (the tests check both agree).
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import phonenumbers

from gonghui.core.errors import InvalidValue

__all__ = ["MobileError", "normalize_mobile"]

_MSG_REQUIRED = "请填写手机号码。"
_MSG_INVALID = "手机号码无效：请填写 11 位中国大陆手机号码（可带 +86）。"

# Visual separators people type between digit groups.
_SEPARATORS = frozenset("-()（）")


class MobileError(InvalidValue):
    code = "MOBILE_INVALID"


@cache
def _mobile_pattern() -> re.Pattern[str]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    if metadata is None or metadata.mobile is None or not metadata.mobile.national_number_pattern:
        raise RuntimeError("phonenumbers has no CN mobile metadata")
    return re.compile(metadata.mobile.national_number_pattern)


def _clean(raw: str) -> str:
    if raw.isascii():
        if raw.isdigit():
            return raw
        text = raw
    else:
        text = unicodedata.normalize("NFKC", raw)
    # Zero-width characters (category Cf) survive NFKC and come along with pasted text.
    return "".join(c for c in text if not c.isspace() and c not in _SEPARATORS and unicodedata.category(c) != "Cf")


def normalize_mobile(raw: object) -> str:
    """Return the 11-digit mobile number or raise ``MobileError``.

    Accepts ``+86``/``0086``/``86`` prefixes, spaces, dashes, full-width digits and ints.
    Floats are refused: ``1.38001E+10`` is what Excel leaves after rounding the number.
    Codes: MOBILE_REQUIRED, MOBILE_INVALID.
    """
    if raw is None:
        raise MobileError("MOBILE_REQUIRED", _MSG_REQUIRED)
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise MobileError("MOBILE_INVALID", _MSG_INVALID)
    digits = _clean(str(raw))
    if not digits:
        raise MobileError("MOBILE_REQUIRED", _MSG_REQUIRED)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit() or not _mobile_pattern().fullmatch(digits):
        raise MobileError("MOBILE_INVALID", _MSG_INVALID)
    return digits
