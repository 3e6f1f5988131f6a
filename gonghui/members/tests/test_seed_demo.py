"""seed_demo builds a consistent, realistic, deterministic province; demo logins work."""

from __future__ import annotations

import io
import random
from collections import Counter
from datetime import date
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.core import idnumbers, pii, uscc
from gonghui.core.access import RoleKind
from gonghui.core.mobiles import normalize_mobile
from gonghui.core.models import AuditEvent, User
from gonghui.core.text import pinyin_keys
from gonghui.members import seeding
from gonghui.members.actions import id_blind_index
from gonghui.members.models import Member, MemberStatus
from gonghui.orgs.models import Org, OrgLevel, Role

SEED = 7


def seed_demo(members: int = 300, **options: Any) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", members=members, seed=SEED, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_the_tree_is_consistent_and_follows_the_real_regions() -> None:
    seed_demo()
    assert Org.objects.find_problems() == ([], [], [], [], [])
    province = Org.objects.get(depth=1)
    assert province.name == "广东省总工会"
    cities = Org.objects.filter(level=OrgLevel.CITY)
    assert cities.count() == 21
    assert set(cities.values_list("region_code", flat=True)) == {c.code for c in seeding.guangdong_cities()}
    districts = Org.objects.filter(level=OrgLevel.DISTRICT)
    assert districts.get(name="天河区总工会").region_code == "440106"
    assert districts.get(name="南山区总工会").region_code == "440305"
    # Abolished codes never appear (广州市东山区 440102 was merged into 越秀区 in 2005).
    assert not Org.objects.filter(region_code="440102").exists()
    for org in districts:
        assert idnumbers.region_exists(org.region_code)
        assert org.path.startswith(next(c.path for c in cities if c.region_code[:4] == org.region_code[:4]))
    assert Org.objects.filter(level=OrgLevel.STREET, name__endswith="街道总工会").exists()


@pytest.mark.django_db
def test_grassroots_unions_carry_a_full_valid_record() -> None:
    seed_demo()
    grassroots = list(Org.objects.filter(level=OrgLevel.GRASSROOTS))
    assert len(grassroots) >= seeding.MIN_GRASSROOTS
    for org in grassroots:
        assert uscc.parse(org.uscc, union=True).startswith("81")
        assert uscc.parse(org.unit_uscc) == org.unit_uscc
        assert org.unit_uscc[2:8] == org.region_code
        assert org.name.startswith(org.unit_name) and org.name.endswith(("工会", "工会委员会"))
        assert org.unit_type and org.industry and org.address and org.chair_name and org.approval_doc_no
        assert org.employee_count >= org.declared_member_count
        assert org.approval_date >= org.founded_on
        assert org.term_start <= seeding.AS_OF < org.term_end
    members_of = Counter(Member.objects.values_list("org_id", flat=True))
    assert all(org.declared_member_count == members_of.get(org.pk, 0) for org in grassroots)


@pytest.mark.django_db
def test_industry_unions_are_second_parents_of_some_grassroots_unions() -> None:
    seed_demo(members=2000)
    industry = Org.objects.filter(level=OrgLevel.INDUSTRY)
    assert "广东省教育工会" in set(industry.values_list("name", flat=True))
    linked = Org.objects.filter(industry_parent__isnull=False)
    assert linked.exists()
    assert set(linked.values_list("level", flat=True)) == {OrgLevel.GRASSROOTS}
    assert set(linked.values_list("industry_parent__level", flat=True)) == {OrgLevel.INDUSTRY}
    # The industry union is not the owning parent: the path still follows the region.
    for org in linked[:20]:
        assert not org.path.startswith(org.industry_parent.path)


@pytest.mark.django_db
def test_members_hold_valid_unique_ids_issued_in_their_unions_county() -> None:
    seed_demo()
    members = list(Member.objects.select_related("org"))
    assert len(members) == 300
    numbers = set()
    for m in members:
        number = pii.decrypt(m.id_number_enc)
        rid = idnumbers.parse(number)
        assert rid.number == number
        assert rid.region_code == m.org.region_code
        assert (rid.birth_date.year, rid.gender) == (m.birth_year, m.gender)
        assert 1960 <= m.birth_year <= 2004
        assert m.id_number_bidx == id_blind_index(number)
        assert m.id_number_masked == pii.mask_id_number(number)
        assert (m.name_pinyin, m.name_initials) == pinyin_keys(m.name)
        assert m.org_path == m.org.path
        assert m.workplace == m.org.unit_name
        assert m.card_number.startswith(f"GH44{m.org.region_code}")
        numbers.add(number)
    assert len(numbers) == len(members)
    mobiles = [m.mobile for m in members if m.mobile]
    assert len(set(mobiles)) == len(mobiles) > 250
    assert all(normalize_mobile(mobile) == mobile for mobile in mobiles)
    assert len({m.card_number for m in members}) == len(members)
    assert {m.gender for m in members} == {"M", "F"}
    assert Counter(m.ethnicity for m in members).most_common(1)[0][0] == "汉族"
    assert Counter(m.employment_status for m in members).most_common(1)[0][0] == "employed"
    assert any(m.status == MemberStatus.RETAINED for m in members)


