"""Reading the spreadsheets unions really send: xlsx and csv in the encodings Excel writes.

Shared by the union import (``orgs.importing``) and the member import
(``members.importing``). Nothing here knows about columns: a ``Sheet`` is the rows of the
first worksheet with the row numbers Excel shows, cells as Python values (``str`` for
text cells, ``int``/``float`` for number cells — callers that need text, such as ID
numbers, must refuse numbers — ``date``/``datetime`` for date cells, ``""``/``None`` for
empty ones).

- ``.xlsx``/``.xlsm``: python-calamine (Rust; an order of magnitude faster than openpyxl
  on big sheets), the first worksheet.
- ``.csv``/``.txt``/``.tsv``: UTF-8 with or without BOM, UTF-16 with BOM (Excel's
  "Unicode text"), else GB18030 (a superset of GBK/GB2312, what Chinese Excel writes);
  comma- or tab-separated, detected on the first non-empty line.

Two ways to read: ``read_sheet`` returns every row as a list (small sheets: the union
import), ``open_sheet`` returns a ``SheetStream`` whose ``rows()`` yields them one at a
time and can be called again for another pass (big sheets: the member import, where a
million rows held as lists would take ≈ 2 GB). A CSV is decoded incrementally (the
encoding is found by a streaming pass, never by decoding the whole file in memory); an
xlsx is loaded by calamine (its cells live in Rust) and its rows are yielded one by one.

Errors are ``SheetError`` with the caller's code prefix: ``<prefix>_NO_FILE``,
``<prefix>_FORMAT``, ``<prefix>_UNREADABLE``, ``<prefix>_ENCODING``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from gonghui.core.errors import DomainError

__all__ = [
    "Sheet",
    "SheetError",
    "SheetStream",
    "cell_text",
    "date_from_cell",
    "decode_csv_bytes",
    "normalise_header",
    "open_sheet",
    "read_csv",
    "read_sheet",
    "read_xlsx",
]

XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")


class SheetError(DomainError):
    """The file as a whole cannot be read (missing, format, encoding)."""


@dataclass
class Sheet:
    format: str  # "xlsx" | "csv"
    encoding: str  # the csv's encoding ("utf-8", "utf-8-sig", "utf-16", "gb18030"); "" for xlsx
    rows: list[tuple[int, list[Any]]]  # (row number as the spreadsheet shows it, cells)
    delimiter: str = ","


def cell_text(value: Any) -> str:
    """A cell as text: numbers without a spurious ``.0``, strings NFKC-trimmed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return unicodedata.normalize("NFKC", str(value)).strip()


@lru_cache(maxsize=4096)  # choice cells repeat the same few words a million times
def normalise_header(text: str) -> str:
    """A header cell reduced for alias lookup: NFKC, no spaces or ``*``, lower case, and
    a trailing note in brackets dropped (``工会名称（必填）`` → ``工会名称``)."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(text.split()).strip("*").lower()
    return re.sub(r"\(.*\)$", "", text) or text


_DATE_RE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_EXCEL_EPOCH = date(1899, 12, 30)


def date_from_cell(value: Any, *, excel: bool = False) -> date | None:
    """Dates as Chinese sheets write them: 2020-01-02, 2020/1/2, 2020.1.2, 2020年1月2日,
    20200102, and Excel date cells (a ``date``/``datetime``, or — only with ``excel`` — a
    day number in an unformatted xlsx cell). ``None`` for an empty cell; ``ValueError``
    for anything else, impossible dates (2020-02-30) included."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if excel and isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value < 2958466:
        return _EXCEL_EPOCH + timedelta(days=int(value))
    text = cell_text(value)
    if not text:
        return None
    match = _DATE_RE.fullmatch(text)
    parts: tuple[str, str, str] | None = None
    if match:
        parts = (match.group(1), match.group(2), match.group(3))
    elif len(text) == 8 and text.isdigit():
        parts = (text[:4], text[4:6], text[6:])
    if parts is None:
        raise ValueError(text)
    return date(int(parts[0]), int(parts[1]), int(parts[2]))


def decode_csv_bytes(data: bytes, code_prefix: str = "SHEET") -> tuple[str, str]:
    """Text and the encoding it was in: UTF-8 (BOM or not), UTF-16 with BOM, else GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise _encoding_error(code_prefix) from exc


_BLOCK = 1 << 20


def _encoding_error(code_prefix: str) -> SheetError:
    return SheetError(
        f"{code_prefix}_ENCODING", "无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV，或直接使用 xlsx。"
    )


def _decodes(path: Path, encoding: str, skip: int = 0) -> bool:
    """Whether the whole file decodes, read a block at a time (nothing kept)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as handle:
            handle.seek(skip)
            while block := handle.read(_BLOCK):
                decoder.decode(block)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def csv_encoding(path: Path, code_prefix: str = "SHEET") -> str:
    """The encoding of a CSV file, as ``decode_csv_bytes`` decides it, without loading it:
    a BOM decides at once; otherwise the file is UTF-8 if all of it decodes as UTF-8, else
    GB18030 if all of it decodes as that (a pass over the file, ≈ 0.1 s per 100 MB)."""
    with path.open("rb") as handle:
        prefix = handle.read(4)
    if prefix.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if prefix.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if _decodes(path, "utf-8"):
        return "utf-8"
    if _decodes(path, "gb18030"):
        return "gb18030"
    raise _encoding_error(code_prefix)


