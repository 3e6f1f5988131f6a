"""List endpoints cost the same number of queries for 2 rows as for 20 (no N+1)."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from gonghui.conftest import Tree, make_member, make_org

from .conftest import Api


def _queries(api: Api, path: str, params: dict[str, object]) -> int:
    api.get(path, params)  # the first request of a session also records its last-seen time
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path, params)
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_member_list_query_count_is_flat(alice_api: Api, tree: Tree) -> None:
    for i in range(2):
        make_member(tree.tianhe_union, f"甲{i}")
    few = _queries(alice_api, "/api/v1/members", {"limit": 100})
    for i in range(18):
        make_member(tree.nanshan_union, f"乙{i}")
    many = _queries(alice_api, "/api/v1/members", {"limit": 100})
    assert many == few
    assert many <= 6  # session, user, OTP device, roles, members (+ org join)


def test_org_list_query_count_is_flat(alice_api: Api, tree: Tree) -> None:
    few = _queries(alice_api, "/api/v1/orgs", {"limit": 200})
    for i in range(10):
        make_org(tree.tianhe_street, "grassroots", f"新工会{i}")
    many = _queries(alice_api, "/api/v1/orgs", {"limit": 200})
    assert many == few
    assert many <= 7  # session, user, OTP device, roles, count, page (parent ids as a subquery)