def test_a_seed_always_gives_the_same_plan_and_another_seed_another() -> None:
    def plan(seed: int) -> tuple[list[Any], list[seeding.Person]]:
        tree = seeding.build_tree(400, seed)
        factory = seeding.PeopleFactory(tree, seed)
        people = [factory.demo_member(), *factory.iter_bulk()]
        return [(o.path, o.name, o.values, o.member_count, o.industry_key) for o in tree.orgs], people

    first, again, other = plan(SEED), plan(SEED), plan(SEED + 1)
    assert first == again
    assert first[1] != other[1]
    assert [o[1] for o in first[0]] != [o[1] for o in other[0]]
    assert len(first[1]) == 400


def test_the_tree_grows_with_the_number_of_members() -> None:
    small = seeding.build_tree(300)
    # Tianhe and Nanshan always get a union (the demo accounts work there): up to two more.
    assert seeding.MIN_GRASSROOTS <= len(small.grassroots) <= seeding.MIN_GRASSROOTS + 2
    big = seeding.build_tree(1_000_000)
    assert 6667 <= len(big.grassroots) <= 6669
    assert big.bulk_members == 999_999
    assert max(o.numchild for o in big.orgs) < 36**Org.steplen
    assert len({o.path for o in big.orgs}) == len(big.orgs)
    assert len({o.values["uscc"] for o in big.orgs}) == len(big.orgs)


def test_city_mode_puts_every_member_under_one_city() -> None:
    tree = seeding.build_tree(5000, city="440100")
    assert tree.bulk_members == 4999
    bearing = [o for o in tree.orgs if o.member_count]
    assert bearing and all(o.path.startswith(tree.guangzhou.path) for o in bearing)
    assert any(o.path.startswith(tree.nanshan.path) for o in tree.grassroots)  # the tenancy demo still has a union
    with pytest.raises(ValueError, match="not a Guangdong city"):
        seeding.build_tree(100, city="110100")


def test_the_id_allocator_never_hands_out_a_number_twice() -> None:
    ids = seeding.IdAllocator()
    born = date(1990, 1, 1)
    numbers = [idnumbers.make("440106", *ids.take("440106", born, male=True)) for _ in range(1200)]
    assert len(set(numbers)) == 1200
    parsed = [idnumbers.parse(n) for n in numbers]
    assert {p.gender for p in parsed} == {"M"}
    # 499 male numbers fit on one day; the rest spill over to the following days.
    assert Counter(p.birth_date for p in parsed)[born] == 499


def test_composed_name_pinyin_equals_pinyin_keys_of_the_whole_name() -> None:
    surnames = [s for s, _ in seeding.SURNAMES]
    given = sorted(set(seeding.GIVEN_MALE + seeding.GIVEN_FEMALE))
    for surname in surnames:
        for char in given:
            parts = seeding._pinyin_of(surname), seeding._pinyin_of(char)
            assert (parts[0][0] + parts[1][0], parts[0][1] + parts[1][1]) == pinyin_keys(surname + char)
    tree = seeding.build_tree(3000, 3)
    for person in seeding.PeopleFactory(tree, 3).iter_bulk():
        assert (person.name_pinyin, person.name_initials) == pinyin_keys(person.name)


def test_generated_mobile_prefixes_are_valid_and_unique() -> None:
    for prefix in seeding.MOBILE_PREFIXES:
        assert normalize_mobile(prefix + "00000000")
    factory = seeding.PeopleFactory(seeding.build_tree(10), 1)
    mobiles = [factory._mobile() for _ in range(50_000)]
    assert len(set(mobiles)) == len(mobiles)
    assert all(normalize_mobile(m) == m for m in random.Random(1).sample(mobiles, 500))
    assert seeding.DEMO_MEMBER_MOBILE not in mobiles


