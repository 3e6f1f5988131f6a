"""Demo data: a realistic Guangdong union tree with its members, fast enough for a million.

The regional skeleton is real: the province, its 21 prefecture-level cities and their
current districts and counties come from GB/T 2260 as shipped by python-stdnum
(``cn/loc``), abolished codes skipped. Below that everything is invented but plausible:
street and township unions, grassroots unions with unit names, valid USCCs, chairs and
approval documents, and members with valid synthetic ID numbers issued in their union's
county.

Two halves:

- the plan (``build_tree``, ``PeopleFactory``) is pure and deterministic for a seed: no
  database, no clock (every date is relative to ``AS_OF``);
- the writer (``seed``) turns it into rows with the same encryption, blind index, masking
  and pinyin keys as ``members.actions.build_member`` and loads them in batches: COPY on
  PostgreSQL, ``bulk_create`` on SQLite. Members stream through one batch at a time.

Uniqueness is by construction, never by catching errors: an allocator hands out each
(region, birth date, sequence) triple once, so two members never share an ID number;
mobile numbers and card numbers are bijections of a counter.

Seeding is one bulk operation recorded by one audit event (``demo.seed``); the rows it
writes are not audited one by one, which is also why it writes roles and the demo member
directly rather than through the per-row actions.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import re
import resource
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Any, Generic, NamedTuple, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.core import audit, idnumbers, pii, uscc
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.core.text import pinyin_keys
from gonghui.members import actions as member_actions
from gonghui.members.models import (
    CardSequence,
    Education,
    EmploymentStatus,
    HouseholdType,
    Member,
    MemberStatus,
    NewEmploymentGroup,
    PoliticalStatus,
    RetainReason,
    SkillLevel,
)
from gonghui.orgs.models import Org, OrgLevel, Role, UnitType

# Every generated date is relative to this day, so a seed gives the same data on any day.
AS_OF = date(2025, 12, 31)
DEFAULT_SEED = 2026
DEMO_PASSWORD = "gonghui-demo-2026"  # noqa: S105 - public demo password, set only on the demo accounts
MEMBERS_PER_GRASSROOTS = 150
MIN_GRASSROOTS = 30
DEFAULT_BATCH = 5000
PROVINCE_CODE = "440000"
TIANHE = "440106"
NANSHAN = "440305"
GUANGZHOU = "440100"
SHENZHEN = "440300"

# --- reference data -------------------------------------------------------------------
# fmt: off

# Surnames with rough weights for Guangdong (陈, 李, 黄 lead there, unlike the national list).
SURNAMES: tuple[tuple[str, float], ...] = (
    ("陈", 9.0), ("李", 7.0), ("黄", 6.5), ("张", 5.5), ("梁", 4.0), ("林", 4.0), ("刘", 4.0), ("王", 3.5),
    ("吴", 3.0), ("罗", 2.8), ("杨", 2.6), ("周", 2.0), ("郑", 2.0), ("何", 2.0), ("钟", 1.8), ("谢", 1.8),
    ("邓", 1.8), ("曾", 1.6), ("冯", 1.5), ("叶", 1.5), ("苏", 1.4), ("卢", 1.3), ("蔡", 1.3), ("许", 1.2),
    ("潘", 1.2), ("朱", 1.2), ("赖", 1.1), ("余", 1.0), ("彭", 1.0), ("徐", 1.0), ("赵", 1.0), ("郭", 1.0),
    ("江", 0.9), ("莫", 0.9), ("廖", 0.9), ("方", 0.8), ("邱", 0.8), ("胡", 0.8), ("欧", 0.7), ("唐", 0.7),
    ("温", 0.7), ("孙", 0.6), ("马", 0.6), ("高", 0.6), ("肖", 0.6), ("关", 0.5), ("庄", 0.5), ("姚", 0.5),
    ("袁", 0.5), ("洪", 0.5), ("丘", 0.4), ("龙", 0.4), ("韦", 0.4), ("严", 0.4), ("麦", 0.4), ("杜", 0.4),
    ("沈", 0.4), ("范", 0.4), ("熊", 0.4), ("石", 0.4), ("陆", 0.4), ("宋", 0.4), ("邹", 0.4), ("汤", 0.3),
    ("柯", 0.3), ("翁", 0.3), ("易", 0.3), ("魏", 0.3), ("傅", 0.3), ("侯", 0.3), ("姜", 0.3), ("董", 0.3),
    ("蒋", 0.3), ("欧阳", 0.3), ("司徒", 0.1), ("上官", 0.05),
)
GIVEN_MALE = (
    "伟强磊军洋勇杰涛明超平刚辉鹏飞斌波宇浩凯健俊帆旭宁龙林晨阳文博峰建国志永海东荣新德锋成坤彬振嘉铭泽宏昊然睿"
    "轩航鑫诚豪毅鸿彦立华光荣金耀锦培"
)
GIVEN_FEMALE = (
    "芳娜敏静丽艳娟霞秀英玲燕萍红梅琳雪婷慧颖洁琴云莉倩丹蓉怡欣佳晶妍璐露雯悦诗雨梦淑珊媛婉蕾彤月春兰凤秋玉"
    "嘉铭欣晓"
)

ETHNICITIES: tuple[tuple[str, float], ...] = (
    ("汉族", 96.5), ("壮族", 1.0), ("瑶族", 0.4), ("土家族", 0.4), ("苗族", 0.4), ("侗族", 0.3), ("畲族", 0.2),
    ("回族", 0.2), ("满族", 0.2), ("黎族", 0.2), ("布依族", 0.2),
)

# Real 街道 of the districts the demo accounts work in; other districts get generic names.
KNOWN_STREETS: dict[str, tuple[str, ...]] = {
    "440106": ("石牌", "林和", "天河南", "沙河", "五山", "员村", "车陂", "猎德", "冼村", "棠下"),
    "440305": ("粤海", "南头", "南山", "沙河", "蛇口", "招商", "西丽", "桃源"),
    "440104": ("北京", "人民", "东山", "农林", "梅花村", "黄花岗", "华乐", "建设"),
    "440304": ("园岭", "南园", "福田", "沙头", "梅林", "华富", "香蜜湖", "莲花"),
}
GENERIC_STREETS = (
    "城南", "城北", "城东", "城西", "新城", "中山", "人民", "解放", "新华", "建设", "文化", "和平", "东湖", "西湖",
    "金山", "龙山", "凤凰", "东山", "西山", "白沙", "金沙", "大塘", "新塘", "永和", "太平", "安宁", "华阳", "莲塘",
    "竹山", "梅园", "江南", "江北", "河西", "桥东", "沙田", "石岗", "青云", "龙岗", "松岭", "碧桂",
)
# Dongguan and Zhongshan have no districts: their towns and 街道 report to the city and
# stand where a district union would; under them sit community union federations.
CITY_TOWNS: dict[str, tuple[str, ...]] = {
    "441900": (
        "莞城街道", "南城街道", "东城街道", "万江街道", "虎门镇", "长安镇", "塘厦镇", "常平镇", "厚街镇", "寮步镇",
        "大朗镇", "凤岗镇", "清溪镇", "石龙镇", "松山湖",
    ),
    "442000": (
        "石岐街道", "东区街道", "西区街道", "南区街道", "火炬开发区", "小榄镇", "古镇镇", "横栏镇", "三乡镇",
        "坦洲镇", "沙溪镇", "黄圃镇",
    ),
}
COMMUNITIES = ("龙眼", "新联", "白沙", "沙角", "上塘", "霄边", "锦厦", "乌沙", "新安", "涌口", "南区", "东坑")

# Rough share of the province's union members per city.
CITY_WEIGHTS: dict[str, float] = {
    "440100": 17, "440300": 19, "441900": 10, "440600": 9, "441300": 4.5, "442000": 4, "440700": 3.5,
    "440500": 3.5, "440800": 3.5, "440400": 2.5, "440900": 3, "441200": 3, "445200": 3, "441800": 2.5,
    "441400": 2, "441700": 1.5, "440200": 2, "441600": 1.5, "445100": 1.5, "441500": 1.2, "445300": 1.2,
}
# Abbreviations used in approval document numbers (穗 = Guangzhou, 深 = Shenzhen …).
CITY_ABBR: dict[str, str] = {
    "440100": "穗", "440200": "韶", "440300": "深", "440400": "珠", "440500": "汕", "440600": "佛", "440700": "江",
    "440800": "湛", "440900": "茂", "441200": "肇", "441300": "惠", "441400": "梅", "441500": "汕尾", "441600": "河",
    "441700": "阳", "441800": "清", "441900": "莞", "442000": "中", "445100": "潮", "445200": "揭", "445300": "云",
}

INDUSTRY_UNIONS: tuple[tuple[str, str], ...] = (
    ("education", "广东省教育工会"),
    ("machinery", "广东省机械冶金建材工会"),
    ("finance", "广东省金融工会"),
    ("commerce", "广东省财贸轻纺烟草工会"),
    ("construction", "广东省海员建设工会"),
    ("energy", "广东省能源化学地质工会"),
    ("posts", "广东省国防邮电工会"),
    ("agriculture", "广东省农林水利气象工会"),
    ("medical", "广东省医务工会"),
)

FIRM_CHARS = "华兴盛达恒瑞泰信宏鑫佳创联通源德新丰金锦誉嘉康明远海天宇晟汇博越腾卓润安永隆辉耀星辰峰弘景凯力顺富美立"
ROADS = (
    "建设", "人民", "中山", "解放", "新港", "科技", "创业", "工业", "东风", "环城", "滨江", "南华", "迎宾", "金沙",
    "龙华", "文明", "育才", "朝阳", "青年", "振兴",
)
BANKS = ("中国工商银行", "中国农业银行", "中国银行", "中国建设银行", "交通银行", "招商银行", "广发银行")


class Industry(NamedTuple):
    """How the units of one industry are named and what their workforce looks like."""

    name: str  # 国民经济行业分类 section, stored in Org.industry
    weight: float
    words: tuple[str, ...]  # business words between the firm name and 有限公司
    unit_types: tuple[tuple[str, float], ...]
    union_key: str  # industry union that is also a parent of some of these units
    male_ratio: float
    white_collar: bool
    new_groups: tuple[tuple[str, float], ...]  # new-employment-form groups and their share
    kind: str = "firm"  # firm, bank, school, hospital, agency, utility


_ENTERPRISE = ((UnitType.PRIVATE, 0.62), (UnitType.STATE_OWNED, 0.12), (UnitType.FOREIGN, 0.12), (UnitType.HMT, 0.12),
               (UnitType.COLLECTIVE, 0.02))
INDUSTRIES: tuple[Industry, ...] = (
    Industry("制造业", 30, ("电子", "机械", "五金", "塑胶制品", "家具", "服装", "食品", "精密制造", "电器",
                           "汽车零部件", "模具", "印刷", "陶瓷", "纺织", "照明"), _ENTERPRISE, "machinery", 0.58,
             False, ()),
    Industry("信息传输、软件和信息技术服务业", 8, ("科技", "信息技术", "网络科技", "软件", "数据科技", "通信技术"),
             ((UnitType.PRIVATE, 0.85), (UnitType.STATE_OWNED, 0.1), (UnitType.FOREIGN, 0.05)), "posts", 0.62,
             True, ()),
    Industry("批发和零售业", 10, ("商贸", "贸易", "百货", "超市", "医药连锁"), _ENTERPRISE, "commerce", 0.45,
             False, ()),
    Industry("建筑业", 7, ("建筑工程", "建设工程", "装饰工程", "市政工程"),
             ((UnitType.PRIVATE, 0.7), (UnitType.STATE_OWNED, 0.3)), "construction", 0.85, False, ()),
    Industry("交通运输、仓储和邮政业", 6, ("物流", "运输", "快递", "供应链管理", "客运"),
             ((UnitType.PRIVATE, 0.8), (UnitType.STATE_OWNED, 0.2)), "posts", 0.8, False,
             ((NewEmploymentGroup.COURIER, 0.35), (NewEmploymentGroup.TRUCK_DRIVER, 0.15),
              (NewEmploymentGroup.RIDE_HAILING, 0.08))),
    Industry("住宿和餐饮业", 5, ("餐饮管理", "酒店管理", "饮食服务"), ((UnitType.PRIVATE, 0.9), (UnitType.HMT, 0.1)),
             "commerce", 0.45, False, ((NewEmploymentGroup.FOOD_DELIVERY, 0.12),)),
    Industry("金融业", 3, (), ((UnitType.STATE_OWNED, 1.0),), "finance", 0.45, True, (), "bank"),
    Industry("房地产业", 3, ("置业", "房地产开发", "物业管理"), ((UnitType.PRIVATE, 0.8), (UnitType.STATE_OWNED, 0.2)),
             "construction", 0.55, False, ((NewEmploymentGroup.SECURITY, 0.2),)),
    Industry("租赁和商务服务业", 4, ("人力资源", "商务服务", "企业管理咨询", "保安服务"),
             ((UnitType.PRIVATE, 0.9), (UnitType.STATE_OWNED, 0.1)), "commerce", 0.6, False,
             ((NewEmploymentGroup.SECURITY, 0.15),)),
    Industry("科学研究和技术服务业", 3, ("检测技术", "工程技术", "生物科技"),
             ((UnitType.PRIVATE, 0.7), (UnitType.INSTITUTION, 0.3)), "", 0.6, True, ()),
    Industry("教育", 5, (), ((UnitType.INSTITUTION, 0.85), (UnitType.NON_ENTERPRISE, 0.15)), "education", 0.3,
             True, (), "school"),
    Industry("卫生和社会工作", 4, (), ((UnitType.INSTITUTION, 1.0),), "medical", 0.3, True,
             ((NewEmploymentGroup.CARER, 0.05),), "hospital"),
    Industry("公共管理、社会保障和社会组织", 4, (), ((UnitType.GOVERNMENT, 1.0),), "", 0.5, True, (), "agency"),
    Industry("电力、热力、燃气及水生产和供应业", 2, (), ((UnitType.STATE_OWNED, 1.0),), "energy", 0.75, False, (),
             "utility"),
    Industry("居民服务、修理和其他服务业", 3, ("家政服务", "汽车维修", "清洁服务"),
             ((UnitType.PRIVATE, 0.8), (UnitType.INDIVIDUAL, 0.2)), "commerce", 0.45, False,
             ((NewEmploymentGroup.HOUSEKEEPING, 0.3),)),
    Industry("文化、体育和娱乐业", 2, ("文化传播", "传媒", "体育发展"),
             ((UnitType.PRIVATE, 0.8), (UnitType.STATE_OWNED, 0.2)), "", 0.5, True, ()),
    Industry("农、林、牧、渔业", 1, ("农业发展", "生态农业", "水产养殖"),
             ((UnitType.PRIVATE, 0.7), (UnitType.COLLECTIVE, 0.3)), "agriculture", 0.6, False, ()),
)
AGENCIES = ("人力资源和社会保障局", "市场监督管理局", "住房和城乡建设局", "交通运输局", "民政局", "生态环境局",
            "应急管理局", "城市管理和综合执法局", "卫生健康局", "文化广电旅游体育局")
# Registering-authority + entity-type prefix of a unit's USCC (GB 32100) by unit type.
USCC_TYPE_PREFIX: dict[str, str] = {
    UnitType.INSTITUTION: "12", UnitType.GOVERNMENT: "11", UnitType.NON_ENTERPRISE: "52",
    UnitType.SOCIAL: "51", UnitType.INDIVIDUAL: "92",
}

EDUCATION_BLUE = ((Education.PRIMARY, 6), (Education.JUNIOR, 38), (Education.SENIOR, 35), (Education.COLLEGE, 14),
                  (Education.BACHELOR, 6.5), (Education.MASTER, 0.5))
EDUCATION_WHITE = ((Education.SENIOR, 8), (Education.COLLEGE, 22), (Education.BACHELOR, 55), (Education.MASTER, 13),
                   (Education.DOCTOR, 2))
SKILL_BLUE = ((SkillLevel.NONE, 40), (SkillLevel.JUNIOR, 25), (SkillLevel.INTERMEDIATE, 20), (SkillLevel.SENIOR, 10),
              (SkillLevel.TECHNICIAN, 4), (SkillLevel.SENIOR_TECHNICIAN, 1))
# Most births fall between 1976 and 1995; the 1960s cohort is mostly retired.
BIRTH_YEARS: tuple[tuple[int, float], ...] = tuple(
    (year, 0.3 if year <= 1965 else 0.8 if year <= 1975 else 1.2 if year <= 1995 else 0.8) for year in range(1960, 2005)
)
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "139", "150", "151", "152", "153", "155", "156", "157",
    "158", "159", "166", "176", "177", "180", "181", "182", "183", "185", "186", "187", "188", "189", "191", "198",
    "199",
)  # 138 is left out: the demo accounts use 138 0013 800x.


# fmt: on

# --- small helpers ----------------------------------------------------------------------

T = TypeVar("T")


class Weighted(Generic[T]):
    """Fast repeated weighted choice: one ``random()`` and a bisect per pick."""

    def __init__(self, items: Sequence[tuple[T, float]]) -> None:
        self.values = [value for value, _ in items]
        self.cumulative = list(itertools.accumulate(weight for _, weight in items))
        self.total = self.cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.total)]


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` (largest remainder)."""
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    shares = [total * w / weight_sum for w in weights]
    counts = [math.floor(s) for s in shares]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - shares[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _step(n: int) -> str:
    """The ``n``-th child's path step in treebeard's MP scheme (base 36, ``steplen`` wide)."""
    alphabet, digits = Org.alphabet, ""
    while n:
        n, rem = divmod(n, len(alphabet))
        digits = alphabet[rem] + digits
    if len(digits) > Org.steplen:
        raise ValueError("too many children under one org for the path step")
    return digits.rjust(Org.steplen, alphabet[0])


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _random_date(rng: random.Random, start: date, end: date) -> date:
    if end <= start:
        return start
    return date.fromordinal(rng.randint(start.toordinal(), end.toordinal()))


def demo_totp_key(seed: int, login: str) -> str:
    """The demo TOTP secret (hex, 20 bytes) of ``login``: derived from the seed so docs can show it."""
    return hashlib.sha256(f"gonghui-demo-totp:{seed}:{login}".encode()).digest()[:20].hex()


# --- the real regions -------------------------------------------------------------------


class Region(NamedTuple):
    code: str
    name: str


class City(NamedTuple):
    code: str
    name: str
    districts: tuple[Region, ...]


_RANGE_RE = re.compile(r"^\[(\d*)-(\d*)\](.*)$")


def _current_name(county_field: str) -> str | None:
    """The name in force today, or None when the code was abolished (``[1983-2005]东山区``)."""
    last = county_field.split(",")[-1]
    match = _RANGE_RE.match(last)
    if match is None:
        return last or None
    return None if match.group(2) else match.group(3)


@cache
def guangdong_cities() -> tuple[City, ...]:
    """Guangdong's current prefecture-level cities and their districts/counties (GB/T 2260)."""
    from stdnum import numdb

    cities: dict[str, tuple[str, str, list[Region]]] = {}
    for _plen, prov, _high, _props, children in numdb.get("cn/loc").prefixes:
        if prov != PROVINCE_CODE[:2]:
            continue
        for _clen, code4, _chigh, props, _grandchildren in children:
            name = _current_name(props.get("county", ""))
            if name is None or code4 == "0000":
                continue
            if code4.endswith("00"):
                cities[code4[:2]] = ("44" + code4, name, [])
            elif name != "市辖区" and code4[:2] in cities:
                cities[code4[:2]][2].append(Region("44" + code4, name))
    return tuple(City(code, name, tuple(districts)) for code, name, districts in cities.values())


# --- the tree plan ----------------------------------------------------------------------


@dataclass
class OrgSeed:
    path: str
    level: str
    name: str
    region_code: str
    values: dict[str, Any] = field(default_factory=dict)
    numchild: int = 0
    industry_key: str = ""  # the industry union that is this union's second parent
    profile: Industry | None = None  # grassroots only: how its members look
    member_count: int = 0
    city_code: str = ""


@dataclass
class DemoTree:
    orgs: list[OrgSeed]
    province: OrgSeed
    guangzhou: OrgSeed
    tianhe: OrgSeed
    nanshan: OrgSeed
    chair_union: OrgSeed  # the Tianhe grassroots union of the demo chair and demo member

    @property
    def grassroots(self) -> list[OrgSeed]:
        return [o for o in self.orgs if o.level == OrgLevel.GRASSROOTS]

    @property
    def bulk_members(self) -> int:
        return sum(o.member_count for o in self.orgs)


class _TreeBuilder:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.orgs: list[OrgSeed] = []
        self.union_serial = itertools.count(1)
        self.unit_serial = itertools.count(1)
        self.units: set[str] = set()
        self.doc_numbers: dict[tuple[str, int], int] = {}
        self.industries = Weighted([(ind, ind.weight) for ind in INDUSTRIES])

    def add(self, parent: OrgSeed | None, level: str, name: str, region: str, **values: Any) -> OrgSeed:
        if parent is None:
            path = _step(1 + sum(1 for o in self.orgs if len(o.path) == Org.steplen))
        else:
            parent.numchild += 1
            path = parent.path + _step(parent.numchild)
        grassroots = level == OrgLevel.GRASSROOTS
        values.setdefault("uscc", uscc.make_union_code(region, next(self.union_serial), grassroots=grassroots))
        seed = OrgSeed(
            path=path,
            level=level,
            name=name,
            region_code=region,
            values=values,
            city_code=parent.city_code if parent else "",
        )
        self.orgs.append(seed)
        return seed

    def person_name(self) -> str:
        rng = self.rng
        surname = _SURNAME_PICK.pick(rng)
        pool = GIVEN_MALE if rng.random() < 0.55 else GIVEN_FEMALE
        return surname + "".join(rng.choice(pool) for _ in range(1 if rng.random() < 0.2 else 2))

    def administration(self, place: str, city_code: str, district_abbr: str, earliest: int = 1985) -> dict[str, Any]:
        """Founding, approval and term fields shared by every union."""
        rng = self.rng
        founded = _random_date(rng, date(earliest, 1, 1), date(2023, 12, 31))
        approved = founded + timedelta(days=rng.randint(0, 40))
        year = approved.year
        key = (place, year)
        self.doc_numbers[key] = self.doc_numbers.get(key, 0) + rng.randint(1, 9)
        doc = f"{CITY_ABBR.get(city_code, '粤')}{district_abbr}工复〔{year}〕{self.doc_numbers[key]}号"
        # Terms are five years; the current one is the latest that has begun by AS_OF.
        terms = (AS_OF.year - approved.year) // 5
        if _add_years(approved, 5 * terms) > AS_OF:
            terms -= 1
        term_start = _add_years(approved, 5 * terms)
        return {
            "founded_on": founded,
            "approval_date": approved,
            "approval_doc_no": doc,
            "term_start": term_start,
            "term_end": _add_years(term_start, 5) - timedelta(days=1),
            "chair_name": self.person_name(),
        }

    def address(self, place: str) -> str:
        rng = self.rng
        return f"{place}{rng.choice(ROADS)}{rng.choice(('路', '大道', '街'))}{rng.randint(1, 399)}号"

    def unit(self, place: str, short_place: str, street: str, industry: Industry) -> tuple[str, str]:
        """A unit name and unit type for a grassroots union in ``place`` (广州市天河区)."""
        rng = self.rng
        unit_type = Weighted(industry.unit_types).pick(rng)
        for attempt in range(30):
            brand = "".join(rng.sample(FIRM_CHARS, 2))
            if industry.kind == "bank":
                name = f"{rng.choice(BANKS)}股份有限公司{short_place}{street}支行"
            elif industry.kind == "school":
                name = rng.choice(
                    (
                        f"{place}第{rng.randint(1, 40)}中学",
                        f"{place}{street}小学",
                        f"{place}{brand}实验学校",
                        f"{place}{street}幼儿园",
                    )
                )
            elif industry.kind == "hospital":
                name = rng.choice(
                    (
                        f"{place}人民医院",
                        f"{place}中医院",
                        f"{place}妇幼保健院",
                        f"{place}{street}社区卫生服务中心",
                        f"{place}第{rng.randint(2, 9)}人民医院",
                    )
                )
            elif industry.kind == "agency":
                name = f"{place}{rng.choice(AGENCIES)}"
            elif industry.kind == "utility":
                name = rng.choice(
                    (
                        f"{short_place}{brand}供水有限公司",
                        f"{short_place}{brand}燃气有限公司",
                        f"广东电网有限责任公司{short_place}供电局",
                    )
                )
            else:
                prefix = place if rng.random() < 0.5 else short_place
                name = f"{prefix}{brand}{rng.choice(industry.words)}有限公司"
            if attempt > 20:
                name = f"{place}{brand}{rng.choice(industry.words or ('服务',))}有限公司"
            if name not in self.units:
                self.units.add(name)
                return name, unit_type
        return f"{place}{next(self.unit_serial)}号单位", unit_type

    def grassroots(
        self, parent: OrgSeed, district: Region, place: str, short_place: str, street: str, abbr: str
    ) -> OrgSeed:
        rng = self.rng
        industry: Industry = self.industries.pick(rng)
        unit_name, unit_type = self.unit(place, short_place, street, industry)
        serial = next(self.unit_serial)
        body = f"{(serial * 7919 + 1_000_000) % 100_000_000:08d}"
        unit_uscc = uscc.make(
            USCC_TYPE_PREFIX.get(unit_type, "91") + district.code + body + uscc.org_code_check_char(body)
        )
        values = {
            "unit_name": unit_name,
            "unit_uscc": unit_uscc,
            "unit_type": unit_type,
            "industry": industry.name,
            "address": self.address(place),
            **self.administration(district.code, parent.city_code, abbr, earliest=1995),
        }
        suffix = "工会委员会" if rng.random() < 0.15 else "工会"
        org = self.add(parent, OrgLevel.GRASSROOTS, unit_name + suffix, district.code, **values)
        org.profile = industry
        if industry.union_key and rng.random() < 0.6:
            org.industry_key = industry.union_key
        return org


_SURNAME_PICK = Weighted(SURNAMES)


def _district_abbr(name: str) -> str:
    return name[0]


def build_tree(members: int, seed: int = DEFAULT_SEED, city: str | None = None) -> DemoTree:
    """Plan the province for ``members`` members (deterministic for ``seed``).

    About one grassroots union per ``MEMBERS_PER_GRASSROOTS`` members, never fewer than
    ``MIN_GRASSROOTS``. With ``city`` (a city's region code) every grassroots union that
    carries members is in that city: benchmarks use it to get a city with N members.
    """
    rng = random.Random(f"gonghui-demo:{seed}:tree")  # noqa: S311 - demo data, reproducible on purpose
    cities = guangdong_cities()
    codes = [c.code for c in cities]
    if city is not None and city not in codes:
        raise ValueError(f"{city} is not a Guangdong city code ({', '.join(codes)})")
    b = _TreeBuilder(rng)
    admin_province = b.administration("省", PROVINCE_CODE, "", earliest=1950)
    province = b.add(
        None,
        OrgLevel.PROVINCE,
        "广东省总工会",
        PROVINCE_CODE,
        address="广东省广州市越秀区越华路112号",
        **admin_province,
    )

    total = max(math.ceil(max(members - 1, 0) / MEMBERS_PER_GRASSROOTS), MIN_GRASSROOTS)
    if city is None:
        per_city = [1 + n for n in apportion(total - len(cities), [CITY_WEIGHTS.get(c, 1.0) for c in codes])]
    else:
        per_city = [total if c == city else 0 for c in codes]

    tianhe = nanshan = guangzhou = None
    for c, count in zip(cities, per_city, strict=True):
        city_org = b.add(
            province,
            OrgLevel.CITY,
            f"{c.name}总工会",
            c.code,
            address=b.address(c.name),
            **b.administration(c.code, c.code, "", earliest=1950),
        )
        city_org.city_code = c.code
        if c.code == GUANGZHOU:
            guangzhou = city_org
        towns = CITY_TOWNS.get(c.code)
        districts = [Region(c.code, t) for t in towns] if towns else list(c.districts)
        weights = [rng.uniform(0.6, 1.4) * (1.6 if d.name.endswith("区") else 1.0) for d in districts]
        per_district = apportion(count, weights)
        for must in (TIANHE, NANSHAN):
            # The demo accounts work in Tianhe and Nanshan: each needs a grassroots union.
            if must.startswith(c.code[:4]) and not towns:
                i = next(i for i, d in enumerate(districts) if d.code == must)
                if per_district[i] == 0:
                    per_district[i] = 1
        for d, n_grassroots in zip(districts, per_district, strict=True):
            if d.name.endswith("市"):
                # A county-level city (高州市): units are named after it alone.
                place, short_place = d.name, d.name.removesuffix("市")
            elif towns:
                place = f"{c.name}{d.name}"
                short_place = c.name.removesuffix("市") + d.name.removesuffix("街道").removesuffix("镇")
            else:
                place = f"{c.name}{d.name}"
                short_place = c.name.removesuffix("市") + d.name.removesuffix("区").removesuffix("县")
            abbr = _district_abbr(d.name)
            district_name = f"{place}总工会" if towns or len(d.name) <= 2 else f"{d.name}总工会"
            district = b.add(
                city_org,
                OrgLevel.DISTRICT,
                district_name,
                d.code,
                address=b.address(place),
                **b.administration(d.code, c.code, abbr, earliest=1980),
            )
            if d.code == TIANHE:
                tianhe = district
            elif d.code == NANSHAN:
                nanshan = district
            n_streets = min(8, max(1, math.ceil(n_grassroots / 20)))
            if towns:
                pool = rng.sample(COMMUNITIES, len(COMMUNITIES))
            else:
                pool = list(KNOWN_STREETS.get(d.code, ())) or rng.sample(GENERIC_STREETS, len(GENERIC_STREETS))
            streets: list[tuple[OrgSeed, str]] = []
            for s_name in pool[:n_streets]:
                if towns:
                    # A town's community federations stand where street unions would.
                    s_org = b.add(
                        district,
                        OrgLevel.FEDERATION,
                        f"{d.name}{s_name}社区工会联合会",
                        d.code,
                        address=b.address(place + s_name + "社区"),
                        **b.administration(d.code, c.code, abbr),
                    )
                else:
                    kind = "街道" if d.name.endswith("区") or rng.random() < 0.3 else "镇"
                    s_org = b.add(
                        district,
                        OrgLevel.STREET,
                        f"{d.name}{s_name}{kind}总工会",
                        d.code,
                        address=b.address(place + s_name + kind),
                        **b.administration(d.code, c.code, abbr),
                    )
                streets.append((s_org, s_name))
            for i in range(n_grassroots):
                # About one in ten grassroots unions reports straight to the district union.
                if rng.random() < 0.1:
                    parent, street = district, rng.choice(pool)
                else:
                    parent, street = streets[i % len(streets)]
                b.grassroots(parent, d, place, short_place, street, abbr)

    industry_orgs: dict[str, OrgSeed] = {}
    for key, name in INDUSTRY_UNIONS:
        industry_orgs[key] = b.add(
            province,
            OrgLevel.INDUSTRY,
            name,
            PROVINCE_CODE,
            address=b.address("广东省广州市"),
            **b.administration("省", PROVINCE_CODE, "", earliest=1980),
        )
    if tianhe is None or nanshan is None or guangzhou is None:
        raise RuntimeError("python-stdnum's cn/loc lacks Guangzhou, Tianhe or Nanshan")
    # Guangzhou's pool union for couriers, riders and drivers without a workplace union
    # (新就业形态劳动者工会联合会): the finder offers it to new-employment-form workers.
    b.add(
        guangzhou,
        OrgLevel.FEDERATION,
        "广州市新就业形态劳动者工会联合会",
        guangzhou.region_code,
        address=b.address("广东省广州市"),
        is_pool_union=True,
        **b.administration("市", guangzhou.region_code, "", earliest=2018),
    )

    grassroots = [o for o in b.orgs if o.level == OrgLevel.GRASSROOTS]
    in_tianhe = [o for o in grassroots if o.path.startswith(tianhe.path)]
    # The demo chair's union reads best as a company ("…科技有限公司工会").
    chair_union = next((o for o in in_tianhe if o.profile and o.profile.kind == "firm"), in_tianhe[0])
    chair_union.values["chair_name"] = demo_account("union_chair").name
    # Union sizes are skewed: a few large employers, many small ones.
    bearing = [o for o in grassroots if city is None or o.city_code == city]
    sizes = apportion(max(members - 1, 0), [rng.lognormvariate(0, 0.9) for _ in bearing])
    for org, size in zip(bearing, sizes, strict=True):
        org.member_count = size
    for org in grassroots:
        declared = org.member_count + (1 if org is chair_union else 0)
        org.values["declared_member_count"] = declared
        org.values["employee_count"] = math.ceil(declared / rng.uniform(0.82, 1.0)) + rng.randint(0, 5)
    return DemoTree(b.orgs, province, guangzhou, tianhe, nanshan, chair_union)


# --- the people plan ------------------------------------------------------------------


class Person(NamedTuple):
    """One member as the plan describes it (plaintext: never stored as such)."""

    org_path: str
    name: str
    name_pinyin: str
    name_initials: str
    id_number: str
    gender: str
    birth_date: date
    ethnicity: str
    mobile: str
    education: str
    political_status: str
    household_type: str
    employment_status: str
    is_migrant_worker: bool
    new_employment_group: str
    skill_level: str
    workplace: str
    join_date: date
    card_number: str
    status: str
    retain_reason: str


_FIRST_BIRTH = date(1960, 1, 1)
_LAST_BIRTH = date(2004, 12, 31)
_BIRTH_DAYS = _LAST_BIRTH.toordinal() - _FIRST_BIRTH.toordinal() + 1
_SEQ_SLOTS = 499  # per date and gender: male sequences 1, 3 … 997; female 2, 4 … 998


class IdAllocator:
    """Hands out each (region, birth date, sequence) once, so ID numbers are distinct.

    Two counters per region and birth date (one per gender) in a compact array: 66 kB a
    region, however many members. The n-th number of a date is rotated by an offset
    that depends on region and date, so sequences spread over 001–998 as real ones do
    rather than all starting at 001.
    """

    def __init__(self) -> None:
        self._counters: dict[str, array[int]] = {}

    def take(self, region: str, birth: date, male: bool) -> tuple[date, int]:
        counters = self._counters.get(region)
        if counters is None:
            counters = self._counters[region] = array("H", bytes(4 * _BIRTH_DAYS))
        day = birth.toordinal() - _FIRST_BIRTH.toordinal()
        gender = 0 if male else 1
        for _ in range(_BIRTH_DAYS):
            used = counters[2 * day + gender]
            if used < _SEQ_SLOTS:
                counters[2 * day + gender] = used + 1
                slot = (used + day * 7919 + int(region) * 31) % _SEQ_SLOTS  # a bijection of ``used``
                return date.fromordinal(_FIRST_BIRTH.toordinal() + day), 2 * slot + (1 if male else 2)
            day = (day + 1) % _BIRTH_DAYS  # this date is full: the next day has room
        raise OverflowError(f"region {region} has no ID numbers left for that gender")


class PeopleFactory:
    """Members of a planned tree, deterministic for a seed, generated one at a time."""

    def __init__(self, tree: DemoTree, seed: int = DEFAULT_SEED) -> None:
        self.tree = tree
        self.rng = random.Random(f"gonghui-demo:{seed}:people")  # noqa: S311 - demo data, reproducible
        self.ids = IdAllocator()
        self.card_serial = itertools.count(1)
        self.mobile_serial = itertools.count(0)
        # Mobile numbers: an affine bijection of a counter over prefixes × 10**8 numbers
        # (the multiplier is a prime larger than the space's factors 2, 3, 5, 11, so
        # coprime with it): unique, and neighbours look unrelated.
        self.mobile_space = len(MOBILE_PREFIXES) * 10**8
        self.mobile_mul = 2_654_435_761
        self.mobile_add = self.rng.randrange(self.mobile_space)
        self.birth_year = Weighted(BIRTH_YEARS)
        self.ethnicity = Weighted(ETHNICITIES)
        self.edu_blue, self.edu_white = Weighted(EDUCATION_BLUE), Weighted(EDUCATION_WHITE)
        self.skill_blue = Weighted(SKILL_BLUE)
        self.year_starts = {y: date(y, 1, 1).toordinal() for y in range(1960, 2005)}
        self.prefix = settings.MEMBER_CARD_PREFIX

    def _mobile(self) -> str:
        k = (next(self.mobile_serial) * self.mobile_mul + self.mobile_add) % self.mobile_space
        prefix, tail = divmod(k, 10**8)
        return f"{MOBILE_PREFIXES[prefix]}{tail:08d}"

    def _card(self, region: str) -> str:
        return f"{self.prefix}{region}{next(self.card_serial):08d}"

    def demo_member(self) -> Person:
        """The ``member`` demo account's record; call before ``iter_bulk`` (it reserves its ID)."""
        org = self.tree.chair_union
        birth, seq = self.ids.take(org.region_code, date(1993, 6, 18), male=False)
        id_number = idnumbers.make(org.region_code, birth, seq)
        name = demo_account("member").name
        full, initials = pinyin_keys(name)
        return Person(
            org.path,
            name,
            full,
            initials,
            id_number,
            "F",
            birth,
            "汉族",
            DEMO_MEMBER_MOBILE,
            Education.BACHELOR,
            PoliticalStatus.CYL,
            HouseholdType.NON_AGRICULTURAL,
            EmploymentStatus.EMPLOYED,
            False,
            "",
            "",
            str(org.values["unit_name"]),
            date(2019, 3, 8),
            self._card(org.region_code),
            MemberStatus.ACTIVE,
            "",
        )

    def iter_bulk(self) -> Iterator[Person]:
        for org in self.tree.orgs:
            if org.member_count:
                yield from self._members_of(org)

    def _members_of(self, org: OrgSeed) -> Iterator[Person]:
        rng = self.rng
        profile = org.profile or INDUSTRIES[0]
        region, path, workplace = org.region_code, org.path, str(org.values["unit_name"])
        founded: date = org.values["founded_on"]
        male_ratio, white = profile.male_ratio, profile.white_collar
        education = self.edu_white if white else self.edu_blue
        groups = profile.new_groups
        group_cut = list(itertools.accumulate(share for _, share in groups))
        year_starts, birth_year = self.year_starts, self.birth_year
        for _ in range(org.member_count):
            male = rng.random() < male_ratio
            surname = _SURNAME_PICK.pick(rng)
            pool = GIVEN_MALE if male else GIVEN_FEMALE
            given = rng.choice(pool) if rng.random() < 0.18 else rng.choice(pool) + rng.choice(pool)
            year = birth_year.pick(rng)
            birth, seq = self.ids.take(region, date.fromordinal(year_starts[year] + rng.randrange(365)), male)
            age = AS_OF.year - birth.year
            retire_age = 60 if male else 50 if not white else 55
            status, retain, employment = MemberStatus.ACTIVE, "", EmploymentStatus.EMPLOYED
            if age >= retire_age and rng.random() < 0.85:
                employment, status, retain = EmploymentStatus.RETIRED, MemberStatus.RETAINED, RetainReason.RETIRED
            else:
                r = rng.random()
                if r < 0.02:
                    employment, status, retain = (
                        EmploymentStatus.UNEMPLOYED,
                        MemberStatus.RETAINED,
                        RetainReason.UNEMPLOYED,
                    )
                elif r < 0.05:
                    employment = EmploymentStatus.FLEXIBLE
            agri = rng.random() < (0.15 if white else 0.45)
            party = rng.random()
            political = (
                PoliticalStatus.CPC
                if party < 0.08
                else PoliticalStatus.CPC_PROBATIONARY
                if party < 0.085
                else PoliticalStatus.DEMOCRATIC
                if party < 0.088
                else PoliticalStatus.CYL
                if age <= 28 and party < 0.4
                else PoliticalStatus.MASSES
            )
            group = ""
            if groups:
                r = rng.random()
                for (kind, _), cut in zip(groups, group_cut, strict=True):
                    if r < cut:
                        group = kind
                        break
            earliest = max(_add_years(birth, 18), founded)
            s_py, s_in = _pinyin_of(surname)
            g_py, g_in = _pinyin_of(given)
            yield Person(
                path,
                surname + given,
                s_py + g_py,
                s_in + g_in,
                idnumbers.make(region, birth, seq),
                "M" if male else "F",
                birth,
                self.ethnicity.pick(rng),
                self._mobile() if rng.random() < 0.97 else "",
                education.pick(rng),
                political,
                HouseholdType.AGRICULTURAL if agri else HouseholdType.NON_AGRICULTURAL,
                employment,
                agri and not white and employment != EmploymentStatus.RETIRED and rng.random() < 0.8,
                group,
                "" if white else self.skill_blue.pick(rng),
                workplace,
                _random_date(rng, earliest, AS_OF),
                self._card(region),
                status,
                retain,
            )


@cache
def _pinyin_of(text: str) -> tuple[str, str]:
    # Names are composed per part (surname, given name) from a small alphabet, so the
    # parts' keys are cached; the tests check the result equals pinyin_keys(full name).
    return pinyin_keys(text)


# --- demo accounts ----------------------------------------------------------------------


class DemoAccount(NamedTuple):
    login: str
    name: str
    role: str  # a RoleKind, or "" for the member
    where: str  # which planned org: province, tianhe, nanshan, chair_union, guangzhou
    mobile: str
    title: str  # what the account is for, shown by demo_logins
    title_en: str


DEMO_MEMBER_MOBILE = "13800138000"
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount(
        "province_admin", "陈志远", RoleKind.ADMIN, "province", "13800138001", "省总工会管理员", "province admin"
    ),
    DemoAccount(
        "district_admin", "黄丽华", RoleKind.ADMIN, "tianhe", "13800138002", "区总工会管理员", "district admin"
    ),
    DemoAccount(
        "shenzhen_admin",
        "林海涛",
        RoleKind.ADMIN,
        "nanshan",
        "13800138003",
        "另一城市的区管理员",
        "district admin, other city",
    ),
    DemoAccount(
        "union_chair", "李建国", RoleKind.CHAIR, "chair_union", "13800138004", "基层工会主席", "grassroots chair"
    ),
    DemoAccount("auditor", "张敏", RoleKind.AUDITOR, "guangzhou", "13800138005", "审计员", "auditor"),
    DemoAccount("member", "王晓彤", "", "chair_union", DEMO_MEMBER_MOBILE, "会员", "member"),
)


