"""Mainland mobile numbers: pure unit tests (no database, no Django settings)."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gonghui.core.mobiles import MobileError, normalize_mobile


def _code(raw: object) -> str:
    with pytest.raises(MobileError) as info:
        normalize_mobile(raw)
    return info.value.code


def _phonenumbers_says_cn_mobile(digits: str) -> bool:
    try:
        number = phonenumbers.parse(digits, "CN")
    except phonenumbers.NumberParseException:  # e.g. "11000005000": too short once "1" is read as a prefix
        return False
    return (
        number.country_code == 86
        and phonenumbers.is_valid_number(number)
        and phonenumbers.number_type(number)
        in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    )


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        13800138000,
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+86-13800138000",
        "0086 13800138000",
        "8613800138000",
        "１３８００１３８０００",
        "\u200b13800138000\u00a0",
        "\ufeff138\u30000013\u20608000",
        "(+86) 138 0013 8000",
    ],
)
def test_accepted_forms(raw: object) -> None:
    assert normalize_mobile(raw) == "13800138000"


@pytest.mark.parametrize("raw", [None, "", "  ", "\u200b"])
def test_required(raw: object) -> None:
    assert _code(raw) == "MOBILE_REQUIRED"


@pytest.mark.parametrize(
    "raw",
    [
        1.38001e10,
        13800138000.0,
        "1.38001E+10",
        "12345678901",  # 12x is not a mobile range
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "+85261234567",  # Hong Kong
        "+1 650 253 0000",
        "02088888888",  # Guangzhou landline
        "1380013800a",
        "٣٨٠٠١٣٨٠٠٠١",
        True,
        b"13800138000",
    ],
)
def test_invalid(raw: object) -> None:
    assert _code(raw) == "MOBILE_INVALID"


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
@example("1000005000")  # phonenumbers cannot parse "11000005000" at all: not a mobile either way
def test_agrees_with_phonenumbers(rest: str) -> None:
    digits = "1" + rest
    try:
        ours = normalize_mobile(digits) == digits
    except MobileError:
        ours = False
    assert ours == _phonenumbers_says_cn_mobile(digits)


@given(
    st.sampled_from(["138", "139", "150", "166", "177", "186", "191", "199"]),
    st.text("0123456789", min_size=8, max_size=8),
)
def test_prefixed_forms_normalise_to_the_same_number(head: str, tail: str) -> None:
    digits = head + tail
    for form in (digits, "+86" + digits, "0086" + digits, "86" + digits, f"{digits[:3]} {digits[3:7]} {digits[7:]}"):
        assert normalize_mobile(form) == digits
    assert normalize_mobile(int(digits)) == digits
