"""News tests: members with portal accounts in Tianhe (frank) and Nanshan (nina)."""

from __future__ import annotations

import pytest

from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.members.models import Member


@pytest.fixture
def nina(tree: Tree) -> Member:
    user = User.objects.create_user("13900000016", password="correct-horse-battery", name="倪娜", mobile="13900000016")
    member = make_member(tree.nanshan_union, "倪娜", mobile="13900000016")
    member.user = user
    member.save(update_fields=["user"])
    return member