def demo_account(login: str) -> DemoAccount:
    return next(a for a in DEMO_ACCOUNTS if a.login == login)


# --- writing --------------------------------------------------------------------------


@dataclass
class SeedResult:
    seed: int
    orgs: int
    grassroots: int
    members: int
    seconds: float
    member_seconds: float
    peak_rss_mb: float

    @property
    def rows_per_second(self) -> float:
        return self.members / self.member_seconds if self.member_seconds else 0.0


Progress = Callable[[int, int, float], None]  # rows written, rows planned, seconds so far

# Member columns the writer fills, in row order; every other column takes its default.
_FILLED = (
    "org_id",
    "org_path",
    "name",
    "name_pinyin",
    "name_initials",
    "id_number_enc",
    "id_number_bidx",
    "id_number_masked",
    "gender",
    "birth_year",
    "ethnicity",
    "mobile",
    "education",
    "political_status",
    "household_type",
    "employment_status",
    "is_migrant_worker",
    "new_employment_group",
    "skill_level",
    "workplace",
    "join_date",
    "card_number",
    "status",
    "retain_reason",
    "created_at",
    "updated_at",
)


def member_columns() -> tuple[list[str], tuple[Any, ...]]:
    """(attnames in COPY order, defaults of the columns the writer does not fill)."""
    fields = [f for f in Member._meta.concrete_fields if not f.primary_key]
    known = {f.attname for f in fields}
    missing = set(_FILLED) - known
    if missing:
        raise RuntimeError(f"Member has no field(s) {sorted(missing)}: update members.seeding")
    rest = [f for f in fields if f.attname not in _FILLED]
    return [*_FILLED, *(f.attname for f in rest)], tuple(f.get_default() for f in rest)


