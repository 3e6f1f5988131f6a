"""API test helpers: JSON calls made by the personas' console sessions."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gonghui.conftest import Tree, console_client, make_member
from gonghui.core.models import User
from gonghui.members.models import Member


class Api:
    """A thin JSON wrapper around a test client."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(path, params or {})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.post(path, body or {}, content_type="application/json")

    def patch(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.patch(path, body or {}, content_type="application/json")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if method == "GET":
            return self.get(path)
        if method == "PATCH":
            return self.patch(path, body)
        return self.post(path, body)


@pytest.fixture
def bob_api(bob: User) -> Api:
    return Api(console_client(bob))


@pytest.fixture
def charlie_api(charlie: User) -> Api:
    return Api(console_client(charlie))


@pytest.fixture
def alice_api(alice: User) -> Api:
    return Api(console_client(alice))


@pytest.fixture
def nanshan_member(tree: Tree) -> Member:
    return make_member(tree.nanshan_union, "李南山", mobile="13712345678")


@pytest.fixture
def tianhe_member(tree: Tree) -> Member:
    return make_member(tree.tianhe_union, "王天河", mobile="13612345678")
