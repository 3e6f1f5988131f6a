"""Unified social credit codes (统一社会信用代码, GB 32100).

18 chars: registering authority (1) + entity type (1) + region code (6, GB/T 2260) +
organisation code (9, GB 11714, with its own check char) + check char (mod 31). A union's
own code on its 工会法人资格证书 begins ``81`` (grassroots union) or ``89`` (other union).

The mod-31 check comes from python-stdnum (``stdnum.cn.uscc``). Its ``validate`` is not
used because it demands 8 leading digits, while authorities such as 农业农村部门 issue
codes beginning ``N`` (农村集体经济组织, ``N2…``), so we only require digits in the region
part. The embedded organisation-code check is not enforced either: GB 32100 does not
oblige issuers to keep it valid for entities without a legacy organisation code.
"""

from __future__ import annotations

import unicodedata

from stdnum.cn import uscc as _stdnum_uscc

from gonghui.core.errors import InvalidValue

__all__ = [
    "UsccError",
    "check_char",
    "is_union_code",
    "make",
    "make_union_code",
    "normalize",
    "org_code_check_char",
    "parse",
]

# GB 32100 alphabet: digits and upper-case letters without I, O, Z, S, V.
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ALPHABET_SET = frozenset(ALPHABET)
UNION_PREFIXES = ("81", "89")

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

_MSG_REQUIRED = "请填写统一社会信用代码。"
_MSG_BAD_FORMAT = (
    "统一社会信用代码格式不对：应为 18 位，由数字和大写字母组成（不含 I、O、Z、S、V），第 3 至 8 位是行政区划代码。"
)
_MSG_BAD_CHECK_CHAR = "统一社会信用代码校验不通过，可能有字符录错，请对照证书逐位核对。"
_MSG_NOT_UNION = (
    "这不是工会的统一社会信用代码：工会法人资格证书上的代码以 81（基层工会）或 89（其他工会）开头。"
    "请填写工会自己的代码，而不是所在单位的代码。"
)


class UsccError(InvalidValue):
    code = "USCC_INVALID"


def normalize(raw: str) -> str:
    """NFKC, drop whitespace, hyphens and invisible format characters, upper-case."""
    text = unicodedata.normalize("NFKC", raw)
    # Zero-width characters (category Cf) survive NFKC and come along with pasted text;
    # hyphens are a common visual grouping, as stdnum's compact() also assumes.
    return "".join(c for c in text if not c.isspace() and c != "-" and unicodedata.category(c) != "Cf").upper()


def check_char(first17: str) -> str:
    """GB 32100 mod-31 check char for the first 17 chars."""
    return str(_stdnum_uscc.calc_check_digit(first17))


def is_union_code(code: str) -> bool:
    return code.startswith(UNION_PREFIXES)


def parse(raw: object, *, union: bool = False) -> str:
    """Validate and normalise a USCC; with ``union=True`` it must be a union's own code.

    Raises ``UsccError`` with USCC_REQUIRED, USCC_BAD_FORMAT, USCC_BAD_CHECK_CHAR or
    USCC_NOT_UNION.
    """
    if raw is None:
        raise UsccError("USCC_REQUIRED", _MSG_REQUIRED)
    if not isinstance(raw, str):
        # A code typed into a number cell has already been rounded by Excel.
        raise UsccError("USCC_BAD_FORMAT", _MSG_BAD_FORMAT)
    code = normalize(raw)
    if not code:
        raise UsccError("USCC_REQUIRED", _MSG_REQUIRED)
    if len(code) != 18 or not code.isascii() or not code[2:8].isdigit() or not _ALPHABET_SET.issuperset(code):
        raise UsccError("USCC_BAD_FORMAT", _MSG_BAD_FORMAT)
    if code[17] != check_char(code[:17]):
        raise UsccError("USCC_BAD_CHECK_CHAR", _MSG_BAD_CHECK_CHAR)
    if union and not is_union_code(code):
        raise UsccError("USCC_NOT_UNION", _MSG_NOT_UNION)
    return code


def org_code_check_char(body8: str) -> str:
    """GB 11714 organisation-code check char for the 8-char body (stdnum has no cn org code)."""
    if len(body8) != 8 or not body8.isascii() or not body8.isalnum():
        raise ValueError("organisation code body must be 8 ASCII digits or letters")
    # Letters count as A=10 … Z=35, i.e. base-36 digit values.
    total = sum(int(c, 36) * w for c, w in zip(body8.upper(), _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def make(prefix17: str) -> str:
    """Append the mod-31 check char to 17 chars (for seeding and tests)."""
    prefix = prefix17.upper()
    if len(prefix) != 17 or not _ALPHABET_SET.issuperset(prefix):
        raise ValueError("prefix must be 17 chars from the GB 32100 alphabet")
    return prefix + check_char(prefix)


def make_union_code(region_code: str, serial: int, grassroots: bool = True) -> str:
    """A valid union USCC for demo data: ``81``/``89`` + region + organisation code + check.

    The organisation-code body is ``serial`` as 8 digits, so distinct serials give
    distinct codes within a region.
    """
    if len(region_code) != 6 or not region_code.isascii() or not region_code.isdigit():
        raise ValueError("region_code must be 6 digits")
    if not 0 <= serial <= 99_999_999:
        raise ValueError("serial must be between 0 and 99,999,999")
    body = f"{serial:08d}"
    prefix = ("81" if grassroots else "89") + region_code + body + org_code_check_char(body)
    return make(prefix)