def member_row(person: Person, org_id: int, now: Any, tail: tuple[Any, ...]) -> tuple[Any, ...]:
    """A Member row with ``build_member``'s encryption, blind index and mask."""
    number = person.id_number
    return (
        org_id,
        person.org_path,
        person.name,
        person.name_pinyin,
        person.name_initials,
        pii.encrypt(number),
        member_actions.id_blind_index(number),
        pii.mask_id_number(number),
        person.gender,
        person.birth_date.year,
        person.ethnicity,
        person.mobile,
        person.education,
        person.political_status,
        person.household_type,
        person.employment_status,
        person.is_migrant_worker,
        person.new_employment_group,
        person.skill_level,
        person.workplace,
        person.join_date,
        person.card_number,
        person.status,
        person.retain_reason,
        now,
        now,
        *tail,
    )


def _batches(items: Iterator[Person], size: int) -> Iterator[list[Person]]:
    while batch := list(itertools.islice(items, size)):
        yield batch


def _write_orgs(tree: DemoTree) -> dict[str, int]:
    objs = []
    for seed in tree.orgs:
        full, initials = pinyin_keys(seed.name)
        objs.append(
            Org(
                path=seed.path,
                depth=len(seed.path) // Org.steplen,
                numchild=seed.numchild,
                name=seed.name,
                name_pinyin=full,
                name_initials=initials,
                level=seed.level,
                region_code=seed.region_code,
                **seed.values,
            )
        )
    Org.objects.bulk_create(objs, batch_size=1000)
    # The caller has checked the table was empty, so every org is one of ours.
    ids = dict(Org.objects.values_list("path", "id"))
    by_key: dict[str, list[int]] = {}
    for seed in tree.orgs:
        if seed.industry_key:
            by_key.setdefault(seed.industry_key, []).append(ids[seed.path])
    industry_ids = {key: ids[s.path] for s in tree.orgs for key, name in INDUSTRY_UNIONS if s.name == name}
    for key, members in by_key.items():
        Org.objects.filter(pk__in=members).update(industry_parent_id=industry_ids[key])
    return ids


