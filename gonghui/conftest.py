"""Shared fixtures: a small Guangdong tree and the personas who work in it.

Personas (healthchecks-style), each with a TOTP device so they can use the console:
- alice: admin of the province union (sees everything)
- bob: admin of 天河区总工会 (Guangzhou, Tianhe district)
- charlie: admin of 南山区总工会 (Shenzhen, Nanshan district)
- dave: chair of a grassroots union in Tianhe
- erin: auditor at 广州市总工会 (read-only, reads the audit log)
- frank: a member of dave's union with a portal account
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Browser

from gonghui.activities.kinds.rush import waiting_room
from gonghui.activities.kinds.vote import selectors as vote_selectors
from gonghui.core import idnumbers
from gonghui.core.access import RoleKind
from gonghui.core.models import User
from gonghui.members import actions as member_actions
from gonghui.members.models import Member
from gonghui.orgs import actions as org_actions
from gonghui.orgs.models import Org, OrgLevel
from gonghui.testing.liveserver import TrackedLiveServer, share_test_thread_connections, start_live_server

_seq = itertools.count(1)

# Playwright's sync API runs an event loop in the test thread; the ORM calls the browser
# tests make (reading TOTP keys and the SMS outbox, checking audit rows) are still plain
# synchronous calls (and use the thread's one set of connections: see gonghui.testing.liveserver).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # Login throttling counts failures in the cache: one test's failures must not lock out the next.
    cache.clear()
    # The vote's per-process snapshot copies go with the cache (ids are reused on SQLite).
    vote_selectors.forget_local()
    waiting_room.forget_local()


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest, django_db_setup: None) -> Iterator[TrackedLiveServer]:
    """pytest-django's live server, started once the test database exists (see
    ``start_live_server``) and counting its client connections for ``browser``."""
    server = start_live_server(request.config.getvalue("liveserver"))
    yield server
    server.stop()


@pytest.fixture
def browser(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Browser]:
    """The run's browser; the contexts a test opens are closed when it ends, and then the
    live server is given time to finish what they asked of it.

    An open context keeps its keep-alive connections to the live server, and the server a
    thread (and a database connection) on each of them. A request the server had already
    read when the context closed still runs to its end: waiting for every connection to be
    served and closed keeps its queries out of the flush and the next test's fixtures.
    """
    share_test_thread_connections()
    server: TrackedLiveServer | None = (
        request.getfixturevalue("live_server") if "live_server" in request.fixturenames else None
    )
    yield browser
    for context in browser.contexts:
        context.close()
    if server is not None and not server.traffic.wait_until_idle():
        warnings.warn(
            f"the live server still had {server.traffic.open} client connection(s) open "
            "after the test's browser contexts were closed",
            pytest.PytestWarning,
            stacklevel=1,
        )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
        ],
    }


def new_id_number(region: str = "440106", birth: date = date(1990, 1, 1)) -> str:
    return idnumbers.make(region, birth, next(_seq) % 1000)


@dataclass
class Tree:
    province: Org
    guangzhou: Org
    tianhe: Org
    tianhe_street: Org
    tianhe_union: Org
    shenzhen: Org
    nanshan: Org
    nanshan_street: Org
    nanshan_union: Org


def make_org(parent: Org | None, level: str, name: str, **values: Any) -> Org:
    return org_actions.create_org(actor=None, parent=parent, level=level, values={"name": name, **values})


@pytest.fixture
def tree(db: Any) -> Tree:
    province = make_org(None, OrgLevel.PROVINCE, "广东省总工会", region_code="440000")
    guangzhou = make_org(province, OrgLevel.CITY, "广州市总工会", region_code="440100")
    tianhe = make_org(guangzhou, OrgLevel.DISTRICT, "天河区总工会", region_code="440106")
    tianhe_street = make_org(tianhe, OrgLevel.STREET, "天河区石牌街道总工会", region_code="440106")
    tianhe_union = make_org(
        tianhe_street,
        OrgLevel.GRASSROOTS,
        "广州天河软件园有限公司工会",
        unit_name="广州天河软件园有限公司",
        region_code="440106",
    )
    shenzhen = make_org(province, OrgLevel.CITY, "深圳市总工会", region_code="440300")
    nanshan = make_org(shenzhen, OrgLevel.DISTRICT, "南山区总工会", region_code="440305")
    nanshan_street = make_org(nanshan, OrgLevel.STREET, "南山区粤海街道总工会", region_code="440305")
    nanshan_union = make_org(
        nanshan_street,
        OrgLevel.GRASSROOTS,
        "深圳南山科技有限公司工会",
        unit_name="深圳南山科技有限公司",
        region_code="440305",
    )
    return Tree(
        province, guangzhou, tianhe, tianhe_street, tianhe_union, shenzhen, nanshan, nanshan_street, nanshan_union
    )


def make_cadre(username: str, name: str, org: Org, role: str, mobile: str | None = None) -> User:
    user = User.objects.create_user(username, password="correct-horse-battery", name=name, mobile=mobile)
    org_actions.grant_role(actor=None, user=user, org=org, role=role)
    TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


@pytest.fixture
def alice(tree: Tree) -> User:
    return make_cadre("alice", "艾丽斯", tree.province, RoleKind.ADMIN, "13800000001")


@pytest.fixture
def bob(tree: Tree) -> User:
    return make_cadre("bob", "鲍勃", tree.tianhe, RoleKind.ADMIN, "13800000002")


@pytest.fixture
def charlie(tree: Tree) -> User:
    return make_cadre("charlie", "查理", tree.nanshan, RoleKind.ADMIN, "13800000003")


@pytest.fixture
def dave(tree: Tree) -> User:
    return make_cadre("dave", "戴夫", tree.tianhe_union, RoleKind.CHAIR, "13800000004")


@pytest.fixture
def erin(tree: Tree) -> User:
    return make_cadre("erin", "艾琳", tree.guangzhou, RoleKind.AUDITOR, "13800000005")


def make_member(org: Org, name: str = "张三", **kwargs: Any) -> Member:
    data = member_actions.MemberInput(
        name=name,
        id_number=kwargs.pop("id_number", None) or new_id_number(org.region_code or "440106"),
        mobile=kwargs.pop("mobile", ""),
        join_date=kwargs.pop("join_date", date(2020, 5, 1)),
        extra=kwargs,
    )
    return member_actions.create_member(actor=None, org=org, data=data)


@pytest.fixture
def frank(tree: Tree) -> Member:
    user = User.objects.create_user("13900000006", password="correct-horse-battery", name="范克", mobile="13900000006")
    member = make_member(tree.tianhe_union, "范克", mobile="13900000006")
    member.user = user
    member.save(update_fields=["user"])
    return member


def console_client(user: User) -> Client:
    """A test client logged in as ``user`` with the second factor already passed."""
    client = Client()
    client.force_login(user)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    assert device is not None, "cadre fixtures have a TOTP device"
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client
