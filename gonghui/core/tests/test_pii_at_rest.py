"""Read the raw tables the way someone with a database dump would: no plaintext PII."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import connection

from gonghui.conftest import Tree, make_member
from gonghui.core import idnumbers
from gonghui.core.models import User
from gonghui.members import actions as member_actions

BANK_ACCOUNT = "6222021234567890123"


def raw_rows(table: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - fixed names
        return list(cursor.fetchall())


def contains(value: Any, secret: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        return secret.encode() in raw or secret.encode("utf-16-le") in raw
    return secret in str(value)


def test_member_table_holds_no_plaintext_id_or_bank_account(tree: Tree, bob: User) -> None:
    number = idnumbers.make("440106", date(1975, 3, 9), 317)  # pre-2000: has a 15-digit legacy form
    legacy = number[:6] + number[8:17]
    member = make_member(tree.tianhe_union, "张三", id_number=number, mobile="13800138000")
    member_actions.update_member(actor=bob, member=member, values={"bank_name": "工商银行"})
    member.refresh_from_db()
    member_actions.set_bank_account(member, "6222 0212 3456 7890 123")
    member.save(update_fields=["bank_account_enc", "bank_account_bidx", "bank_account_masked"])
    member_actions.reveal_pii(actor=bob, member=member, field_name="id_number", reason="核对")
    member_actions.reveal_pii(actor=bob, member=member, field_name="bank_account", reason="核对")
    assert member.reveal_id_number() == number and member.reveal_bank_account() == BANK_ACCOUNT

    rows = raw_rows("members_member")
    assert len(rows) == 1
    for secret in (number, legacy, number[:17], BANK_ACCOUNT, BANK_ACCOUNT[:12]):
        for column, value in enumerate(rows[0]):
            assert not contains(value, secret), f"column {column} of members_member leaks {secret[:4]}…"
    # The masked forms are what is meant to be there.
    assert "440106********" + number[-4:] in rows[0]
    # Reveals are audited without the value itself.
    for row in raw_rows("core_auditevent"):
        for value in row:
            assert not contains(value, number) and not contains(value, legacy) and not contains(value, BANK_ACCOUNT)


def test_every_member_row_is_ciphertext(tree: Tree) -> None:
    numbers = [idnumbers.make("440305", date(1990 + i, 1 + i, 1), 100 + i) for i in range(5)]
    for i, number in enumerate(numbers):
        make_member(tree.nanshan_union, f"成员{i}", id_number=number)
    rows = raw_rows("members_member")
    assert len(rows) == len(numbers)
    for row in rows:
        for value in row:
            assert not any(contains(value, number) for number in numbers)
