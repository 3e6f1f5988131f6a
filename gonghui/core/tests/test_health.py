from __future__ import annotations

from unittest import mock

import pytest
from django.db.utils import OperationalError
from django.test import Client


def test_healthz_answers_without_touching_the_database() -> None:
    # No django_db mark: pytest-django makes any database access fail this test.
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_checks_the_database() -> None:
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_readyz_is_unavailable_when_the_database_is_down() -> None:
    with mock.patch("gonghui.health.connection.cursor", side_effect=OperationalError("down")):
        response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "down"


def test_health_endpoints_refuse_writes() -> None:
    assert Client().post("/healthz").status_code == 405
