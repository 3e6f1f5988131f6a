"""重置动态口令 on the roles page: a cadre with ROLE_MANAGE resets a lower cadre's second factor.

The rules themselves live in ``orgs.cadres`` and are tested in orgs/tests/test_cadres.py;
here, what the page offers and what a POST does.
"""

from __future__ import annotations

from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from gonghui.conftest import Tree, console_client
from gonghui.core.access import RoleKind
from gonghui.core.models import AuditEvent, User
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Role


def reset_url(user: User, org_id: int) -> str:
    role = Role.objects.get(user=user, org_id=org_id)
    return f"/console/roles/{role.pk}/reset-second-factor/"


def has_second_factor(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user).exists() or StaticDevice.objects.filter(user=user).exists()


def test_roles_page_offers_reset_for_lower_cadres_only(bob_client: Client, bob: User, dave: User, tree: Tree) -> None:
    body = bob_client.get(f"/console/orgs/{tree.tianhe_union.pk}/roles/").content.decode()
    assert reset_url(dave, tree.tianhe_union.pk) in body
    assert "已绑定" in body

    own = bob_client.get(f"/console/orgs/{tree.tianhe.pk}/roles/").content.decode()
    assert reset_url(bob, tree.tianhe.pk) not in own


def test_roles_page_hides_reset_for_a_superior_with_a_role_here(bob_client: Client, alice: User, tree: Tree) -> None:
    org_actions.grant_role(actor=None, user=alice, org=tree.tianhe_union, role=RoleKind.STAFF)

    body = bob_client.get(f"/console/orgs/{tree.tianhe_union.pk}/roles/").content.decode()

    assert "艾丽斯" in body
    assert reset_url(alice, tree.tianhe_union.pk) not in body


def test_posting_a_reset_from_the_roles_page(bob_client: Client, bob: User, dave: User, tree: Tree) -> None:
    daves_browser = console_client(dave)

    response = bob_client.post(reset_url(dave, tree.tianhe_union.pk), {"reason": "手机丢失"}, follow=True)

    assert response.redirect_chain[-1][0] == f"/console/orgs/{tree.tianhe_union.pk}/roles/"
    body = response.content.decode()
    assert "已重置 戴夫 的动态口令和恢复码，并让其 1 个已登录的会话退出。对方下次登录时须先验证登记的手机号" in body
    assert "待绑定" in body
    assert not has_second_factor(dave)
    assert daves_browser.get("/console/").status_code == 302
    assert AuditEvent.objects.get(action="auth.totp_reset").actor_id == bob.pk


def test_posting_without_a_reason_changes_nothing(bob_client: Client, dave: User, tree: Tree) -> None:
    response = bob_client.post(reset_url(dave, tree.tianhe_union.pk), {"reason": ""}, follow=True)

    assert "请填写重置原因" in response.content.decode()
    assert has_second_factor(dave)


def test_posting_a_reset_of_a_superior_is_refused(bob_client: Client, alice: User, tree: Tree) -> None:
    org_actions.grant_role(actor=None, user=alice, org=tree.tianhe_union, role=RoleKind.STAFF)

    response = bob_client.post(reset_url(alice, tree.tianhe_union.pk), {"reason": "越级"}, follow=True)

    assert "须由上级工会的管理员重置" in response.content.decode()
    assert has_second_factor(alice)


def test_posting_a_reset_of_oneself_is_refused(bob_client: Client, bob: User, tree: Tree) -> None:
    response = bob_client.post(reset_url(bob, tree.tianhe.pk), {"reason": "自己"}, follow=True)

    assert "不能重置自己的动态口令" in response.content.decode()
    assert has_second_factor(bob)


def test_reset_needs_post(bob_client: Client, dave: User, tree: Tree) -> None:
    assert bob_client.get(reset_url(dave, tree.tianhe_union.pk)).status_code == 405


def test_after_a_reset_the_cadre_enrols_again_through_the_mobile_step(
    bob_client: Client, dave: User, tree: Tree
) -> None:
    bob_client.post(reset_url(dave, tree.tianhe_union.pk), {"reason": "手机丢失"})
    client = Client()

    response = client.post(
        "/console/login/", {"tab": "password", "pw-username": "dave", "pw-password": "correct-horse-battery"}
    )

    assert response["Location"] == "/console/otp/setup/"
    assert "验证手机" in client.get("/console/otp/setup/").content.decode()
