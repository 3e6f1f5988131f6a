"""The e-member card's QR token: signed, short-lived, checked against the live record."""

from __future__ import annotations

import time
from io import StringIO
from unittest import mock

import pytest
import segno
from django.core import signing
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gonghui.conftest import Tree, make_member
from gonghui.core.models import AuditEvent, User
from gonghui.members import card_tokens, cards
from gonghui.members.card_tokens import CardResult
from gonghui.members.models import Member, MemberStatus


@pytest.fixture
def carded(tree: Tree) -> Member:
    member = make_member(tree.tianhe_union, "张三丰", mobile="13712340000")
    return cards.ensure_card_number(actor=None, member=member)


def test_a_fresh_token_is_valid_and_shows_only_masked_values(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token

    result = card_tokens.check(token)

    assert result.result == CardResult.VALID
    assert result.ok
    assert result.masked_name == "张**"
    assert result.union == "广州天河软件园有限公司工会"
    assert result.status == MemberStatus.ACTIVE
    assert carded.card_number is not None
    assert result.card_number_masked == carded.card_number[:4] + "*" * 10 + carded.card_number[-4:]
    shown = repr(result)
    assert carded.reveal_id_number() not in shown
    assert carded.id_number_masked not in shown
    assert "13712340000" not in shown


def test_token_is_compact_enough_for_a_small_qr(carded: Member) -> None:
    issued = card_tokens.issue_token(carded)

    assert len(issued.token) <= 100
    assert segno.make_qr(issued.token, error="m").version <= 6
    assert (issued.expires_at - issued.issued_at).total_seconds() == 60


def test_two_tokens_of_the_same_second_differ(carded: Member) -> None:
    assert card_tokens.issue_token(carded).token != card_tokens.issue_token(carded).token


def test_token_expires_after_the_ttl(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token
    later = time.time() + 61

    with mock.patch("django.core.signing.time.time", return_value=later):
        result = card_tokens.check(token)

    assert result.result == CardResult.EXPIRED
    assert result.masked_name == "张**"  # the signature is ours: say whose card it was


def test_a_shorter_ttl_from_settings_applies(carded: Member) -> None:
    with override_settings(MEMBER_CARD_TOKEN_TTL_SECONDS=5):
        token = card_tokens.issue_token(carded).token
        assert card_tokens.check(token).result == CardResult.VALID
        with mock.patch("django.core.signing.time.time", return_value=time.time() + 6):
            assert card_tokens.check(token).result == CardResult.EXPIRED


def test_retained_member_checks_as_retained(carded: Member) -> None:
    Member.objects.filter(pk=carded.pk).update(status=MemberStatus.RETAINED, retain_reason="retired")

    result = card_tokens.check(card_tokens.issue_token(carded).token)

    assert result.result == CardResult.RETAINED
    assert result.ok


def test_member_who_left_checks_as_left_even_with_a_fresh_token(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token
    Member.objects.filter(pk=carded.pk).update(status=MemberStatus.LEFT, left_at=timezone.now())

    result = card_tokens.check(token)

    assert result.result == CardResult.LEFT
    assert not result.ok


def test_erased_member_checks_as_left_without_a_name(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token
    Member.objects.filter(pk=carded.pk).update(erased_at=timezone.now())

    result = card_tokens.check(token)

    assert result.result == CardResult.LEFT
    assert result.masked_name == ""


def test_a_replaced_card_invalidates_old_tokens(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token
    Member.objects.filter(pk=carded.pk).update(card_number="GH44440106" + "99999999")

    assert card_tokens.check(token).result == CardResult.INVALID


def test_a_withdrawn_card_checks_as_no_card(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token
    Member.objects.filter(pk=carded.pk).update(card_number=None)

    assert card_tokens.check(token).result == CardResult.NO_CARD


@pytest.mark.parametrize("garbage", ["", "   ", "hello", "1.GH44.x:abc:def", "::", "a" * 500])
def test_garbage_is_invalid(carded: Member, garbage: str) -> None:
    assert card_tokens.check(garbage).result == CardResult.INVALID


def test_a_token_signed_for_something_else_is_invalid(carded: Member) -> None:
    value = f"{carded.pk}.{carded.card_number}.nonce123"
    other_salt = signing.TimestampSigner(salt="django.contrib.sessions").sign(value)
    no_salt = signing.TimestampSigner().sign(value)

    assert card_tokens.check(other_salt).result == CardResult.INVALID
    assert card_tokens.check(no_salt).result == CardResult.INVALID


def test_surrounding_whitespace_from_a_paste_is_ignored(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token

    assert card_tokens.check(f"  {token}\n").result == CardResult.VALID


def test_any_single_character_change_is_invalid(carded: Member) -> None:
    token = card_tokens.issue_token(carded).token
    assert card_tokens.check(token).result == CardResult.VALID

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(position=st.integers(min_value=0, max_value=len(token) - 1), char=st.characters(codec="utf-8"))
    def changed_token_is_invalid(position: int, char: str) -> None:
        if char == token[position]:
            char = "A" if token[position] != "A" else "B"
        changed = token[:position] + char + token[position + 1 :]
        assert card_tokens.check(changed).result == CardResult.INVALID

    changed_token_is_invalid()


def test_verify_audits_each_check_with_its_result(carded: Member, dave: User) -> None:
    token = card_tokens.issue_token(carded).token

    card_tokens.verify(token, verifier=dave)
    card_tokens.verify("forged", verifier=dave)

    events = list(AuditEvent.objects.filter(action="card.verify").order_by("id"))
    assert [e.details["result"] for e in events] == ["valid", "invalid"]
    assert events[0].actor == dave
    assert events[0].object_id == str(carded.pk)
    assert events[0].org_id == carded.org_id
    assert events[1].object_id == ""


@override_settings(MEMBER_CARD_VERIFY_PER_MINUTE=3)
def test_verify_is_rate_limited_per_verifier(carded: Member, dave: User, bob: User) -> None:
    token = card_tokens.issue_token(carded).token
    for _ in range(3):
        card_tokens.verify(token, verifier=dave)

    with pytest.raises(card_tokens.VerifyThrottled) as caught:
        card_tokens.verify(token, verifier=dave)

    assert caught.value.code == "CARD_VERIFY_THROTTLED"
    assert caught.value.status == 429
    assert card_tokens.verify(token, verifier=bob).result == CardResult.VALID  # another verifier's budget
    assert AuditEvent.objects.filter(action="card.verify", actor=dave).count() == 3


def test_cadres_and_card_verifiers_may_verify_members_may_not(tree: Tree, dave: User, frank: Member) -> None:
    merchant = User.objects.create_user("shop", password="correct-horse-battery", name="商户")
    assert card_tokens.is_verifier(dave)
    assert not card_tokens.is_verifier(frank.user)
    assert not card_tokens.is_verifier(merchant)

    out = StringIO()
    call_command("grant_card_verifier", "shop", stdout=out)

    assert "已开通" in out.getvalue()
    assert card_tokens.is_verifier(User.objects.get(pk=merchant.pk))
    assert AuditEvent.objects.filter(action="card.verifier_grant", object_id=str(merchant.pk)).exists()

    call_command("grant_card_verifier", "shop", "--revoke", stdout=out)
    assert not card_tokens.is_verifier(User.objects.get(pk=merchant.pk))


def test_ensure_card_number_issues_once_and_audits(tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "李四")
    assert member.card_number is None

    first = cards.ensure_card_number(actor=None, member=member)
    again = cards.ensure_card_number(actor=None, member=Member.objects.get(pk=member.pk))

    assert first.card_number is not None
    assert first.card_number.startswith("GH44440106")
    assert again.card_number == first.card_number
    assert AuditEvent.objects.filter(action="card.issue", object_id=str(member.pk)).count() == 1


def test_members_who_left_get_no_card_number(tree: Tree) -> None:
    member = make_member(tree.tianhe_union, "王五")
    Member.objects.filter(pk=member.pk).update(status=MemberStatus.LEFT)

    result = cards.ensure_card_number(actor=None, member=Member.objects.get(pk=member.pk))

    assert result.card_number is None
    with pytest.raises(Exception, match="CARD_NOT_ISSUED"):
        card_tokens.issue_token(result)
