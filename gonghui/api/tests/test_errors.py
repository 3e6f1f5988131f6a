"""Every error is JSON with a stable code and a Chinese message."""

from __future__ import annotations

from typing import Any

import pytest

from gonghui.conftest import Tree, new_id_number
from gonghui.members import actions as member_actions

from .conftest import Api


def test_unknown_object_is_404_with_code(bob_api: Api) -> None:
    response = bob_api.get("/api/v1/orgs/999999")
    assert response.status_code == 404
    assert response.json() == {"code": "NOT_FOUND", "message": "对象不存在"}


def test_unknown_path_is_json_404(bob_api: Api) -> None:
    for response in (bob_api.get("/api/v1/nothing-here"), bob_api.post("/api/v1/nothing-here")):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["code"] == "NOT_FOUND"


def test_validation_error_lists_fields_without_echoing_input(bob_api: Api, tree: Tree) -> None:
    secret = "x" * 41  # longer than any ID number; must not come back
    response = bob_api.post("/api/v1/members", {"org_id": tree.tianhe_union.pk, "name": "", "id_number": secret})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["message"] == "请求参数有误"
    failed = {tuple(d["loc"][-1:]) for d in body["details"]}
    assert failed == {("name",), ("id_number",)}
    assert secret not in response.content.decode()


def test_query_parameter_out_of_bounds_is_422(bob_api: Api) -> None:
    response = bob_api.get("/api/v1/orgs", {"limit": 10_000})
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["query", "limit"]


def test_unknown_body_field_is_422(bob_api: Api, tree: Tree) -> None:
    response = bob_api.patch(f"/api/v1/orgs/{tree.tianhe.pk}", {"nmae": "拼错的字段"})
    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_malformed_json_is_400_malformed_body(bob_api: Api, tree: Tree) -> None:
    response = bob_api.client.post(f"/api/v1/orgs/{tree.tianhe.pk}/close", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"code": "MALFORMED_BODY", "message": "请求体不是有效的 JSON"}


def test_bad_enum_in_query_is_422(bob_api: Api) -> None:
    response = bob_api.get("/api/v1/orgs", {"level": "kingdom"})
    assert response.status_code == 422
    assert response.json()["details"][0]["loc"] == ["query", "level"]


def test_wrong_method_is_json_405(bob_api: Api, tree: Tree) -> None:
    response = bob_api.client.delete(f"/api/v1/orgs/{tree.tianhe.pk}")
    assert response.status_code == 405
    body = response.json()
    assert body["code"] == "METHOD_NOT_ALLOWED"
    assert set(body["details"]["allowed"]) == {"GET", "PATCH"}
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "PATCH"}


def test_domain_error_keeps_its_code_and_message(bob_api: Api, tree: Tree) -> None:
    response = bob_api.post(f"/api/v1/orgs/{tree.tianhe_union.pk}/children", {"level": "city", "name": "错层级"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "ORG_BAD_LEVEL"
    assert "基层工会" in body["message"]


def test_unexpected_exception_is_logged_500(
    bob_api: Api, tree: Tree, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(**kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(member_actions, "create_member", explode)
    response = bob_api.post(
        "/api/v1/members", {"org_id": tree.tianhe_union.pk, "name": "张三", "id_number": new_id_number()}
    )
    assert response.status_code == 500
    assert response.json() == {"code": "INTERNAL_ERROR", "message": "服务器内部错误，请稍后再试"}
    assert "disk on fire" not in response.content.decode()
    assert any("disk on fire" in (r.exc_text or str(r.exc_info)) for r in caplog.records if r.name == "gonghui.api")
