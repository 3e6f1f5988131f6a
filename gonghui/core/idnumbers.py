"""Resident ID numbers (居民身份证号码, GB 11643).

Layout: 6-digit region code (GB/T 2260) + 8-digit birth date + 3-digit sequence (odd =
male) + check char (ISO 7064 MOD 11-2). 15-digit legacy numbers lack the century and
the check char.

Why not ``stdnum.cn.ric.validate``: it insists the county code was in force in the birth
year, but people keep their number when a county is renamed and new numbers are issued
under the new code to people born long before — real members would be rejected. Here a
region code is accepted if it ever existed in any year of python-stdnum's ``cn/loc``
table.

Messages never echo the number or the birth date: errors end up in logs and import
reports, and the ID number is personal data (see ``pii.py``).
"""

from __future__ import annotations

import datetime
import re
import time
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from gonghui.core.errors import InvalidValue

__all__ = [
    "IdNumberError",
    "ResidentId",
    "check_char",
    "make",
    "normalize",
    "parse",
    "region_codes",
    "region_exists",
    "region_name",
]

_CHECK_CHARS = "10X98765432"
_MIN_BIRTH = datetime.date(1900, 1, 1)
_CHINA_TZ = ZoneInfo("Asia/Shanghai")

# Codes missing from loc.dat that real GB 11643 numbers use: 830000 appears on residence
# permits of Taiwan residents (港澳台居民居住证; 810000/820000 are already in loc.dat).
_EXTRA_REGIONS = frozenset({"830000"})

# Placeholder rows between province and county that are not names people use.
_NOT_A_CITY = frozenset({"市辖区", "县", "省直辖行政单位", "省直辖县级行政单位", "自治区直辖县级行政单位"})

# Excel shows long numbers as 4.40106E+17 and CSV exports of float cells end in ".0".
_NUMERIC_TEXT_RE = re.compile(r"[0-9]+(?:\.[0-9]*)?E[+-]?[0-9]+|[0-9]+\.0*")


class IdNumberError(InvalidValue):
    code = "ID_INVALID"


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str
    region_code: str
    birth_date: datetime.date
    gender: str  # "M" or "F"


# --- messages -------------------------------------------------------------------------

_MSG_REQUIRED = "请填写身份证号码。"
_MSG_NUMERIC_CELL = (
    "身份证号码被 Excel 存成了数字，后几位已经丢失，无法从表格中恢复。"
    "请把该列设置为“文本”格式后，按证件重新填写原始号码。"
)
_MSG_BAD_FORMAT = "身份证号码格式不对：应为 18 位（前 17 位是数字，最后一位是数字或 X），或 15 位数字的旧号码。"
_MSG_BAD_BIRTH_DATE = "身份证号码中的出生日期无效：须是 1900 年 1 月 1 日以后、不晚于今天的真实日期，请核对。"
_MSG_BAD_CHECK_CHAR = "身份证号码校验不通过，可能有数字录错，请对照证件逐位核对。"
_MSG_PRECISION_LOSS = (
    "身份证号码末三位是 000 且校验不通过，很可能是 Excel 只保留 15 位有效数字造成的截断，"
    "无法恢复。请按证件重新采集原始号码（先把该列设置为“文本”格式）。"
)


def _bad_region_message(code: str) -> str:
    return f"身份证号码前 6 位的地区码 {code} 不存在，请核对。"


# --- normalisation --------------------------------------------------------------------


def normalize(raw: str) -> str:
    """NFKC, drop whitespace and invisible format characters, upper-case ``x``.

    Pasted numbers carry full-width digits, NBSP/ideographic spaces and zero-width
    characters from Word, WeChat and web forms; none of them is part of the number.
    """
    if raw.isascii():
        # NFKC is the identity on ASCII, so the common case skips it.
        text = raw if raw.isalnum() else "".join(raw.split())
    else:
        text = unicodedata.normalize("NFKC", raw)
        # NFKC turns U+00A0/U+3000 into spaces; zero-width chars (U+200B..U+200D,
        # U+2060, U+FEFF) and bidi marks are category Cf and survive NFKC.
        text = "".join(c for c in text if not c.isspace() and unicodedata.category(c) != "Cf")
    return text.upper()


