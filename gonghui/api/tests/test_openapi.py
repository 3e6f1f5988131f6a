"""The OpenAPI document and the docs page: complete, and served without any CDN."""

from __future__ import annotations

import re

from django.test import Client

EXPECTED_OPERATIONS = {
    ("get", "/api/v1/me"): "get_me",
    ("get", "/api/v1/orgs"): "list_orgs",
    ("get", "/api/v1/orgs/{org_id}"): "get_org",
    ("patch", "/api/v1/orgs/{org_id}"): "update_org",
    ("get", "/api/v1/orgs/{org_id}/children"): "list_org_children",
    ("post", "/api/v1/orgs/{org_id}/children"): "create_org_child",
    ("post", "/api/v1/orgs/{org_id}/move"): "move_org",
    ("post", "/api/v1/orgs/{org_id}/close"): "close_org",
    ("get", "/api/v1/members"): "list_members",
    ("post", "/api/v1/members"): "create_member",
    ("get", "/api/v1/members/{member_id}"): "get_member",
    ("patch", "/api/v1/members/{member_id}"): "update_member",
    ("post", "/api/v1/members/{member_id}/reveal"): "reveal_member_pii",
    ("post", "/api/v1/applications"): "apply_for_membership",
    ("get", "/api/v1/applications"): "list_applications",
    ("get", "/api/v1/applications/{application_id}"): "get_application",
    ("post", "/api/v1/applications/{application_id}/approve"): "approve_application",
    ("post", "/api/v1/applications/{application_id}/reject"): "reject_application",
    ("post", "/api/v1/cards/verify"): "verify_card",
    ("get", "/api/v1/me/card"): "get_my_card",
    ("get", "/api/v1/me/messages"): "list_my_messages",
    ("post", "/api/v1/me/messages/{message_id}/read"): "read_my_message",
    ("post", "/api/v1/me/messages/read-all"): "read_all_my_messages",
    ("post", "/api/v1/broadcasts"): "create_broadcast",
    ("get", "/api/v1/broadcasts/{broadcast_id}"): "get_broadcast",
    ("get", "/api/v1/transfers"): "list_transfers",
    ("post", "/api/v1/transfers"): "create_transfer",
    ("get", "/api/v1/transfers/{transfer_id}"): "get_transfer",
    ("post", "/api/v1/transfers/{transfer_id}/release"): "release_transfer",
    ("post", "/api/v1/transfers/{transfer_id}/accept"): "accept_transfer",
    ("post", "/api/v1/transfers/{transfer_id}/decline"): "decline_transfer",
    ("post", "/api/v1/transfers/{transfer_id}/cancel"): "cancel_transfer",
    ("post", "/api/v1/members/{member_id}/retain"): "retain_member",
    ("post", "/api/v1/members/{member_id}/restore"): "restore_member",
    ("post", "/api/v1/members/{member_id}/leave"): "leave_member",
    ("get", "/api/v1/members/{member_id}/history"): "member_history",
}


def test_openapi_documents_every_operation(db: object) -> None:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "Gonghui 工会开放接口"
    assert doc["info"]["version"] == "1"
    assert "OTP_REQUIRED" in doc["info"]["description"]
    found = {(method, path): op["operationId"] for path, ops in doc["paths"].items() for method, op in ops.items()}
    # The published operations never disappear or change their id (clients depend on
    # them); new ones may be added.
    assert EXPECTED_OPERATIONS.items() <= found.items(), sorted(set(EXPECTED_OPERATIONS.items()) - set(found.items()))
    for (method, path), operation_id in found.items():
        assert path.startswith("/api/v1/"), path
        assert operation_id, (method, path)
        op = doc["paths"][path][method]
        assert op.get("tags"), (method, path)
        assert op.get("summary"), (method, path)


def test_every_operation_documents_errors_and_auth(db: object) -> None:
    doc = Client().get("/api/openapi.json").json()
    error_schema = doc["components"]["schemas"]["ErrorOut"]
    assert set(error_schema["required"]) == {"code", "message"}
    assert any(s["type"] == "apiKey" and s["in"] == "cookie" for s in doc["components"]["securitySchemes"].values())
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"401", "403", "422", "500"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            error = op["responses"]["401"]["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/ErrorOut"}
            assert op["security"], (method, path)
    member_out = doc["components"]["schemas"]["MemberOut"]["properties"]
    assert "id_number_masked" in member_out
    assert not {"id_number", "mobile", "birth_date"} & set(member_out)
    assert member_out["name"]["description"] == "姓名"


def test_docs_page_uses_only_local_assets(db: object) -> None:
    response = Client().get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui-bundle.js" in html
    assert not re.search(r"https?://", html), re.findall(r"https?://[^\s\"'<>]+", html)
    assert '"validatorUrl": null' in html  # Swagger UI would otherwise call validator.swagger.io
    for src in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert src.startswith("/static/"), src


def test_docs_assets_are_served_locally(db: object) -> None:
    from django.contrib.staticfiles import finders

    for asset in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css", "ninja/swagger-ui-init.js"):
        assert finders.find(asset), asset
