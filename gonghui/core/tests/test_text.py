"""``pinyin_keys``: the per-character fast path answers exactly what pypinyin answers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import lazy_pinyin

from gonghui.core.text import _by_character, pinyin_keys

# Common surname and given-name characters, heteronyms among them (重 长 行 乐 单 曾 朝 解
# 区 仇 查 藏 调 和 都 会 率 石 宿 说 万 尉 员 乘 朴 盖), characters that form phrases with
# their neighbours (重庆 长江 银行 音乐 朝阳), rare ones, Latin letters and digits.
ALPHABET = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟"
    "谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单解区仇查藏朴盖尉"
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国庆长江银行音乐朝阳重调和都会率宿说员乘红梅兵"
    "鑫淼犇骉燚垚㛃AbZ3 "
)

names = st.text(alphabet=ALPHABET, min_size=1, max_size=6)


def reference(text: str) -> tuple[str, str]:
    syllables = lazy_pinyin(text, errors="default")
    return "".join(syllables).lower().replace(" ", ""), "".join(s[0] for s in syllables if s).lower()


@settings(max_examples=3000, deadline=None)
@given(names)
def test_pinyin_keys_equal_pypinyin(text: str) -> None:
    assert pinyin_keys.__wrapped__(text) == reference(text)


def test_examples() -> None:
    assert pinyin_keys("张三") == ("zhangsan", "zs")
    assert pinyin_keys("重庆") == ("chongqing", "cq")  # a phrase: read as one
    assert pinyin_keys("李A") == ("lia", "la")  # mixed: pypinyin's own answer
    assert _by_character("张伟") == ["zhang", "wei"]
    assert _by_character("重庆") is None  # a known phrase: left to pypinyin
    assert _by_character("李A") is None  # a character without a reading: left to pypinyin