# --- reference data -------------------------------------------------------------------


@cache
def _region_table() -> dict[str, tuple[str, ...]]:
    """Every 6-digit code in loc.dat with its county names (any year), read once."""
    from stdnum import numdb  # imported lazily: reading loc.dat costs tens of ms

    table: dict[str, tuple[str, ...]] = {}
    for _plen, prov, _phigh, _pprops, children in numdb.get("cn/loc").prefixes:
        for _clen, county, _chigh, cprops, _grandchildren in children:
            names = tuple(
                part.split("]", 1)[1] if part.startswith("[") else part
                for part in cprops.get("county", "").split(",")
                if part
            )
            table[prov + county] = names
    return table


@cache
def _province_names() -> dict[str, str]:
    from stdnum import numdb

    return {prov: props.get("province", "") for _len, prov, _high, props, _ch in numdb.get("cn/loc").prefixes}


@cache
def _region_set() -> frozenset[str]:
    return frozenset(_region_table()) | _EXTRA_REGIONS


def region_codes() -> frozenset[str]:
    """Every region code accepted in an ID number (for seeding and tests)."""
    return _region_set()


def region_exists(code: str) -> bool:
    """True if the 6-digit code was a valid GB/T 2260 code in any year."""
    return code in _region_set()


def region_name(code: str) -> str | None:
    """Province, city and county names joined (``广东省广州市天河区``), or None.

    Uses each level's latest name: ``120110`` (``[-1991]东郊区,[1992-]东丽区``) gives 东丽区.
    """
    table = _region_table()
    names = table.get(code)
    if not names:
        return None
    # The XX0000 row spells the province in simplified characters (HK/Macau rows at
    # province level are traditional), so prefer it.
    province = table.get(code[:2] + "0000") or (_province_names().get(code[:2], ""),)
    parts = [province[-1]]
    if code[2:] != "0000":
        city_code = code[:4] + "00"
        if city_code != code:
            city = table.get(city_code)
            if city and city[-1] not in _NOT_A_CITY:
                parts.append(city[-1])
        parts.append(names[-1])
    return "".join(parts)


# --- check char and dates -------------------------------------------------------------


def check_char(first17: str) -> str:
    """ISO 7064 MOD 11-2 check char for the first 17 digits.

    The weights 7 9 10 5 8 4 2 1 6 3 … are 2**k mod 11 and 13 ≡ 2 (mod 11), so reading the
    digits in base 13 gives the weighted sum mod 11 in one C-level ``int()`` call.
    """
    return _CHECK_CHARS[(2 * int(first17, 13)) % 11]


# Births cluster on a few tens of thousands of dates, so a plain dict (cheaper per hit
# than lru_cache) absorbs almost every lookup during a bulk import. Garbage input could
# grow it without bound, hence the reset.
_DATE_CACHE: dict[str, datetime.date | None] = {}
_DATE_CACHE_LIMIT = 200_000


def _birth_date(yyyymmdd: str) -> datetime.date | None:
    try:
        born: datetime.date | None = datetime.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        born = None
    if born is not None and born < _MIN_BIRTH:
        born = None
    if len(_DATE_CACHE) >= _DATE_CACHE_LIMIT:
        _DATE_CACHE.clear()
    _DATE_CACHE[yyyymmdd] = born
    return born


_today_cache: tuple[float, datetime.date] = (0.0, _MIN_BIRTH)


def _china_today() -> datetime.date:
    """Today in China, recomputed only after midnight (cheap ``time.time()`` check)."""
    global _today_cache
    expires, today = _today_cache
    now = time.time()
    if now >= expires:
        current = datetime.datetime.fromtimestamp(now, _CHINA_TZ)
        today = current.date()
        midnight = datetime.datetime.combine(today + datetime.timedelta(days=1), datetime.time(), _CHINA_TZ)
        _today_cache = (midnight.timestamp(), today)
    return today


