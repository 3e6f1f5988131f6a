"""Resident ID numbers: pure unit tests (no database, no Django settings)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric as stdnum_ric
from stdnum.exceptions import ValidationError

from gonghui.core import idnumbers
from gonghui.core.errors import InvalidValue
from gonghui.core.idnumbers import IdNumberError, ResidentId, check_char, make, normalize, parse

# A fixed "today" keeps the property tests deterministic across midnight and time zones.
TODAY = date.today()

REGIONS = sorted(idnumbers.region_codes())
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _newer_counties() -> list[tuple[str, int]]:
    """(code, first year in use) for codes that did not exist before some year > 1900."""
    found: list[tuple[str, int]] = []
    for _plen, prov, _phigh, _pprops, children in numdb.get("cn/loc").prefixes:
        for _clen, county, _chigh, props, _gc in children:
            parts = props.get("county", "").split(",")
            starts = [re.match(r"\[(\d{4})-", part) for part in parts]
            if parts and all(starts):
                first = min(int(m.group(1)) for m in starts if m)
                if first > 1901:
                    found.append((prov + county, first))
    return sorted(found)


NEWER_COUNTIES = _newer_counties()

regions = st.sampled_from(REGIONS)
births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, str, date, int]:
    region, born, seq = draw(regions), draw(births), draw(sequences)
    return make(region, born, seq), region, born, seq


def _code(raw: object, today: date = TODAY) -> str:
    with pytest.raises(IdNumberError) as info:
        parse(raw, today=today)
    return info.value.code


def _with_check(first17: str) -> str:
    return first17 + check_char(first17)


def _slow_check_char(first17: str) -> str:
    return "10X98765432"[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


# --- check char ------------------------------------------------------------------------


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_matches_the_weighted_sum_and_stdnum(first17: str) -> None:
    assert check_char(first17) == _slow_check_char(first17)
    assert check_char(first17) == stdnum_ric.calc_check_digit(first17 + "?")


def test_known_number() -> None:
    rid = parse("360426199101010071", today=TODAY)
    assert rid == ResidentId("360426199101010071", "360426", date(1991, 1, 1), "M")


# --- valid numbers ---------------------------------------------------------------------


@given(valid_numbers())
def test_generated_numbers_pass_and_derive_fields(case: tuple[str, str, date, int]) -> None:
    number, region, born, seq = case
    rid = parse(number, today=TODAY)
    assert rid.number == number
    assert rid.region_code == region
    assert rid.birth_date == born
    assert rid.gender == ("M" if seq % 2 else "F")


def test_make_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make("440106", date(1990, 1, 1), 1000)
    with pytest.raises(ValueError):
        make("44010", date(1990, 1, 1), 1)


# --- single-character changes ----------------------------------------------------------


@given(valid_numbers(), st.integers(min_value=0, max_value=17), st.data())
def test_any_single_character_change_fails(case: tuple[str, str, date, int], pos: int, data: st.DataObject) -> None:
    number = case[0]
    allowed = "0123456789X" if pos == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in allowed if c != number[pos]]))
    changed = number[:pos] + replacement + number[pos + 1 :]
    # MOD 11-2 catches every single substitution, whatever else the change breaks first.
    assert check_char(changed[:17]) != changed[17]
    with pytest.raises(IdNumberError):
        parse(changed, today=TODAY)


# --- counties newer than the birth year ------------------------------------------------


def test_there_are_newer_counties_to_test() -> None:
    assert len(NEWER_COUNTIES) > 500
    assert ("110118", 2015) in NEWER_COUNTIES  # [2015-]密云区


@given(st.sampled_from(NEWER_COUNTIES), st.data(), sequences)
def test_county_code_newer_than_birth_year_is_accepted(county: tuple[str, int], data: st.DataObject, seq: int) -> None:
    code, first_year = county
    born = data.draw(st.dates(min_value=date(1900, 1, 1), max_value=date(first_year - 1, 12, 31)))
    number = make(code, born, seq)
    with pytest.raises(ValidationError):
        stdnum_ric.validate(number)  # stdnum turns such a person away …
    assert parse(number, today=TODAY).number == number  # … we do not.


def test_miyun_born_1980() -> None:
    number = make("110118", date(1980, 5, 17), 42)
    assert not stdnum_ric.is_valid(number)
    assert parse(number, today=TODAY).birth_date == date(1980, 5, 17)


def test_retired_region_code_is_accepted() -> None:
    # 110103 崇文区 was merged away in 2010; its people still carry the code.
    number = make("110103", date(2012, 3, 4), 7)
    assert parse(number, today=TODAY).region_code == "110103"


# --- Excel damage ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "4.40106199001011E+17",
        "4.40106E+17",
        "4.40106e17",
        " 4.40106E+17 ",
        "440106199001011234.0",
        "440106199001011.0",
        4.40106199001011e17,
        440106199001011234,
        440106199001011,
        1.5,
    ],
)
def test_numeric_cells_are_rejected(raw: object) -> None:
    assert _code(raw) == "ID_NUMERIC_CELL"


def test_numeric_cell_message_asks_for_recollection() -> None:
    with pytest.raises(IdNumberError) as info:
        parse(4.40106199001011e17)
    assert "重新" in info.value.message
    assert "Excel" in info.value.message


@given(valid_numbers())
def test_truncated_to_15_significant_digits_is_precision_loss(case: tuple[str, str, date, int]) -> None:
    truncated = case[0][:15] + "000"
    assume(check_char(truncated[:17]) != "0")
    assert _code(truncated) == "ID_PRECISION_LOSS"


def _valid_ending_in_000() -> str:
    born = date(1985, 1, 1)
    while True:
        for seq in range(0, 1000, 100):
            number = make("440106", born, seq)
            if number.endswith("000"):
                return number
        born += timedelta(days=1)


def test_valid_number_ending_in_000_is_accepted() -> None:
    number = _valid_ending_in_000()
    assert parse(number, today=TODAY).number == number
    assert parse(number, today=TODAY).gender == "F"


def test_bad_check_char_not_ending_in_000() -> None:
    number = make("440106", date(1990, 1, 1), 123)
    wrong = number[:17] + ("1" if number[17] != "1" else "2")
    assert _code(wrong) == "ID_BAD_CHECK_CHAR"


# --- normalisation ---------------------------------------------------------------------

_FULL_WIDTH = str.maketrans("0123456789Xx", "０１２３４５６７８９Ｘｘ")
_JUNK = ["\u00a0", "\u3000", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", " ", "\t"]


@given(valid_numbers())
def test_full_width_digits_are_accepted(case: tuple[str, str, date, int]) -> None:
    number = case[0]
    assert parse(number.translate(_FULL_WIDTH), today=TODAY).number == number


@given(valid_numbers(), st.lists(st.tuples(st.integers(0, 18), st.sampled_from(_JUNK)), max_size=5))
def test_spaces_and_invisible_characters_are_ignored(
    case: tuple[str, str, date, int], junk: list[tuple[int, str]]
) -> None:
    number = case[0]
    messy = number
    for pos, char in sorted(junk, reverse=True):
        messy = messy[:pos] + char + messy[pos:]
    assert parse(messy, today=TODAY).number == number


def _number_with_x() -> str:
    for seq in range(1000):
        number = make("440106", date(1990, 1, 1), seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no X among 1000 sequences")


def test_lowercase_x_and_mixed_junk() -> None:
    number = _number_with_x()
    messy = "\ufeff " + number[:6] + "\u00a0" + number[6:14].translate(_FULL_WIDTH) + "\u200b" + number[14:].lower()
    assert parse(messy, today=TODAY).number == number
    assert normalize(messy) == number


@given(regions, st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)), sequences)
def test_legacy_15_digit_numbers_convert(region: str, born: date, seq: int) -> None:
    full = make(region, born, seq)
    legacy = full[:6] + full[8:17]
    rid = parse(legacy, today=TODAY)
    assert rid.number == full
    assert rid.birth_date == born


def test_legacy_example() -> None:
    assert parse("110101500101001", today=TODAY).number == "110101195001010017"


# --- specific failures -----------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, "", "   ", "\u200b\u00a0", float("nan")])
def test_required(raw: object) -> None:
    assert _code(raw) == "ID_REQUIRED"


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "44010619900101123",  # 17 digits
        "4401061990010112345",  # 19 digits
        "44010619900101123Y",
        "4401061990X1011234",
        "4401061990010112-3",
        "٤٤٠١٠٦١٩٩٠٠١٠١١٢٣٤",  # Arabic-Indic digits are digits, but not ours
        True,
        b"440106199001011234",
        ["440106199001011234"],
    ],
)
def test_bad_format(raw: object) -> None:
    assert _code(raw) == "ID_BAD_FORMAT"


@pytest.mark.parametrize(
    "first17",
    [
        "44010619900230123",  # 30 February
        "44010619901301123",  # month 13
        "44010619900000123",  # month 0
        "44010618991231123",  # before 1900
    ],
)
def test_bad_birth_date(first17: str) -> None:
    assert _code(_with_check(first17)) == "ID_BAD_BIRTH_DATE"


def test_birth_date_in_the_future() -> None:
    number = make("440106", date(2030, 1, 1), 1)
    assert _code(number, today=date(2029, 12, 31)) == "ID_BAD_BIRTH_DATE"
    assert parse(number, today=date(2030, 1, 1)).birth_date == date(2030, 1, 1)


def test_default_today_refuses_far_future() -> None:
    with pytest.raises(IdNumberError) as info:
        parse(make("440106", date(2999, 1, 1), 1))
    assert info.value.code == "ID_BAD_BIRTH_DATE"


@pytest.mark.parametrize("region", ["000000", "999999", "440199", "449999", "990101"])
def test_bad_region(region: str) -> None:
    assert not idnumbers.region_exists(region)
    with pytest.raises(IdNumberError) as info:
        parse(make(region, date(1990, 1, 1), 1), today=TODAY)
    assert info.value.code == "ID_BAD_REGION"
    assert region in info.value.message


# --- errors and helpers ----------------------------------------------------------------


def test_errors_are_invalid_values_and_do_not_leak_the_number() -> None:
    number = make("440106", date(1990, 1, 1), 123)
    wrong = number[:17] + ("1" if number[17] != "1" else "2")
    with pytest.raises(InvalidValue) as info:
        parse(wrong, today=TODAY)
    body = info.value.as_dict()
    assert body["code"] == "ID_BAD_CHECK_CHAR"
    assert number[6:] not in str(body)
    assert "19900101" not in str(body)


def test_region_helpers() -> None:
    assert idnumbers.region_exists("440106")
    assert idnumbers.region_name("440106") == "广东省广州市天河区"
    assert idnumbers.region_name("110101") == "北京市东城区"
    assert idnumbers.region_name("440000") == "广东省"
    assert idnumbers.region_name("999999") is None
    assert idnumbers.region_exists("830000")  # Taiwan residents' residence permits
