"""Resetting a cadre's second factor (orgs.cadres): who may, and what a reset does.

Never one's own; never a cadre who holds a role anywhere outside the resetter's
ROLE_MANAGE scope (above it, or in another district). A reset deletes the TOTP devices
and recovery codes, ends every session of the account, and is audited with its reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.conftest import Tree, console_client, make_cadre
from gonghui.console import twofactor
from gonghui.core.access import RoleKind
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.orgs import actions as org_actions
from gonghui.orgs import cadres


def has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user).exists() or StaticDevice.objects.filter(user=user).exists()


def test_reset_deletes_devices_and_codes_ends_sessions_and_is_audited(alice: User, dave: User, tree: Tree) -> None:
    twofactor.issue_recovery_codes(dave)
    daves_browser = console_client(dave)
    assert daves_browser.get("/console/").status_code == 200

    done = cadres.reset_second_factor(actor=alice, user=dave, reason="手机丢失，本人电话确认")

    assert done == cadres.SecondFactorReset(totp_devices=1, recovery_devices=1, sessions_ended=1)
    assert not has_second_factor(dave)
    assert not StaticToken.objects.filter(device__user=dave).exists()
    # Dave's browser is signed out: the old session is gone, not merely unverified.
    assert daves_browser.get("/console/")["Location"].startswith("/console/login/")
    event = AuditEvent.objects.get(action="auth.totp_reset")
    assert (event.actor_id, event.object_type, event.object_id) == (alice.pk, "core.user", str(dave.pk))
    assert event.org_id == tree.tianhe_union.pk
    assert event.details == {
        "reason": "手机丢失，本人电话确认",
        "totp_devices": 1,
        "recovery_devices": 1,
        "sessions_ended": 1,
    }


def test_other_peoples_sessions_survive(alice: User, bob: User, dave: User) -> None:
    alices_browser = console_client(alice)
    bobs_browser = console_client(bob)

    cadres.reset_second_factor(actor=alice, user=dave, reason="换手机")

    assert alices_browser.get("/console/").status_code == 200
    assert bobs_browser.get("/console/").status_code == 200
    assert has_second_factor(bob)


def test_nobody_resets_their_own_second_factor(bob: User) -> None:
    with pytest.raises(DomainError) as caught:
        cadres.reset_second_factor(actor=bob, user=bob, reason="自己")
    assert caught.value.code == "TOTP_RESET_SELF"
    assert has_second_factor(bob)


def test_a_district_admin_cannot_reset_the_province_admin_even_with_a_role_in_the_district(
    alice: User, bob: User, tree: Tree
) -> None:
    org_actions.grant_role(actor=None, user=alice, org=tree.tianhe, role=RoleKind.STAFF)

    with pytest.raises(DomainError) as caught:
        cadres.reset_second_factor(actor=bob, user=alice, reason="试图越级")

    assert caught.value.code == "TOTP_RESET_SUPERIOR"
    assert has_second_factor(alice)
    assert not AuditEvent.objects.filter(action="auth.totp_reset").exists()


def test_a_cadre_who_also_works_in_another_district_is_out_of_reach(bob: User, tree: Tree) -> None:
    both = make_cadre("both", "双岗", tree.tianhe_union, RoleKind.STAFF, "13800000011")
    org_actions.grant_role(actor=None, user=both, org=tree.nanshan_union, role=RoleKind.STAFF)

    with pytest.raises(DomainError) as caught:
        cadres.reset_second_factor(actor=bob, user=both, reason="x")
    assert caught.value.code == "TOTP_RESET_SUPERIOR"
    assert cadres.resettable(bob, [both.pk]) == set()


def test_a_reason_is_required(alice: User, dave: User) -> None:
    with pytest.raises(DomainError) as caught:
        cadres.reset_second_factor(actor=alice, user=dave, reason="   ")
    assert caught.value.code == "TOTP_RESET_REASON_REQUIRED"
    assert has_second_factor(dave)


def test_a_peer_on_the_same_union_may_be_reset(bob: User, tree: Tree) -> None:
    peer = make_cadre("peer", "同级", tree.tianhe, RoleKind.ADMIN, "13800000012")
    cadres.reset_second_factor(actor=bob, user=peer, reason="同事手机丢失")
    assert not has_second_factor(peer)


def test_staff_without_role_manage_may_reset_no_one(tree: Tree, dave: User) -> None:
    staff = make_cadre("staffer", "干事", tree.tianhe, RoleKind.STAFF, "13800000013")
    with pytest.raises(DomainError):
        cadres.reset_second_factor(actor=staff, user=dave, reason="x")


def test_sessions_kept_in_the_cache_too_are_ended(settings: Any, alice: User, dave: User) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    daves_browser = console_client(dave)
    assert daves_browser.get("/console/").status_code == 200

    cadres.reset_second_factor(actor=alice, user=dave, reason="手机丢失")

    assert daves_browser.get("/console/").status_code == 302


def test_a_session_engine_outside_the_database_is_refused_loudly(settings: Any, alice: User, dave: User) -> None:
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"

    with pytest.raises(ImproperlyConfigured):
        cadres.reset_second_factor(actor=alice, user=dave, reason="手机丢失")
    assert has_second_factor(dave)