# --- parsing --------------------------------------------------------------------------


def _numeric_cell_error() -> IdNumberError:
    return IdNumberError("ID_NUMERIC_CELL", _MSG_NUMERIC_CELL)


def parse(raw: object, *, today: datetime.date | None = None) -> ResidentId:
    """Validate and normalise a resident ID number; 15-digit numbers become 18 digits.

    Raises ``IdNumberError`` with one of: ID_REQUIRED, ID_NUMERIC_CELL, ID_BAD_FORMAT,
    ID_BAD_REGION, ID_BAD_BIRTH_DATE, ID_BAD_CHECK_CHAR, ID_PRECISION_LOSS.
    """
    if raw is None:
        raise IdNumberError("ID_REQUIRED", _MSG_REQUIRED)
    if not isinstance(raw, str):
        if isinstance(raw, bool):
            raise IdNumberError("ID_BAD_FORMAT", _MSG_BAD_FORMAT)
        if isinstance(raw, float) and raw != raw:
            # pandas reads an empty cell as NaN.
            raise IdNumberError("ID_REQUIRED", _MSG_REQUIRED)
        if isinstance(raw, int | float):
            # Even an exact int is refused: the column was a number column, so other rows
            # were almost certainly rounded; the whole column needs re-collecting as text.
            raise _numeric_cell_error()
        if isinstance(raw, Decimal):
            raise _numeric_cell_error()
        raise IdNumberError("ID_BAD_FORMAT", _MSG_BAD_FORMAT)

    number = normalize(raw)
    size = len(number)
    if size == 18 and number.isascii() and number[:17].isdigit():
        last = number[17]
        if last not in "0123456789X":
            raise IdNumberError("ID_BAD_FORMAT", _MSG_BAD_FORMAT)
        first17 = number[:17]
    elif size == 15 and number.isascii() and number.isdigit():
        first17 = number[:6] + "19" + number[6:]
        last = ""
    elif not number:
        raise IdNumberError("ID_REQUIRED", _MSG_REQUIRED)
    elif _NUMERIC_TEXT_RE.fullmatch(number):
        raise _numeric_cell_error()
    else:
        raise IdNumberError("ID_BAD_FORMAT", _MSG_BAD_FORMAT)

    region = first17[:6]
    if region not in _region_set():
        raise IdNumberError("ID_BAD_REGION", _bad_region_message(region))

    digits = first17[6:14]
    born = _DATE_CACHE[digits] if digits in _DATE_CACHE else _birth_date(digits)
    if born is None or born > (today if today is not None else _china_today()):
        raise IdNumberError("ID_BAD_BIRTH_DATE", _MSG_BAD_BIRTH_DATE)

    expected = _CHECK_CHARS[(2 * int(first17, 13)) % 11]
    if not last:
        number = first17 + expected
    elif last != expected:
        if number.endswith("000"):
            raise IdNumberError("ID_PRECISION_LOSS", _MSG_PRECISION_LOSS)
        raise IdNumberError("ID_BAD_CHECK_CHAR", _MSG_BAD_CHECK_CHAR)

    # Positional arguments: keyword calls cost a measurable share of a bulk import.
    return ResidentId(number, region, born, "M" if first17[16] in "13579" else "F")


def make(region_code: str, birth_date: datetime.date, sequence: int) -> str:
    """Build a valid 18-digit number (for seeding and tests); ``sequence`` is 0..999."""
    if not 0 <= sequence <= 999:
        raise ValueError("sequence must be between 0 and 999")
    if len(region_code) != 6 or not region_code.isdigit():
        raise ValueError("region_code must be 6 digits")
    # Integer formatting rather than strftime: seeding calls this a million times.
    first17 = f"{region_code}{birth_date.year:04d}{birth_date.month:02d}{birth_date.day:02d}{sequence:03d}"
    return first17 + check_char(first17)
