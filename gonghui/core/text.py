"""Chinese text helpers: pinyin for search."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import lazy_pinyin


@lru_cache(maxsize=65536)
def pinyin_keys(text: str) -> tuple[str, str]:
    """Full pinyin and initials of ``text``, lowercase, no separators.

    ``张三`` → ``("zhangsan", "zs")``. Non-Chinese characters pass through unchanged, so
    mixed names ("李A") still match what people type.
    """
    syllables = lazy_pinyin(text, errors="default")
    full = "".join(syllables).lower().replace(" ", "")
    initials = "".join(s[0] for s in syllables if s).lower()
    return full, initials
