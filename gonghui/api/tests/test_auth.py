"""Only a cadre's session that passed the second factor gets in; CSRF guards writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client
from gonghui.core.models import User
from gonghui.members.models import Member
from gonghui.orgs.models import Org

from .conftest import Api

# Every endpoint, with an id that exists (bob's own org / member) where one is needed.
ENDPOINTS = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/orgs"),
    ("GET", "/api/v1/orgs/{org}"),
    ("PATCH", "/api/v1/orgs/{org}"),
    ("GET", "/api/v1/orgs/{org}/children"),
    ("POST", "/api/v1/orgs/{org}/children"),
    ("POST", "/api/v1/orgs/{org}/move"),
    ("POST", "/api/v1/orgs/{org}/close"),
    ("GET", "/api/v1/members"),
    ("POST", "/api/v1/members"),
    ("GET", "/api/v1/members/{member}"),
    ("PATCH", "/api/v1/members/{member}"),
    ("POST", "/api/v1/members/{member}/reveal"),
]


def _url(template: str, tree: Tree, member: Member) -> str:
    return template.format(org=tree.tianhe_street.pk, member=member.pk)


@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_anonymous_gets_401_auth_required(tree: Tree, tianhe_member: Member, method: str, template: str) -> None:
    response = Api(Client()).call(method, _url(template, tree, tianhe_member), {})
    assert response.status_code == 401
    assert response.json() == {"code": "AUTH_REQUIRED", "message": "请先登录"}


@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_cadre_without_second_factor_gets_401_otp_required(
    bob: User, tree: Tree, tianhe_member: Member, method: str, template: str
) -> None:
    client = Client()
    client.force_login(bob)  # password passed, TOTP not yet
    response = Api(client).call(method, _url(template, tree, tianhe_member), {})
    assert response.status_code == 401
    body = response.json()
    assert body["code"] == "OTP_REQUIRED"
    assert body["message"]


def test_member_without_cadre_role_gets_403(frank: Member) -> None:
    client = Client()
    client.force_login(frank.user)
    response = client.get("/api/v1/orgs")
    assert response.status_code == 403
    assert response.json()["code"] == "CADRE_REQUIRED"


def test_me_lists_roles(bob_api: Api, tree: Tree) -> None:
    body = bob_api.get("/api/v1/me").json()
    assert body["username"] == "bob"
    assert body["roles"] == [{"org_id": tree.tianhe.pk, "org_name": "天河区总工会", "role": "admin"}]


def _csrf_client(user: User) -> Client:
    verified = console_client(user)
    client = Client(enforce_csrf_checks=True)
    client.cookies = verified.cookies
    return client


def test_post_without_csrf_token_is_refused(bob: User, tree: Tree) -> None:
    client = _csrf_client(bob)
    response = client.post(
        f"/api/v1/orgs/{tree.tianhe_street.pk}/children",
        {"level": "grassroots", "name": "无令牌工会"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["code"] == "CSRF_FAILED"
    assert Org.objects.get_children_count(tree.tianhe_street) == 1


def test_post_with_csrf_token_is_accepted(bob: User, tree: Tree) -> None:
    client = _csrf_client(bob)
    client.get("/api/docs")  # the docs page sets the csrftoken cookie, as the console does
    token = client.cookies["csrftoken"].value
    response = client.post(
        f"/api/v1/orgs/{tree.tianhe_street.pk}/children",
        {"level": "grassroots", "name": "有令牌工会"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "有令牌工会"


def test_get_needs_no_csrf_token(bob: User, tree: Tree) -> None:
    response: Any = _csrf_client(bob).get("/api/v1/orgs")
    assert response.status_code == 200
