"""PIPL erasure: an anonymised shell that keeps statistics right, nothing personal left."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core import pii
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.members import actions as member_actions
from gonghui.members import lifecycle, transfers
from gonghui.members.history import history
from gonghui.members.models import EventKind, Member, MemberStatus, Transfer, TransferStatus

ID_NUMBER = new_id_number("440106")
BANK = "6222020200112233445"


@pytest.fixture
def gina(tree: Tree) -> Member:
    member = make_member(
        tree.tianhe_union,
        "葛吉娜",
        id_number=ID_NUMBER,
        mobile="13912345678",
        workplace="广州天河软件园有限公司",
        bank_name="工商银行",
    )
    member_actions.set_bank_account(member, BANK)
    member.card_number = "GH4444010600000077"
    member.save(update_fields=["bank_account_enc", "bank_account_bidx", "bank_account_masked", "card_number"])
    user = User.objects.create_user("13912345678", password="x-correct-horse", name="葛吉娜", mobile="13912345678")
    member.user = user
    member.save(update_fields=["user"])
    return member


def raw_row(member_id: int) -> str:
    """The member's row exactly as stored, every column as text."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Member._meta.db_table} WHERE id = %s", [member_id])  # noqa: S608
        row = cursor.fetchone()
    return " ".join(bytes(v).hex() if isinstance(v, bytes | memoryview) else str(v) for v in row)


def test_erasure_leaves_no_plaintext_and_keeps_the_statistics(tree: Tree, gina: Member, dave: User) -> None:
    assert gina.user is not None
    transfer = transfers.request_transfer(
        actor=gina.user, member=gina, to_org=tree.nanshan_union, new_workplace="深圳某公司"
    )
    before = raw_row(gina.pk)
    assert "葛吉娜" in before and "13912345678" in before
    counts = (Member.objects.filter(org=tree.tianhe_union, status=MemberStatus.ACTIVE).count(), Member.objects.count())

    lifecycle.erase_personal_data(actor=dave, member=gina, legal_basis="本人书面申请（2024-05-01）")

    after = raw_row(gina.pk)
    for secret in (
        "葛吉娜",
        "13912345678",
        ID_NUMBER,
        ID_NUMBER[-4:] + " ",
        "广州天河软件园",
        BANK,
        "工商银行",
        "GH444401",
    ):
        assert secret not in after, secret
    shell = Member.objects.get(pk=gina.pk)
    assert shell.erased_at is not None and shell.user is None and shell.card_number is None
    assert shell.id_number_bidx != member_actions.id_blind_index(ID_NUMBER)
    assert pii.decrypt(shell.id_number_enc).startswith("ERASED-")
    assert shell.bank_account_enc is None and shell.mobile == ""
    # What statistics need is still there.
    assert (shell.status, shell.org_id, shell.gender, shell.birth_year) == (
        MemberStatus.ACTIVE,
        tree.tianhe_union.pk,
        gina.gender,
        gina.birth_year,
    )
    assert shell.join_date == gina.join_date
    assert (
        Member.objects.filter(org=tree.tianhe_union, status=MemberStatus.ACTIVE).count(),
        Member.objects.count(),
    ) == counts
    # No longer findable by the ID number; the person may be entered afresh.
    assert member_actions.find_by_id_number(ID_NUMBER) is None
    # Free text about the person elsewhere is gone too; the open transfer is cancelled.
    t = Transfer.objects.get(pk=transfer.pk)
    assert t.status == TransferStatus.CANCELLED and t.new_workplace == ""
    assert history(shell).last().kind == EventKind.ERASED  # type: ignore[union-attr]
    event = AuditEvent.objects.get(action="member.erase")
    assert "葛吉娜" not in event.object_repr and event.details["reason"].startswith("本人书面申请")


def test_erasure_keeps_the_unique_index_working(tree: Tree, gina: Member, dave: User) -> None:
    other = make_member(tree.tianhe_union, "另一人")
    lifecycle.erase_personal_data(actor=dave, member=gina, legal_basis="本人申请")
    lifecycle.erase_personal_data(actor=dave, member=other, legal_basis="本人申请")
    # Two shells, two different tombstones; the real person can join again.
    assert Member.objects.filter(erased_at__isnull=False).values("id_number_bidx").distinct().count() == 2
    again = make_member(tree.nanshan_union, "葛吉娜", id_number=ID_NUMBER)
    assert again.pk != gina.pk


def test_erasure_is_refused_twice_and_needs_a_legal_basis(gina: Member, dave: User) -> None:
    with pytest.raises(DomainError) as caught:
        lifecycle.erase_personal_data(actor=dave, member=gina, legal_basis=" ")
    assert caught.value.code == "ERASURE_BASIS_REQUIRED"
    lifecycle.erase_personal_data(actor=dave, member=gina, legal_basis="本人申请")
    with pytest.raises(DomainError) as caught:
        lifecycle.erase_personal_data(actor=dave, member=Member.objects.get(pk=gina.pk), legal_basis="本人申请")
    assert caught.value.code == "MEMBER_ALREADY_ERASED"


def test_erasure_needs_the_reveal_level_role(tree: Tree, gina: Member, charlie: User, settings: Any) -> None:
    from gonghui.conftest import make_cadre

    staff = make_cadre("sam", "萨姆", tree.tianhe, "staff", "13800000007")
    for actor in (staff, charlie):  # a 干事 here, an admin of another district
        with pytest.raises(DomainError) as caught:
            lifecycle.erase_personal_data(actor=actor, member=gina, legal_basis="本人申请")
        assert caught.value.code == "MEMBER_ACTION_NOT_ALLOWED"
    assert Member.objects.get(pk=gina.pk).erased_at is None


def test_an_erased_member_cannot_change_status(gina: Member, dave: User) -> None:
    lifecycle.erase_personal_data(actor=dave, member=gina, legal_basis="本人申请")
    with pytest.raises(DomainError) as caught:
        lifecycle.retain(actor=dave, member=gina, reason="retired")
    assert caught.value.code == "MEMBER_ERASED"
