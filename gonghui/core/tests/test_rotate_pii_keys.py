"""manage.py rotate_pii_keys: re-encrypt under the current key; rebuild blind indexes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import models
from django.test import override_settings

from gonghui.conftest import Tree, make_member
from gonghui.core import idnumbers, pii
from gonghui.core.management.commands.rotate_pii_keys import PII_COLUMNS
from gonghui.core.models import AuditEvent
from gonghui.members import actions as member_actions
from gonghui.members.models import Member

KEY_1, KEY_2 = settings.PII_KEYS
NEW_BLIND_KEY = "a-brand-new-blind-index-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def fresh_keyring() -> Iterator[None]:
    pii._keyring.cache_clear()
    yield
    pii._keyring.cache_clear()


def rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_pii_keys", *args, stdout=out)
    return out.getvalue()


def key_ids(field: str) -> list[int]:
    return [pii.key_id_of(v) for v in Member.objects.order_by("pk").values_list(field, flat=True) if v is not None]


def plaintexts() -> list[tuple[str, str]]:
    return [(m.reveal_id_number(), m.reveal_bank_account()) for m in Member.objects.order_by("pk")]


def seed(tree: Tree, count: int, *, bank_every: int = 2) -> None:
    for i in range(count):
        member = make_member(
            tree.tianhe_union,
            f"成员{i}",
            id_number=idnumbers.make("440106", date(1980 + i % 20, 1 + i % 12, 1 + i % 28), i),
        )
        if i % bank_every == 0:
            member_actions.set_bank_account(member, f"62220212345678{i:05d}")
            member.save(update_fields=["bank_account_enc", "bank_account_bidx", "bank_account_masked"])


@pytest.fixture
def under_key_2(tree: Tree) -> list[tuple[str, str]]:
    """Seven members (four with bank accounts) encrypted while key 2 was current."""
    with override_settings(PII_KEYS=[KEY_2, KEY_1]):
        seed(tree, 7)
        assert set(key_ids("id_number_enc")) == {2}
        return plaintexts()


def test_rotation_moves_every_value_to_the_current_key(under_key_2: list[tuple[str, str]]) -> None:
    out = rotate("--batch", "3")
    assert set(key_ids("id_number_enc")) == {1}
    assert set(key_ids("bank_account_enc")) == {1}
    assert len(key_ids("bank_account_enc")) == 4
    assert plaintexts() == under_key_2
    assert "members.Member.id_number_enc: key 2: 7; 7 to re-encrypt under key 1" in out
    assert "members.Member.id_number_enc: 3/7 (42%)" in out and "7/7 (100%)" in out
    assert "members.Member.bank_account_enc: 4/4 (100%)" in out
    assert "key(s) 2 no longer encrypt anything and may be removed from PII_KEYS." in out
    event = AuditEvent.objects.get(action="pii.rotate_keys")
    assert event.details == {
        "key_id": 1,
        "changed": {
            "members.Member.id_number_enc": 7,
            "members.Member.bank_account_enc": 4,
            "members.Application.id_number_enc": 0,
            "activity_lottery.Draw.seed_enc": 0,
        },
    }


def test_after_rotation_the_old_key_can_go(under_key_2: list[tuple[str, str]]) -> None:
    rotate()
    with override_settings(PII_KEYS=[KEY_1]):
        assert plaintexts() == under_key_2


def test_blind_indexes_and_masks_survive_rotation(under_key_2: list[tuple[str, str]]) -> None:
    before = list(Member.objects.order_by("pk").values_list("id_number_bidx", "id_number_masked", "bank_account_bidx"))
    rotate()
    after = list(Member.objects.order_by("pk").values_list("id_number_bidx", "id_number_masked", "bank_account_bidx"))
    assert after == before
    number = under_key_2[0][0]
    assert member_actions.find_by_id_number(number.lower()) is not None


def test_a_second_run_touches_nothing(under_key_2: list[tuple[str, str]]) -> None:
    rotate()
    ciphertexts = list(Member.objects.order_by("pk").values_list("id_number_enc", "bank_account_enc", "updated_at"))
    out = rotate()
    assert (
        list(Member.objects.order_by("pk").values_list("id_number_enc", "bank_account_enc", "updated_at"))
        == ciphertexts
    )
    assert "0 to re-encrypt" in out and "done: 0 value(s) changed." in out
    assert AuditEvent.objects.filter(action="pii.rotate_keys").count() == 1


def test_an_interrupted_run_resumes_with_only_the_rest(tree: Tree, under_key_2: list[tuple[str, str]]) -> None:
    # Simulate a run killed after its first batch: those rows are already on key 1.
    first_three = list(Member.objects.order_by("pk")[:3])
    for member in first_three:
        member.id_number_enc = pii.encrypt(member.reveal_id_number())
        member.save(update_fields=["id_number_enc"])
    untouched = {m.pk: bytes(m.id_number_enc) for m in first_three}
    out = rotate()
    assert "key 1: 3, key 2: 4; 4 to re-encrypt under key 1" in out
    assert {m.pk: bytes(m.id_number_enc) for m in Member.objects.filter(pk__in=untouched)} == untouched
    assert set(key_ids("id_number_enc")) == {1}
    assert plaintexts() == under_key_2


def test_dry_run_counts_and_writes_nothing(under_key_2: list[tuple[str, str]]) -> None:
    before = list(Member.objects.order_by("pk").values_list("id_number_enc", flat=True))
    out = rotate("--dry-run")
    assert list(Member.objects.order_by("pk").values_list("id_number_enc", flat=True)) == before
    assert "7 to re-encrypt" in out and "4 to re-encrypt" in out
    assert "dry run: 11 value(s) would change; nothing was written." in out
    assert not AuditEvent.objects.filter(action="pii.rotate_keys").exists()


def test_a_row_under_a_missing_key_stops_the_run_with_its_id(under_key_2: list[tuple[str, str]]) -> None:
    key_3 = "3:" + pii.generate_key()
    with override_settings(PII_KEYS=[key_3]), pytest.raises(CommandError, match=r"pk=\d+: .*Put the old key back"):
        rotate()


def test_a_damaged_ciphertext_stops_the_run_with_its_id(tree: Tree, under_key_2: list[tuple[str, str]]) -> None:
    damaged = Member.objects.order_by("pk")[2]
    token = bytearray(damaged.id_number_enc)
    token[-1] ^= 1
    Member.objects.filter(pk=damaged.pk).update(id_number_enc=bytes(token))
    with pytest.raises(CommandError, match=f"pk={damaged.pk} does not decrypt"):
        rotate("--batch", "2")
    # Rows before the damaged one were done and stay done.
    assert key_ids("id_number_enc")[:2] == [1, 1]


def test_bad_arguments_and_settings_are_refused(db: Any) -> None:
    with pytest.raises(CommandError, match="--batch"):
        rotate("--batch", "0")
    with override_settings(PII_KEYS=[]), pytest.raises(CommandError, match="PII_KEYS"):
        rotate()


# --- blind indexes ---------------------------------------------------------------------


def test_rebuild_blind_index_after_the_key_changes(tree: Tree) -> None:
    seed(tree, 5)
    with override_settings(PII_BLIND_INDEX_KEY=NEW_BLIND_KEY):
        numbers = [number for number, _ in plaintexts()]
        assert all(member_actions.find_by_id_number(n) is None for n in numbers)  # lookups miss until rebuilt
        out = rotate("--rebuild-blind-index", "--batch", "2")
        assert "members.Member.id_number_enc: 5/5 checked, 5 rebuilt" in out
        assert "members.Member.bank_account_enc: 3/3 checked, 3 rebuilt" in out
        for member in Member.objects.all():
            assert member.id_number_bidx == pii.blind_index(member.reveal_id_number(), "id")
            assert member.bank_account_bidx in ("", pii.blind_index(member.reveal_bank_account(), "bank"))
        assert all(member_actions.find_by_id_number(n) is not None for n in numbers)
        again = rotate("--rebuild-blind-index")
        assert "5/5 checked, 0 rebuilt" in again
    assert AuditEvent.objects.filter(action="pii.rebuild_blind_index").count() == 1


def test_rebuild_dry_run_writes_nothing(tree: Tree) -> None:
    seed(tree, 3)
    before = list(Member.objects.order_by("pk").values_list("id_number_bidx", flat=True))
    with override_settings(PII_BLIND_INDEX_KEY=NEW_BLIND_KEY):
        out = rotate("--rebuild-blind-index", "--dry-run")
    assert list(Member.objects.order_by("pk").values_list("id_number_bidx", flat=True)) == before
    assert "dry run: 5 value(s) would change" in out


def test_rebuild_names_people_registered_twice_during_the_switch(tree: Tree) -> None:
    seed(tree, 3, bank_every=99)
    number = plaintexts()[0][0]
    with override_settings(PII_BLIND_INDEX_KEY=NEW_BLIND_KEY):
        # Registered again while the old index was still in place: the duplicate check missed.
        twin = make_member(tree.nanshan_union, "成员0", id_number=number)
        original = Member.objects.exclude(pk=twin.pk).order_by("pk").first()
        assert original is not None
        with pytest.raises(CommandError, match=f"pk={original.pk} duplicates pk={twin.pk}"):
            rotate("--rebuild-blind-index")
        # Everyone else was rebuilt.
        rebuilt = Member.objects.exclude(pk__in=[original.pk, twin.pk])
        assert all(m.id_number_bidx == pii.blind_index(m.reveal_id_number(), "id") for m in rebuilt)


# --- every encrypted column is covered --------------------------------------------------


def test_every_encrypted_column_in_the_platform_is_rotated() -> None:
    listed = {(c.model, c.ciphertext) for c in PII_COLUMNS}
    found = {
        (model._meta.label, field.name)
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.BinaryField) and field.name.endswith("_enc")
    }
    assert found == listed


def test_blind_index_domains_match_the_member_actions() -> None:
    domains = {c.ciphertext: c.domain for c in PII_COLUMNS if c.model == "members.Member"}
    assert domains == {"id_number_enc": member_actions.ID_DOMAIN, "bank_account_enc": member_actions.BANK_DOMAIN}