def copy_statement(table: str, columns: Sequence[str]) -> Any:
    from psycopg import sql

    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    )


def _write_members(
    factory: PeopleFactory, ids: dict[str, int], batch_size: int, progress: Progress | None, planned: int
) -> int:
    attnames, tail = member_columns()
    fields = {f.attname: str(f.column) for f in Member._meta.concrete_fields}
    now = timezone.now()
    written, started = 0, time.perf_counter()
    people = factory.iter_bulk()
    if connection.vendor == "postgresql":
        # One COPY for the whole stream: PostgreSQL ingests and indexes rows while Python
        # builds the next ones (libpq's send buffer gives back-pressure), so the rate is
        # the slower of the two rather than their sum.
        statement = copy_statement(Member._meta.db_table, [fields[a] for a in attnames])
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for batch in _batches(people, batch_size):
                for person in batch:
                    copy.write_row(member_row(person, ids[person.org_path], now, tail))
                written += len(batch)
                if progress is not None:
                    progress(written, planned, time.perf_counter() - started)
        return written
    for batch in _batches(people, batch_size):
        Member.objects.bulk_create(
            [Member(**dict(zip(attnames, member_row(p, ids[p.org_path], now, tail), strict=True))) for p in batch]
        )
        written += len(batch)
        if progress is not None:
            progress(written, planned, time.perf_counter() - started)
    return written


