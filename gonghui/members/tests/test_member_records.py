"""Member records: validated identity, encrypted storage, one membership per person."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Any

import pytest
from django.http import Http404

from gonghui.conftest import Tree, make_cadre, new_id_number
from gonghui.core import idnumbers, pii
from gonghui.core.access import RoleKind
from gonghui.core.errors import Conflict, DomainError, InvalidValue
from gonghui.core.models import AuditEvent, User
from gonghui.members import actions
from gonghui.members.models import Gender, Member
from gonghui.testing.concurrency import on_postgres_only, race

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def number_ending_in_x(birth: date = date(1985, 6, 15)) -> str:
    """A pre-2000 number whose check char is X: it has every awkward form."""
    for seq in range(1000):
        number = idnumbers.make("440106", birth, seq)
        if number.endswith("X"):
            return number
    raise AssertionError("no number ends in X")


def create(org: Any, number: str, name: str = "张三", actor: Any = None, **kwargs: Any) -> Member:
    data = actions.MemberInput(name=name, id_number=number, **kwargs)
    return actions.create_member(actor=actor, org=org, data=data)


# --- create ----------------------------------------------------------------------------


def test_create_derives_gender_and_birth_date(tree: Tree) -> None:
    male = create(tree.tianhe_union, idnumbers.make("440106", date(1985, 6, 15), 123))
    female = create(tree.tianhe_union, idnumbers.make("440106", date(2001, 2, 28), 124), name="李四")
    assert (male.gender, male.birth_year) == (Gender.MALE, 1985)
    assert (female.gender, female.birth_year) == (Gender.FEMALE, 2001)


def test_create_stores_masked_encrypted_and_indexed(tree: Tree) -> None:
    number = number_ending_in_x()
    member = create(tree.tianhe_union, number.lower(), mobile="138 0013 8000", bank_account="6222-0212-3456-7890-123")
    member.refresh_from_db()
    assert member.id_number_masked == number[:6] + "********" + number[-4:]
    assert member.id_number_masked.endswith("X")
    assert bytes(member.id_number_enc)[:2] == b"\x01\x01" and number.encode() not in bytes(member.id_number_enc)
    assert member.id_number_bidx == pii.blind_index(number, "id")
    assert member.reveal_id_number() == number  # normalised: upper-case X
    assert member.mobile == "13800138000" and member.mobile_masked == "138****8000"
    assert member.bank_account_masked == "***************0123"
    assert member.bank_account_bidx == pii.blind_index("6222021234567890123", "bank")
    assert member.reveal_bank_account() == "6222021234567890123"
    assert member.org_path == tree.tianhe_union.path
    assert member.name_pinyin == "zhangsan" and member.name_initials == "zs"


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (lambda n: n[:-1] + ("0" if n[-1] != "0" else "1"), "ID_BAD_CHECK_CHAR"),
        (lambda n: "999999" + n[6:], "ID_BAD_REGION"),
        (lambda n: n[:10] + "1399" + n[14:], "ID_BAD_BIRTH_DATE"),
        (lambda n: n[:17], "ID_BAD_FORMAT"),
        (lambda n: "", "ID_REQUIRED"),
    ],
    ids=["check-char", "region", "birth-date", "length", "empty"],
)
def test_create_rejects_invalid_id_numbers(tree: Tree, bad: Any, code: str) -> None:
    with pytest.raises(idnumbers.IdNumberError) as caught:
        create(tree.tianhe_union, bad(number_ending_in_x()))
    assert caught.value.code == code
    assert not Member.objects.exists()
    assert not AuditEvent.objects.filter(action="member.create").exists()


def test_create_rejects_numeric_id_cells(tree: Tree) -> None:
    with pytest.raises(idnumbers.IdNumberError) as caught:
        create(tree.tianhe_union, 4.40106198506151e17)  # type: ignore[arg-type]
    assert caught.value.code == "ID_NUMERIC_CELL"


def test_create_rejects_bad_mobile_name_and_bank_account(tree: Tree) -> None:
    with pytest.raises(InvalidValue) as caught:
        create(tree.tianhe_union, new_id_number(), mobile="12345")
    assert caught.value.code == "MOBILE_INVALID"
    with pytest.raises(InvalidValue) as caught:
        create(tree.tianhe_union, new_id_number(), name="  ")
    assert caught.value.code == "MEMBER_NAME_REQUIRED"
    with pytest.raises(InvalidValue) as caught:
        create(tree.tianhe_union, new_id_number(), bank_account="1234")
    assert caught.value.code == "BANK_ACCOUNT_INVALID"
    with pytest.raises(InvalidValue) as caught:
        create(tree.tianhe_union, new_id_number(), extra={"status": "left"})
    assert caught.value.code == "MEMBER_UNKNOWN_FIELD"
    assert not Member.objects.exists()


def legacy_15(number: str) -> str:
    return number[:6] + number[8:17]


@pytest.mark.parametrize(
    "variant",
    [
        str.lower,
        lambda n: n.translate(FULL_WIDTH),
        lambda n: f" {n[:6]} {n[6:14]} {n[14:]} ",
        lambda n: n[:6] + "\u00a0" + n[6:10] + "\u200b" + n[10:] + "\u3000",
        legacy_15,
        lambda n: legacy_15(n).translate(FULL_WIDTH),
    ],
    ids=["lowercase-x", "full-width", "spaces", "invisible-chars", "legacy-15", "legacy-15-full-width"],
)
def test_the_same_person_cannot_join_twice(tree: Tree, variant: Any) -> None:
    number = number_ending_in_x()
    first = create(tree.tianhe_union, number)
    with pytest.raises(Conflict) as caught:
        create(tree.nanshan_union, variant(number), name="张三丰")
    assert caught.value.code == "MEMBER_EXISTS"
    assert caught.value.status == 409
    assert caught.value.details == {"member_id": first.pk}
    assert Member.objects.count() == 1
    assert AuditEvent.objects.filter(action="member.create").count() == 1


@pytest.mark.parametrize(
    "variant",
    [str.lower, lambda n: n.translate(FULL_WIDTH), lambda n: f"  {n} ", legacy_15],
    ids=["lowercase-x", "full-width", "spaces", "legacy-15"],
)
def test_find_by_id_number_in_any_formatting(tree: Tree, variant: Any) -> None:
    number = number_ending_in_x()
    member = create(tree.tianhe_union, number)
    create(tree.tianhe_union, new_id_number(), name="李四")
    assert actions.find_by_id_number(variant(number)) == member


def test_find_by_id_number_misses_quietly(tree: Tree) -> None:
    create(tree.tianhe_union, number_ending_in_x())
    assert actions.find_by_id_number(new_id_number()) is None
    assert actions.find_by_id_number("not a number") is None
    assert actions.find_by_id_number("") is None


def test_closed_union_takes_no_members(tree: Tree) -> None:
    from gonghui.orgs import actions as org_actions

    org_actions.close_org(actor=None, org=tree.tianhe_union, reason="单位注销")
    tree.tianhe_union.refresh_from_db()
    with pytest.raises(DomainError) as caught:
        create(tree.tianhe_union, new_id_number())
    assert caught.value.code == "ORG_CLOSED"


# --- reveal ----------------------------------------------------------------------------


def test_reveal_returns_plaintext_and_audits_the_field(tree: Tree, dave: User) -> None:
    number = number_ending_in_x()
    member = create(tree.tianhe_union, number, bank_account="6222021234567890123")
    assert actions.reveal_pii(actor=dave, member=member, field_name="id_number", reason="办理帮扶") == number
    assert actions.reveal_pii(actor=dave, member=member, field_name="bank_account") == "6222021234567890123"
    events = list(AuditEvent.objects.filter(action="member.pii_reveal").order_by("id"))
    assert [(e.actor_id, e.object_id, e.details["field"]) for e in events] == [
        (dave.pk, str(member.pk), "id_number"),
        (dave.pk, str(member.pk), "bank_account"),
    ]
    assert events[0].details["reason"] == "办理帮扶"


def test_reveal_is_404_for_staff_auditors_and_other_districts(tree: Tree, erin: User, charlie: User) -> None:
    staff = make_cadre("sam", "萨姆", tree.tianhe_union, RoleKind.STAFF)
    member = create(tree.tianhe_union, number_ending_in_x())
    for cadre in (staff, erin, charlie):
        with pytest.raises(Http404):
            actions.reveal_pii(actor=cadre, member=member, field_name="id_number")
    assert not AuditEvent.objects.filter(action="member.pii_reveal").exists()


def test_reveal_of_an_unknown_field_is_refused(tree: Tree, dave: User) -> None:
    member = create(tree.tianhe_union, number_ending_in_x())
    with pytest.raises(InvalidValue) as caught:
        actions.reveal_pii(actor=dave, member=member, field_name="name")
    assert caught.value.code == "PII_FIELD_UNKNOWN"
    assert not AuditEvent.objects.filter(action="member.pii_reveal").exists()


# --- update ----------------------------------------------------------------------------


def test_update_audits_only_changed_fields_and_masks_mobiles(tree: Tree, dave: User) -> None:
    member = create(
        tree.tianhe_union,
        number_ending_in_x(),
        mobile="13800138000",
        extra={"education": "bachelor", "workplace": "甲公司"},
    )
    actions.update_member(
        actor=dave,
        member=member,
        values={
            "education": "bachelor",
            "workplace": "乙公司",
            "mobile": "+86 139 0013 9001",
            "name": "张三",
        },
    )
    event = AuditEvent.objects.get(action="member.update")
    assert event.details == {"changes": {"workplace": ["甲公司", "乙公司"], "mobile": ["138****8000", "139****9001"]}}
    assert "13800138000" not in str(event.details) and "13900139001" not in str(event.details)
    member.refresh_from_db()
    assert (member.workplace, member.mobile) == ("乙公司", "13900139001")


def test_update_of_name_refreshes_pinyin(tree: Tree, dave: User) -> None:
    member = create(tree.tianhe_union, number_ending_in_x())
    actions.update_member(actor=dave, member=member, values={"name": " 李四 "})
    member.refresh_from_db()
    assert (member.name, member.name_pinyin, member.name_initials) == ("李四", "lisi", "ls")
    assert AuditEvent.objects.get(action="member.update").details == {"changes": {"name": ["张三", "李四"]}}


def test_update_without_change_writes_nothing(tree: Tree, dave: User) -> None:
    member = create(tree.tianhe_union, number_ending_in_x(), extra={"workplace": "甲公司"})
    actions.update_member(actor=dave, member=member, values={"workplace": "甲公司"})
    assert not AuditEvent.objects.filter(action="member.update").exists()


def test_update_refuses_identity_and_unknown_fields(tree: Tree, dave: User) -> None:
    member = create(tree.tianhe_union, number_ending_in_x())
    for field in ("id_number_bidx", "org_path", "status", "gender"):
        with pytest.raises(InvalidValue) as caught:
            actions.update_member(actor=dave, member=member, values={field: "x"})
        assert caught.value.code == "MEMBER_UNKNOWN_FIELD"


# --- concurrency -----------------------------------------------------------------------


@pytest.mark.postgres_only
@on_postgres_only
def test_concurrent_creates_of_one_person_yield_one_member(transactional_db: Any, tree: Tree) -> None:
    number = number_ending_in_x()
    forms = [number, number.lower(), legacy_15(number), number.translate(FULL_WIDTH)]
    results = race(*(partial(create, tree.tianhe_union, raw) for raw in forms))
    created = [r for r in results if isinstance(r, Member)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(created) == 1, results
    assert len(refused) == len(forms) - 1, results
    assert all(r.code == "MEMBER_EXISTS" for r in refused)
    assert Member.objects.count() == 1
    assert AuditEvent.objects.filter(action="member.create").count() == 1
