"""Unified social credit codes: pure unit tests (no database, no Django settings)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.cn import uscc as stdnum_uscc

from gonghui.core import idnumbers, uscc
from gonghui.core.uscc import ALPHABET, UsccError, make, make_union_code, org_code_check_char, parse

REGIONS = sorted(idnumbers.region_codes())

prefixes = st.builds(
    lambda head, region, body: head + region + body,
    st.text(alphabet=ALPHABET, min_size=2, max_size=2),
    st.sampled_from(REGIONS),
    st.text(alphabet=ALPHABET, min_size=9, max_size=9),
)
union_codes = st.builds(
    make_union_code, st.sampled_from(REGIONS), st.integers(min_value=0, max_value=99_999_999), st.booleans()
)


def _code(raw: object, *, union: bool = False) -> str:
    with pytest.raises(UsccError) as info:
        parse(raw, union=union)
    return info.value.code


@given(prefixes)
def test_generated_codes_pass(prefix: str) -> None:
    code = make(prefix)
    assert parse(code) == code
    if prefix[:2].isdigit():
        assert stdnum_uscc.is_valid(code)


@given(union_codes)
def test_union_codes_pass_as_union(code: str) -> None:
    assert parse(code, union=True) == code
    assert code[:2] in ("81", "89")
    assert code[16] == org_code_check_char(code[8:16])


@given(prefixes, st.integers(min_value=0, max_value=17), st.data())
def test_any_single_character_change_fails(prefix: str, pos: int, data: st.DataObject) -> None:
    code = make(prefix)
    replacement = data.draw(st.sampled_from([c for c in ALPHABET if c != code[pos]]))
    changed = code[:pos] + replacement + code[pos + 1 :]
    with pytest.raises(UsccError) as info:
        parse(changed)
    assert info.value.code in ("USCC_BAD_CHECK_CHAR", "USCC_BAD_FORMAT")


def test_known_company_code() -> None:
    assert parse("91110000600037341L") == "91110000600037341L"


def test_company_code_is_not_a_union_code() -> None:
    assert _code("91110000600037341L", union=True) == "USCC_NOT_UNION"


def test_non_digit_authority_codes_are_accepted() -> None:
    # 农村集体经济组织 codes begin with N; stdnum's validate would refuse them.
    code = make("N2440106" + "MA5D12345")
    assert parse(code) == code


@pytest.mark.parametrize(
    ("messy", "clean"),
    [
        ("91110000600037341l", "91110000600037341L"),
        (" 9111 0000 6000 3734 1L ", "91110000600037341L"),
        ("911100006-0003734-1L", "91110000600037341L"),
        ("９１１１００００６０００３７３４１Ｌ", "91110000600037341L"),
        ("\ufeff91110000600037341L\u200b\u00a0", "91110000600037341L"),
    ],
)
def test_normalisation(messy: str, clean: str) -> None:
    assert uscc.normalize(messy) == clean
    assert parse(messy) == clean


@pytest.mark.parametrize("raw", [None, "", "  \u3000"])
def test_required(raw: object) -> None:
    assert _code(raw) == "USCC_REQUIRED"


@pytest.mark.parametrize(
    "raw",
    [
        "9111000060003734",  # too short
        "91110000600037341LL",  # too long
        "91110000600037341I",  # I is not in the alphabet
        "9111000O600037341L",  # letter O in the region part
        "91A10000600037341L",  # letter in the region part
        9.1110000600037e17,
        911100006000373410,
    ],
)
def test_bad_format(raw: object) -> None:
    assert _code(raw) == "USCC_BAD_FORMAT"


def test_bad_check_char() -> None:
    assert _code("91110000600037341M") == "USCC_BAD_CHECK_CHAR"


def test_organisation_code_check_char() -> None:
    # Textbook GB 11714 example D2143569-X and the code inside 91110000600037341L.
    assert org_code_check_char("D2143569") == "X"
    assert org_code_check_char("60003734") == "1"


def test_make_union_code_shapes() -> None:
    assert make_union_code("440106", 1).startswith("81440106")
    assert make_union_code("440106", 1, grassroots=False).startswith("89440106")
    assert make_union_code("440106", 1) != make_union_code("440106", 2)
    with pytest.raises(ValueError):
        make_union_code("4401", 1)
    with pytest.raises(ValueError):
        make_union_code("440106", 100_000_000)
    with pytest.raises(ValueError):
        make("9111000060003734I")