def _create_demo_member(tree: DemoTree, person: Person, ids: dict[str, int]) -> Member:
    org = Org.objects.get(pk=ids[tree.chair_union.path])
    member = member_actions.build_member(
        org,
        member_actions.MemberInput(
            name=person.name,
            id_number=person.id_number,
            mobile=person.mobile,
            join_date=person.join_date,
            extra={
                "education": person.education,
                "political_status": person.political_status,
                "household_type": person.household_type,
                "workplace": person.workplace,
            },
        ),
    )
    member.card_number = person.card_number
    member.save()
    return member


def _create_demo_accounts(tree: DemoTree, seed: int, ids: dict[str, int], member: Member) -> list[User]:
    where = {
        "province": tree.province,
        "tianhe": tree.tianhe,
        "nanshan": tree.nanshan,
        "chair_union": tree.chair_union,
        "guangzhou": tree.guangzhou,
    }
    users = []
    for account in DEMO_ACCOUNTS:
        user = User.objects.filter(username=account.login).first() or User(username=account.login)
        user.name, user.mobile, user.is_active = account.name, account.mobile, True
        user.set_password(DEMO_PASSWORD)
        user.save()
        if account.role:
            Role.objects.get_or_create(user=user, org_id=ids[where[account.where].path], role=account.role)
            TOTPDevice.objects.filter(user=user).delete()
            TOTPDevice.objects.create(
                user=user, name="演示设备", confirmed=True, key=demo_totp_key(seed, account.login)
            )
        else:
            member.user = user
            member.save(update_fields=["user"])
        users.append(user)
    return users


