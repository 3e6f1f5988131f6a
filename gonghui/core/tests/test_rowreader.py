"""``RowReader`` builds what the ORM builds, in one query, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models

from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.core.rowreader import RowReader
from gonghui.members.models import Member
from gonghui.orgs.models import Org


def columns(instance: models.Model) -> dict[str, Any]:
    values = {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}
    return {k: bytes(v) if isinstance(v, memoryview) else v for k, v in values.items()}


def same(fast: models.Model, slow: models.Model) -> None:
    assert type(fast) is type(slow)
    assert columns(fast) == columns(slow)
    assert {k: type(v) for k, v in columns(fast).items()} == {k: type(v) for k, v in columns(slow).items()}
    assert fast._state.adding is False and fast._state.db == "default"


@pytest.mark.django_db
def test_member_with_union_as_select_related(frank: Member, django_assert_num_queries: Any) -> None:
    reader = RowReader(Member, "user", related=("org",))
    slow = Member.objects.select_related("org").get(user_id=frank.user_id)
    with django_assert_num_queries(1):
        fast = reader.get(frank.user_id)
        assert fast is not None
        same(fast, slow)
        same(fast.org, slow.org)  # cached: no second query
    assert isinstance(fast.org, Org)
    assert reader.get(-1) is None


@pytest.mark.django_db
def test_nullable_key_without_a_row(tree: Tree, django_assert_num_queries: Any) -> None:
    member = make_member(tree.nanshan_union, "李四", mobile="13700000000")  # no account
    reader = RowReader(Member, "pk", related=("org", "user"))
    slow = Member.objects.get(pk=member.pk)
    with django_assert_num_queries(1):
        fast = reader.get(member.pk)
        assert fast is not None
        assert fast.user is None  # the LEFT JOIN found none: cached as None, no query
        same(fast, slow)


@pytest.mark.django_db
def test_account_by_primary_key(frank: Member) -> None:
    reader = RowReader(User, "pk")
    fast = reader.get(frank.user_id)
    assert fast is not None
    same(fast, User.objects.get(pk=frank.user_id))
    assert fast.check_password("correct-horse-battery")


def test_only_foreign_keys_join() -> None:
    with pytest.raises(TypeError):
        RowReader(Member, "pk", related=("name",))._plan("default")


@pytest.mark.django_db
def test_key_of_several_columns(frank: Member) -> None:
    reader = RowReader(Member, ("org", "user"))
    found = reader.get(frank.org_id, frank.user_id)
    assert found is not None and found.pk == frank.pk
    assert reader.get(frank.org_id + 1000, frank.user_id) is None
    with pytest.raises(TypeError):
        reader.get(frank.org_id)
