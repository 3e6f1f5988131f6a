"""Chinese text helpers: pinyin for search."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import lazy_pinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT


@lru_cache(maxsize=65536)
def pinyin_keys(text: str) -> tuple[str, str]:
    """Full pinyin and initials of ``text``, lowercase, no separators.

    ``张三`` → ``("zhangsan", "zs")``. Non-Chinese characters pass through unchanged, so
    mixed names ("李A") still match what people type. Readings follow pypinyin's
    segmentation (a phrase such as 重庆 is read as a phrase).
    """
    syllables = _by_character(text)
    if syllables is None:
        syllables = lazy_pinyin(text, errors="default")
    full = "".join(syllables).lower().replace(" ", "")
    initials = "".join(s[0] for s in syllables if s).lower()
    return full, initials


def _by_character(text: str) -> list[str] | None:
    """The syllables of ``text`` one character at a time, when that is exactly what
    ``lazy_pinyin`` would answer — else ``None``.

    pypinyin reads a segment as a phrase only when the segment is in its phrase dictionary,
    and otherwise character by character; every segment is a substring of ``text``. So when
    every character has a reading and no substring of two or more characters is a known
    phrase, the answer is the characters' own readings — each remembered, where a whole
    name costs pypinyin's segmenter ≈ 80 µs (an import meets tens of thousands of distinct
    names made of a few thousand characters). Tested against ``lazy_pinyin`` itself.
    """
    if not text or any(ord(char) not in PINYIN_DICT for char in text):
        return None
    size = len(text)
    for start in range(size - 1):
        for end in range(start + 2, size + 1):
            if text[start:end] in PHRASES_DICT:
                return None
    return [_character(char) for char in text]


@lru_cache(maxsize=32768)
def _character(char: str) -> str:
    return lazy_pinyin(char, errors="default")[0]