# Province-wide earning rules and a few news items, so a fresh `make run` shows points
# being earned (sign in, read news) rather than an empty page.
DEMO_RULES: tuple[tuple[str, dict[str, int]], ...] = (
    ("signin", {"points": 5, "streak_days": 7, "streak_bonus": 20}),
    ("read_news", {"points": 2, "daily_cap": 10, "min_read_seconds": 10}),
    ("activity", {"points": 10, "daily_cap": 30}),
    ("join", {"points": 50}),
    ("verify", {"points": 30}),
    ("overall", {"daily_cap": 100, "monthly_cap": 1000}),
)
DEMO_NEWS: tuple[tuple[str, str, str, str, bool], ...] = (
    # (where, title, tags, body, pinned)
    (
        "province",
        "全省职工技能大赛报名开始",
        "技能大赛，通知",
        "<p>为弘扬劳模精神、劳动精神、工匠精神，省总工会举办全省职工技能大赛。</p>"
        "<h3>参赛对象</h3><ul><li>全省在职职工</li><li>新就业形态劳动者</li></ul>",
        True,
    ),
    (
        "province",
        "职工疗休养工作安排",
        "疗休养",
        "<p>各级工会按计划组织一线职工、劳动模范参加疗休养，优先安排长期在一线工作的职工。</p>",
        False,
    ),
    (
        "tianhe",
        "天河区夏日送清凉活动启动",
        "送清凉",
        "<p>区总工会走访户外劳动者，送去防暑降温用品。</p>",
        False,
    ),
)