@pytest.mark.django_db
def test_if_empty_leaves_an_existing_tree_alone() -> None:
    seed_demo()
    orgs, members = Org.objects.count(), Member.objects.count()
    out, _ = seed_demo(if_empty=True)
    assert "跳过" in out
    assert (Org.objects.count(), Member.objects.count()) == (orgs, members)
    with pytest.raises(CommandError, match="已经有工会组织"):
        seed_demo()


@pytest.mark.django_db
def test_one_audit_event_summarises_the_run_and_progress_goes_to_stderr() -> None:
    out, err = seed_demo(members=1200, batch=500)
    events = list(AuditEvent.objects.all())
    assert len(events) == 1
    (event,) = events
    assert (event.action, event.actor_label) == ("demo.seed", "seed_demo")
    assert event.details["members"] == 1200 and event.details["seed"] == SEED
    assert event.org_path == Org.objects.get(depth=1).path
    assert err.count("行/秒") == 3  # 1,199 bulk rows in batches of 500
    assert "1,200 名会员" in out


@pytest.mark.django_db
def test_demo_accounts_have_their_roles_and_a_totp_device() -> None:
    seed_demo()
    expected = {
        "province_admin": ("广东省总工会", RoleKind.ADMIN),
        "district_admin": ("天河区总工会", RoleKind.ADMIN),
        "shenzhen_admin": ("南山区总工会", RoleKind.ADMIN),
        "auditor": ("广州市总工会", RoleKind.AUDITOR),
    }
    for login, (org_name, role) in expected.items():
        user = User.objects.get(username=login)
        assert user.check_password(seeding.DEMO_PASSWORD)
        assert Role.objects.filter(user=user, org__name=org_name, role=role).exists()
    chair = User.objects.get(username="union_chair")
    chair_role = Role.objects.get(user=chair)
    assert chair_role.role == RoleKind.CHAIR and chair_role.org.level == OrgLevel.GRASSROOTS
    assert chair_role.org.path.startswith(Org.objects.get(name="天河区总工会").path)
    assert chair_role.org.chair_name == chair.name
    for login in [*expected, "union_chair"]:
        device = TOTPDevice.objects.get(user__username=login)
        assert device.confirmed and device.key == seeding.demo_totp_key(SEED, login)
    member_user = User.objects.get(username="member")
    assert member_user.mobile == "13800138000" and member_user.check_password(seeding.DEMO_PASSWORD)
    assert member_user.member.org == chair_role.org
    assert not TOTPDevice.objects.filter(user=member_user).exists()


@pytest.mark.django_db
def test_demo_logins_prints_logins_secrets_and_urls() -> None:
    seed_demo()
    out = io.StringIO()
    call_command("demo_logins", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    for account in seeding.DEMO_ACCOUNTS:
        assert account.login in text
    assert seeding.DEMO_PASSWORD in text
    device = TOTPDevice.objects.get(user__username="district_admin")
    import base64

    secret = base64.b32encode(device.bin_key).decode()
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in text
    assert "python manage.py totp_code <login>" in text
    assert "http://127.0.0.1:8000/console/" in text and "/api/docs" in text


@pytest.mark.django_db
def test_demo_logins_without_demo_data_says_how_to_get_it() -> None:
    out = io.StringIO()
    call_command("demo_logins", stdout=out)
    assert "seed_demo" in out.getvalue()


@pytest.mark.django_db
def test_totp_code_gives_a_code_the_device_accepts_but_only_with_debug() -> None:
    seed_demo()
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("totp_code", "district_admin", stdout=io.StringIO())
    out = io.StringIO()
    with override_settings(DEBUG=True):
        call_command("totp_code", "district_admin", stdout=out, stderr=io.StringIO())
    code = out.getvalue().strip()
    assert len(code) == 6 and code.isdigit()
    device = TOTPDevice.objects.get(user__username="district_admin")
    assert device.verify_token(code)
    with override_settings(DEBUG=True), pytest.raises(CommandError, match="TOTP"):
        call_command("totp_code", "member", stdout=io.StringIO())


def test_demo_totp_secrets_are_stable_for_a_seed() -> None:
    key = seeding.demo_totp_key(2026, "district_admin")
    assert key == seeding.demo_totp_key(2026, "district_admin") != seeding.demo_totp_key(2027, "district_admin")
    assert len(bytes.fromhex(key)) == 20
    totp = TOTP(bytes.fromhex(key))
    totp.time = 0
    assert 0 <= totp.token() < 10**6