@dataclass
class SheetStream:
    """A sheet read a row at a time; ``rows()`` starts a new pass each time it is called."""

    format: str  # "xlsx" | "csv"
    encoding: str  # as in ``Sheet``
    path: Path
    delimiter: str = ","
    code_prefix: str = "SHEET"

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(row number as the spreadsheet shows it, cells) for every row, empty ones too."""
        if self.format == "xlsx":
            return _xlsx_rows(self.path, self.code_prefix)
        return _csv_rows(self.path, self.encoding, self.delimiter)


def _csv_rows(path: Path, encoding: str, delimiter: str) -> Iterator[tuple[int, list[Any]]]:
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        reader = csv.reader(text, delimiter=delimiter)
        for row in reader:
            yield reader.line_num, row


def _csv_delimiter(path: Path, encoding: str) -> str:
    with path.open("rb") as raw, io.TextIOWrapper(raw, encoding=encoding, newline="") as text:
        for line in text:
            if line.strip():
                return "\t" if line.count("\t") > line.count(",") else ","
    return ","


def _unreadable_xlsx(code_prefix: str) -> SheetError:
    return SheetError(f"{code_prefix}_UNREADABLE", "无法读取这个 xlsx 文件，请确认它是 Excel 2007 及以后的格式。")


def _xlsx_rows(path: Path, code_prefix: str) -> Iterator[tuple[int, list[Any]]]:
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheet = workbook.get_sheet_by_index(0)
        first_row = (sheet.start or (0, 0))[0]
        rows = sheet.iter_rows()
    except (CalamineError, OSError, ValueError, IndexError) as exc:
        raise _unreadable_xlsx(code_prefix) from exc
    except Exception as exc:  # calamine raises its own error types for zip/xml problems
        if type(exc).__module__.startswith("python_calamine"):
            raise _unreadable_xlsx(code_prefix) from exc
        raise
    for number, cells in enumerate(rows, 1):
        yield first_row + number, cells


def open_sheet(path: Path, code_prefix: str = "SHEET", *, file_format: str = "") -> SheetStream:
    """``path`` as a ``SheetStream`` (format from the suffix unless ``file_format`` says it).
    Errors about the whole file (missing, format, encoding) are raised here; an unreadable
    xlsx is found when its rows are first read."""
    if not path.is_file():
        raise SheetError(f"{code_prefix}_NO_FILE", f"找不到文件 {path.name}。")
    kind = file_format or sheet_format(path.name, code_prefix)
    if kind == "xlsx":
        return SheetStream("xlsx", "", path, code_prefix=code_prefix)
    encoding = csv_encoding(path, code_prefix)
    return SheetStream("csv", encoding, path, _csv_delimiter(path, encoding), code_prefix)


def read_csv(path: Path, code_prefix: str = "SHEET") -> Sheet:
    stream = open_sheet(path, code_prefix, file_format="csv")
    return Sheet("csv", stream.encoding, list(stream.rows()), stream.delimiter)


def read_xlsx(path: Path, code_prefix: str = "SHEET") -> Sheet:
    return Sheet("xlsx", "", list(_xlsx_rows(path, code_prefix)))


def sheet_format(name: str, code_prefix: str = "SHEET") -> str:
    """``xlsx`` or ``csv`` from a file name, or ``SheetError`` for anything else."""
    suffix = Path(name).suffix.lower()
    if suffix in XLSX_SUFFIXES:
        return "xlsx"
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix == ".xls":
        raise SheetError(f"{code_prefix}_FORMAT", "不支持旧的 .xls 格式：请在 Excel 中另存为 .xlsx 或 CSV。")
    raise SheetError(f"{code_prefix}_FORMAT", "只支持 .xlsx 和 .csv 文件。")


def read_sheet(path: Path, code_prefix: str = "SHEET", *, file_format: str = "") -> Sheet:
    """Read ``path``; the format comes from its suffix unless ``file_format`` says it."""
    if not path.is_file():
        raise SheetError(f"{code_prefix}_NO_FILE", f"找不到文件 {path.name}。")
    kind = file_format or sheet_format(path.name, code_prefix)
    if kind == "xlsx":
        return read_xlsx(path, code_prefix)
    return read_csv(path, code_prefix)