def _seed_news_and_points(tree: DemoTree, ids: dict[str, int]) -> None:
    """Written directly, like the rest of the seed: the run's one audit event covers it."""
    from gonghui.news.actions import sanitise_html
    from gonghui.news.models import NewsItem, NewsStatus, NewsTag
    from gonghui.points.models import EarningRule

    now = timezone.now()
    province = Org.objects.get(pk=ids[tree.province.path])
    EarningRule.objects.bulk_create(
        EarningRule(org=province, org_path=province.path, kind=kind, effective_from=now, **values)
        for kind, values in DEMO_RULES
    )
    where = {"province": province, "tianhe": Org.objects.get(pk=ids[tree.tianhe.path])}
    for n, (place, title, tags, body, pinned) in enumerate(DEMO_NEWS):
        org = where[place]
        item = NewsItem.objects.create(
            org=org,
            org_path=org.path,
            title=title,
            body=sanitise_html(body),
            status=NewsStatus.PUBLISHED,
            published_at=now - timedelta(hours=n),
            pinned=pinned,
        )
        NewsTag.objects.bulk_create(NewsTag(news=item, name=t) for t in tags.split("，"))


def seed(
    *,
    members: int,
    seed: int = DEFAULT_SEED,
    batch: int = DEFAULT_BATCH,
    city: str | None = None,
    progress: Progress | None = None,
) -> SeedResult:
    """Build the demo province with ``members`` members (the demo member included).

    All in one transaction: a failure leaves nothing behind. The caller checks that the
    database holds no orgs yet.
    """
    if members < 1:
        raise ValueError("members must be at least 1 (the demo member)")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    started = time.perf_counter()
    tree = build_tree(members, seed, city)
    factory = PeopleFactory(tree, seed)
    demo_person = factory.demo_member()
    with transaction.atomic():
        ids = _write_orgs(tree)
        demo_member = _create_demo_member(tree, demo_person, ids)
        member_started = time.perf_counter()
        written = 1 + _write_members(factory, ids, batch, progress, tree.bulk_members)
        member_seconds = time.perf_counter() - member_started
        _create_demo_accounts(tree, seed, ids, demo_member)
        _seed_news_and_points(tree, ids)
        # Online approvals continue the card serials after the seeded ones.
        last_serial = next(factory.card_serial) - 1
        CardSequence.objects.update_or_create(prefix=factory.prefix, defaults={"last": last_serial})
        result = SeedResult(
            seed=seed,
            orgs=len(tree.orgs),
            grassroots=len(tree.grassroots),
            members=written,
            seconds=time.perf_counter() - started,
            member_seconds=member_seconds,
            peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        )
        province = Org.objects.get(pk=ids[tree.province.path])
        audit.record(
            "demo.seed",
            org=province,
            obj=province,
            actor_label="seed_demo",
            details={
                "seed": seed,
                "members": written,
                "orgs": result.orgs,
                "grassroots": result.grassroots,
                "city": city or "",
                "seconds": round(result.seconds, 1),
                "rows_per_second": round(result.rows_per_second),
            },
        )
    if connection.vendor == "postgresql":
        # Fresh statistics, or the planner guesses on an empty-looking table of a million
        # rows; VACUUM also sets the visibility map so counts can be index-only scans.
        # VACUUM cannot run inside a transaction (a caller's, or a test's): ANALYZE then.
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
        with connection.cursor() as cursor:
            cursor.execute(f"{command} {Org._meta.db_table}, {Member._meta.db_table}")
    return result
