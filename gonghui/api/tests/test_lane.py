"""The hot lane (``api.lane``): a pass got with the member's session, then the lane's vote and
grab with ``Authorization: Bearer <pass>`` — served by Ninja (the test client) and by
``HotLane`` in front of Django (WSGI environs built here), with the same answers."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch
from wsgiref.util import setup_testing_defaults

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from gonghui.activities import passes
from gonghui.activities.kinds.rush.models import Grant
from gonghui.activities.kinds.rush.tests.conftest import make_rush  # noqa: F401 - a fixture
from gonghui.activities.kinds.vote.models import Ballot, BallotChoice
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.kinds.vote.tests.test_vote_pages import member_client as session_client
from gonghui.activities.models import Activity
from gonghui.activities.tests.conftest import make_activity
from gonghui.api import lane as lane_module
from gonghui.api.lane import HotLane
from gonghui.conftest import Tree, make_member
from gonghui.core.models import User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db

JSON = "application/json"
VOTE_BODY_KEYS = {"candidate_ids", "receipt", "ballot_id", "day", "seq", "remaining_today", "replayed"}


def member_client(member: Member) -> Client:
    """A logged-in member (an account is made for a member without one)."""
    if member.user_id is None:
        member.user = User.objects.create_user(f"m{member.pk}", password="x-correct-horse")
        member.save(update_fields=["user"])
    return session_client(member)


def get_pass(member: Member, activity: Activity) -> str:
    response = member_client(member).post(f"/api/v1/activities/{activity.pk}/pass")
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def bearer(token: str) -> str:
    return f"Bearer {token}"


def vote_path(activity: Activity) -> str:
    return f"/api/v1/activities/{activity.pk}/lane/vote"


def grab_path(activity: Activity) -> str:
    return f"/api/v1/activities/{activity.pk}/lane/rush/grab"


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the JSON, or the text when the answer is not JSON

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


def _reply(status: int, content_type: str, content: bytes) -> Reply:
    if content_type.startswith(JSON):
        return Reply(status, json.loads(content))
    return Reply(status, content.decode(errors="replace"))


def _raw(body: Any, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    return b"" if body is None else json.dumps(body).encode()


class NinjaLane:
    """Through Django: middleware, URL resolver, Ninja (what the development server runs)."""

    name = "ninja"

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        auth: str | None = None,
        raw: bytes | None = None,
        content_type: str = JSON,
        host: str = "testserver",
        key: str = "",
    ) -> Reply:
        # Set even without a body (the test client leaves it out then; a real client does not).
        extra = {"HTTP_HOST": host, "CONTENT_TYPE": content_type}
        if auth is not None:
            extra["HTTP_AUTHORIZATION"] = auth
        if key:
            extra["HTTP_IDEMPOTENCY_KEY"] = key
        client = Client(raise_request_exception=False)
        response = client.generic("POST", path, _raw(body, raw), content_type=content_type, **extra)
        return _reply(response.status_code, response.get("Content-Type", ""), response.content)


@dataclass
class WsgiLane:
    """Through ``HotLane`` in front of a stand-in for Django that records what reaches it."""

    name = "wsgi"
    passed: list[tuple[str, str]] = field(default_factory=list)

    def django(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.passed.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
        return [b"django"]

    @property
    def app(self) -> HotLane:
        return HotLane(self.django)

    def call(self, environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started.append((status, dict(headers)))

        content = b"".join(self.app(environ, start_response))
        [(status, headers)] = started
        return status, headers, content

    @staticmethod
    def environ(
        method: str, path: str, raw: bytes = b"", *, content_type: str = JSON, host: str = "testserver", **headers: str
    ) -> dict[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(raw)),
            "HTTP_HOST": host,
            "wsgi.input": io.BytesIO(raw),
            **headers,
        }
        setup_testing_defaults(environ)  # fills in only what is missing
        return environ

    def post(
        self,
        path: str,
        body: Any = None,
        *,
        auth: str | None = None,
        raw: bytes | None = None,
        content_type: str = JSON,
        host: str = "testserver",
        key: str = "",
    ) -> Reply:
        headers = {}
        if auth is not None:
            headers["HTTP_AUTHORIZATION"] = auth
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        environ = self.environ("POST", path, _raw(body, raw), content_type=content_type, host=host, **headers)
        status, response_headers, content = self.call(environ)
        assert ("POST", path) not in self.passed, "a lane request reached Django"
        assert int(response_headers["Content-Length"]) == len(content)
        assert response_headers["Cache-Control"] == "no-store"
        reply = _reply(int(status.split()[0]), response_headers["Content-Type"], content)
        assert reply.status == int(status.split()[0]) and status.split(" ", 1)[1], status
        return reply


Lane = NinjaLane | WsgiLane


@pytest.fixture
def wsgi_lane(monkeypatch: pytest.MonkeyPatch) -> WsgiLane:
    # HotLane opens and closes database connections around each request, as Django's
    # request signals do; Django's test client disconnects those for the test's
    # transaction to survive, and so does this (the transactional test below runs them).
    monkeypatch.setattr(lane_module, "close_old_connections", lambda: None)
    return WsgiLane()


@pytest.fixture(params=["ninja", "wsgi"])
def lane(request: pytest.FixtureRequest) -> Lane:
    if request.param == "wsgi":
        wsgi: WsgiLane = request.getfixturevalue("wsgi_lane")
        return wsgi
    return NinjaLane()


# --- the pass ----------------------------------------------------------------------------


def test_a_member_gets_a_pass_through_the_session(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    response = member_client(frank).post(f"/api/v1/activities/{vote.pk}/pass")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["activity_id"] == vote.pk
    granted = passes.verify(data["token"], vote.pk)
    assert granted.member_id == frank.pk
    assert datetime.fromisoformat(data["expires_at"]).timestamp() == granted.expires_at
    assert granted.expires <= vote.ends_at


def test_the_pass_endpoint_refuses_who_may_not_take_part(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    url = f"/api/v1/activities/{vote.pk}/pass"
    anonymous = Client().post(url)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "AUTH_REQUIRED"
    outsider = member_client(make_member(tree.nanshan_union, "李南山")).post(url)
    assert outsider.status_code == 403 and outsider.json()["code"] == "AUDIENCE_OUTSIDE"
    client = member_client(frank)
    # Only the lane's kinds, only published activities.
    signup = make_activity(tree.tianhe, kind="signup", publish=True, settings={"capacity": 10})
    draft = make_vote(tree.tianhe, publish=False)
    for activity_id in (signup.pk, draft.pk, 987654):
        missing = client.post(f"/api/v1/activities/{activity_id}/pass")
        assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND", activity_id


def test_a_rush_gives_its_pass_before_the_doors_open(
    lane: Lane,
    make_rush: Any,  # noqa: F811 - the fixture
    frank: Member,
) -> None:
    activity, [item] = make_rush((5,), opens_in=timedelta(minutes=10))
    token = get_pass(frank, activity)
    early = lane.post(grab_path(activity), {"item_id": item.pk}, auth=bearer(token))
    assert early.status == 403 and early.code == "ACTIVITY_NOT_STARTED"
    assert not Grant.objects.exists()


# --- voting on the lane ----------------------------------------------------------------------


def test_the_lane_votes_like_the_session_path(lane: Lane, tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe, daily_allowance=2)
    ids = candidate_ids(vote)
    token = get_pass(frank, vote)
    # A second member on the session path, for the answers to compare with.
    other = member_client(make_member(tree.tianhe_union, "王天河"))
    session_url = f"/api/v1/activities/{vote.pk}/vote"

    def session(choices: list[int]) -> Reply:
        response = other.post(session_url, {"choices": choices}, content_type=JSON)
        return Reply(response.status_code, response.json())

    first = lane.post(vote_path(vote), {"choices": [ids[0]]}, auth=bearer(token))
    assert first.status == 201, first
    assert set(first.body) == VOTE_BODY_KEYS
    ballot = Ballot.objects.get(pk=first.body["ballot_id"])
    assert ballot.member_id == frank.pk and ballot.seq == 1
    assert list(BallotChoice.objects.filter(ballot=ballot).values_list("candidate_id", flat=True)) == [ids[0]]
    expected = session([ids[0]])
    assert expected.status == 201
    assert {**first.body, "ballot_id": 0} == {**expected.body, "ballot_id": 0}
    assert first.body == {
        "candidate_ids": [ids[0]],
        "receipt": "",
        "ballot_id": ballot.pk,
        "day": timezone.localdate().isoformat(),
        "seq": 1,
        "remaining_today": 1,
        "replayed": False,
    }
    # The same candidate twice a day, on either path.
    again = lane.post(vote_path(vote), {"choices": [ids[0]]}, auth=bearer(token))
    assert again.status == 409 and again.code == "VOTE_CANDIDATE_TODAY"
    assert again == session([ids[0]])
    # The day's allowance (VOTE_DAILY_LIMIT once it is used), on either path.
    second = lane.post(vote_path(vote), {"choices": [ids[1]]}, auth=bearer(token))
    assert second.status == 201 and second.body["seq"] == 2 and second.body["remaining_today"] == 0
    assert session([ids[1]]).status == 201
    over = lane.post(vote_path(vote), {"choices": [ids[2]]}, auth=bearer(token))
    assert over.status == 403 and over.code == "VOTE_DAILY_LIMIT"
    assert over == session([ids[2]])
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 2


def test_the_lane_replays_an_idempotent_retry(lane: Lane, tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe, daily_allowance=3)
    ids = candidate_ids(vote)
    token = get_pass(frank, vote)
    first = lane.post(vote_path(vote), {"choices": [ids[0]]}, auth=bearer(token), key="retry-1")
    assert first.status == 201 and first.body["replayed"] is False
    again = lane.post(vote_path(vote), {"choices": [ids[0]]}, auth=bearer(token), key="retry-1")
    assert again.status == 200 and again.body == {**first.body, "replayed": True}
    too_long = lane.post(vote_path(vote), {"choices": [ids[1]]}, auth=bearer(token), key="k" * 65)
    assert too_long.status == 400 and too_long.code == "IDEMPOTENCY_KEY_TOO_LONG"
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 1


def test_the_lane_refuses_a_missing_or_bad_pass(lane: Lane, tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    other = make_vote(tree.tianhe, title="另一场评选")
    ids = candidate_ids(vote)
    token = get_pass(frank, vote)
    body = {"choices": [ids[0]]}
    value, signature = token.rsplit(":", 1)
    forged = f"{vote.pk}.{frank.pk + 1}.{value.split('.', 3)[2]}.{frank.org_path}:{signature}"
    for auth in (None, "", "Bearer", "Bearer ", "Basic abc", token, bearer("garbage"), bearer(forged)):
        refused = lane.post(vote_path(vote), body, auth=auth)
        assert (refused.status, refused.code) == (401, "PASS_INVALID"), (auth, refused)
    # A genuine pass of activity A on activity B.
    foreign = lane.post(vote_path(other), {"choices": candidate_ids(other)[:1]}, auth=bearer(token))
    assert (foreign.status, foreign.code) == (401, "PASS_INVALID")
    assert "不属于本活动" in foreign.body["message"]
    # An expired pass.
    with patch("gonghui.activities.passes.time.time", return_value=passes.verify(token, vote.pk).expires_at):
        expired = lane.post(vote_path(vote), body, auth=bearer(token))
    assert (expired.status, expired.code) == (401, "PASS_INVALID") and "已过期" in expired.body["message"]
    assert not Ballot.objects.exists()
    # The genuine one still works.
    assert lane.post(vote_path(vote), body, auth=bearer(token)).status == 201


# --- grabbing on the lane ---------------------------------------------------------------------


def test_the_lane_grabs_like_the_session_path(
    lane: Lane,
    make_rush: Any,  # noqa: F811 - the fixture
    tree: Tree,
    frank: Member,
) -> None:
    activity, [item] = make_rush((1,))
    late, later = make_member(tree.tianhe_union, "晚到"), make_member(tree.tianhe_union, "更晚")
    tokens = {m.pk: get_pass(m, activity) for m in (frank, late, later)}
    won = lane.post(grab_path(activity), {"item_id": item.pk}, auth=bearer(tokens[frank.pk]))
    assert won.status == 200, won
    grant = Grant.objects.get(activity=activity)
    assert grant.member_id == frank.pk
    assert won.body["result"] == "granted" and won.body["grant"]["code"] == grant.code
    assert won.body["grant"]["item_name"] == item.name and won.body["grant"]["qr"]
    # Same shape as the session path's grant (compared on the member's own status).
    mine = member_client(frank).get(f"/api/v1/activities/{activity.pk}/rush").json()["mine"]
    assert set(won.body["grant"]) == set(mine) and won.body["grant"]["code"] == mine["code"]
    twice = lane.post(grab_path(activity), {"item_id": item.pk}, auth=bearer(tokens[frank.pk]))
    assert twice.status == 403 and twice.code == "RUSH_ALREADY"
    # Sold out: the first to find it out learns it from the stock, and flags it …
    sold = lane.post(grab_path(activity), {"item_id": item.pk}, auth=bearer(tokens[late.pk]))
    assert sold.status == 409 and sold.code == "RUSH_SOLD_OUT"
    # … the next is answered from the flag, without loading the member.
    with patch("gonghui.activities.kinds.rush.actions.member_selectors.by_id") as by_id:
        flagged = lane.post(grab_path(activity), {"item_id": item.pk}, auth=bearer(tokens[later.pk]))
    by_id.assert_not_called()
    assert flagged == sold
    # The session path answers a sold-out rush alike.
    session = member_client(make_member(tree.tianhe_union, "会话")).post(
        f"/api/v1/activities/{activity.pk}/rush/grab", {"item_id": item.pk}, content_type=JSON
    )
    assert Reply(session.status_code, session.json()) == sold
    assert Grant.objects.filter(activity=activity).count() == 1


def test_a_vote_pass_opens_no_rush(
    lane: Lane,
    make_rush: Any,  # noqa: F811 - the fixture
    tree: Tree,
    frank: Member,
) -> None:
    activity, [item] = make_rush((3,))
    vote = make_vote(tree.tianhe)
    refused = lane.post(grab_path(activity), {"item_id": item.pk}, auth=bearer(get_pass(frank, vote)))
    assert (refused.status, refused.code) == (401, "PASS_INVALID")
    # A rush's own pass on the vote lane of a rush: not a vote.
    rush_token = get_pass(frank, activity)
    not_a_vote = lane.post(f"/api/v1/activities/{activity.pk}/lane/vote", {"choices": [1]}, auth=bearer(rush_token))
    assert not_a_vote.status in (403, 404) and not_a_vote.code in ("ACTIVITY_NOT_PUBLISHED", "NOT_FOUND")
    assert not Grant.objects.exists()


# --- the same answers from Ninja and from HotLane ---------------------------------------------


@pytest.fixture
def vote_and_pass(tree: Tree, frank: Member) -> tuple[Activity, str]:
    vote = make_vote(tree.tianhe, daily_allowance=3)
    return vote, get_pass(frank, vote)


ERROR_CASES: dict[str, dict[str, Any]] = {
    "no pass": {"auth": None},
    "not a bearer": {"auth": "Basic dXNlcjpwYXNz"},
    "empty bearer": {"auth": "Bearer "},
    "forged pass": {"auth": "Bearer 1.2.3.00010001:forged"},
    "wrong type": {"body": {"choices": "1,2"}},
    "wrong item type": {"body": {"choices": ["a", 1]}},
    "empty list": {"body": {"choices": []}},
    "missing field": {"body": {}},
    "extra field": {"body": {"choices": [1], "member_id": 1}},
    "not an object": {"raw": b"[1, 2]"},
    "a number": {"raw": b"7"},
    "null": {"raw": b"null"},
    "no body": {"raw": b""},
    "invalid JSON": {"raw": b'{"choices": [1,'},
    "not UTF-8": {"raw": b'{"choices": "\xff"}'},
    "text/plain": {"content_type": "text/plain"},
    "a form": {"content_type": "application/x-www-form-urlencoded", "raw": b"choices=1"},
    "JSON with a charset": {"content_type": "application/json; charset=utf-8", "body": {"choices": [999999]}},
    "unknown candidate": {"body": {"choices": [999999]}},
    "long idempotency key": {"key": "k" * 65},
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_ninja_and_hotlane_refuse_alike(case: str, vote_and_pass: tuple[Activity, str], wsgi_lane: WsgiLane) -> None:
    vote, token = vote_and_pass
    request: dict[str, Any] = {"body": {"choices": candidate_ids(vote)[:1]}, "auth": bearer(token)} | ERROR_CASES[case]
    by_ninja = NinjaLane().post(vote_path(vote), **request)
    by_wsgi = wsgi_lane.post(vote_path(vote), **request)
    assert by_wsgi == by_ninja
    assert 400 <= by_ninja.status < 500 and by_ninja.code, by_ninja
    assert not Ballot.objects.exists()


def test_the_expected_error_answers(vote_and_pass: tuple[Activity, str], wsgi_lane: WsgiLane) -> None:
    """What the comparison above compares: the codes a client sees."""
    vote, token = vote_and_pass
    auth = bearer(token)
    path = vote_path(vote)
    for lane in (NinjaLane(), wsgi_lane):
        wrong = lane.post(path, {"choices": "x"}, auth=auth)
        assert (wrong.status, wrong.code) == (422, "VALIDATION_ERROR"), lane.name
        assert wrong.body["details"] == [
            {"loc": ["body", "body", "choices"], "msg": "Input should be a valid list", "type": "list_type"}
        ]
        assert lane.post(path, raw=b"{nope", auth=auth).code == "MALFORMED_BODY"
        unsupported = lane.post(path, {"choices": [1]}, auth=auth, content_type="text/plain")
        assert (unsupported.status, unsupported.code) == (415, "UNSUPPORTED_MEDIA_TYPE")
        missing = lane.post(path, raw=b"", auth=auth)
        assert missing.status == 422 and missing.body["details"][0]["loc"] == ["body", "body"]


def test_a_host_outside_allowed_hosts_is_refused(vote_and_pass: tuple[Activity, str], wsgi_lane: WsgiLane) -> None:
    vote, token = vote_and_pass
    request = {"body": {"choices": candidate_ids(vote)[:1]}, "auth": bearer(token), "host": "evil.example"}
    by_wsgi = wsgi_lane.post(vote_path(vote), **request)
    assert (by_wsgi.status, by_wsgi.code) == (400, "BAD_HOST")
    # Django refuses it in CommonMiddleware, before Ninja: the same status, but its own
    # (HTML) "Bad Request" page rather than the API's JSON error.
    by_ninja = NinjaLane().post(vote_path(vote), **request)
    assert by_ninja.status == by_wsgi.status == 400
    assert by_ninja.code is None and "Bad Request" in by_ninja.body
    # Allowed hosts, with or without a port (one candidate each: one vote each a day).
    for host, candidate in zip(("testserver:8000", "localhost", "127.0.0.1:80"), candidate_ids(vote), strict=True):
        allowed = wsgi_lane.post(vote_path(vote), {"choices": [candidate]}, auth=bearer(token), host=host)
        assert allowed.status == 201, host
    assert Ballot.objects.count() == 3


def test_an_unexpected_error_is_a_json_500_on_both(
    vote_and_pass: tuple[Activity, str], wsgi_lane: WsgiLane, caplog: pytest.LogCaptureFixture
) -> None:
    vote, token = vote_and_pass
    request = {"body": {"choices": candidate_ids(vote)[:1]}, "auth": bearer(token)}
    with patch("gonghui.api.lane.vote_actions.cast_with_pass", side_effect=RuntimeError("boom")):
        by_ninja = NinjaLane().post(vote_path(vote), **request)
        by_wsgi = wsgi_lane.post(vote_path(vote), **request)
    assert by_wsgi == by_ninja
    assert (by_wsgi.status, by_wsgi.code) == (500, "INTERNAL_ERROR") and "boom" not in json.dumps(by_wsgi.body)
    assert "unhandled error in the hot lane" in caplog.text


def test_hotlane_refuses_a_large_body_unread(vote_and_pass: tuple[Activity, str], wsgi_lane: WsgiLane) -> None:
    vote, token = vote_and_pass
    big = json.dumps({"choices": list(range(1, 5000))}).encode()
    assert len(big) > lane_module.MAX_BODY
    environ = wsgi_lane.environ("POST", vote_path(vote), big, HTTP_AUTHORIZATION=bearer(token))
    status, _, content = wsgi_lane.call(environ)
    assert status.startswith("413 ") and json.loads(content)["code"] == "PAYLOAD_TOO_LARGE"
    assert environ["wsgi.input"].tell() == 0
    # Ninja has no such limit below Django's DATA_UPLOAD_MAX_MEMORY_SIZE: it validates the body.
    assert NinjaLane().post(vote_path(vote), raw=big, auth=bearer(token)).status == 422


# --- HotLane in front of Django ---------------------------------------------------------------


def test_hotlane_hands_everything_else_to_django(vote_and_pass: tuple[Activity, str], wsgi_lane: WsgiLane) -> None:
    vote, token = vote_and_pass
    auth = {"HTTP_AUTHORIZATION": bearer(token)}
    raw = json.dumps({"choices": candidate_ids(vote)[:1]}).encode()
    others = [
        ("POST", f"/api/v1/activities/{vote.pk}/vote"),  # the session path
        ("POST", f"/api/v1/activities/{vote.pk}/pass"),
        ("GET", vote_path(vote)),
        ("PUT", vote_path(vote)),
        ("POST", vote_path(vote) + "/"),
        ("POST", f"/api/v1/activities/{vote.pk}/lane/survey"),
        ("POST", f"/api/v1/activities/0{vote.pk}/lane/vote"),
        ("POST", "/api/v1/activities/x/lane/vote"),
        ("POST", f"/prefix/api/v1/activities/{vote.pk}/lane/vote"),
        ("GET", "/healthz"),
    ]
    for method, path in others:
        status, _, content = wsgi_lane.call(wsgi_lane.environ(method, path, raw, **auth))
        assert status.startswith("418 ") and content == b"django", (method, path)
        assert wsgi_lane.passed[-1] == (method, path)
    assert not Ballot.objects.exists()
    status, _, _ = wsgi_lane.call(wsgi_lane.environ("POST", vote_path(vote), raw, **auth))
    assert status.startswith("201 ") and len(wsgi_lane.passed) == len(others)
    assert Ballot.objects.count() == 1


def test_the_wsgi_application_is_the_lane_in_front_of_django() -> None:
    from django.core.handlers.wsgi import WSGIHandler

    from gonghui import wsgi

    assert isinstance(wsgi.application, HotLane)
    assert isinstance(wsgi.application.app, WSGIHandler)


@pytest.mark.django_db(transaction=True)
def test_hotlane_and_django_serve_one_process(tree: Tree, frank: Member) -> None:
    """The real thing, database connections opened and closed as HotLane does: a pass from
    Django behind HotLane, then a ballot on the lane."""
    from gonghui.wsgi import application

    vote = make_vote(tree.tianhe, daily_allowance=2)
    ids = candidate_ids(vote)
    client = member_client(frank)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    csrf = "c" * 32  # the session path's CSRF check: a cookie and the same value in the header

    def call(path: str, raw: bytes = b"", **headers: str) -> tuple[str, Any]:
        started: list[str] = []
        environ = WsgiLane.environ("POST", path, raw, **headers)
        content = b"".join(application(environ, lambda status, headers, exc_info=None: started.append(status)))
        return started[0], json.loads(content)

    status, data = call(
        f"/api/v1/activities/{vote.pk}/pass",
        HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
        HTTP_X_CSRFTOKEN=csrf,
    )
    assert status.startswith("200 "), data
    auth = bearer(data["token"])
    status, first = call(vote_path(vote), json.dumps({"choices": [ids[0]]}).encode(), HTTP_AUTHORIZATION=auth)
    assert status == "201 Created" and first["seq"] == 1
    status, again = call(vote_path(vote), json.dumps({"choices": [ids[0]]}).encode(), HTTP_AUTHORIZATION=auth)
    assert status == "409 Conflict" and again["code"] == "VOTE_CANDIDATE_TODAY"
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 1


# --- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_documents_the_lane() -> None:
    doc = Client().get("/api/openapi.json").json()
    found = {(method, path): op for path, ops in doc["paths"].items() for method, op in ops.items()}
    expected = {
        ("post", "/api/v1/activities/{activity_id}/pass"): "get_activity_pass",
        ("post", "/api/v1/activities/{activity_id}/lane/vote"): "cast_vote_lane",
        ("post", "/api/v1/activities/{activity_id}/lane/rush/grab"): "grab_rush_ticket_lane",
    }
    for key, operation_id in expected.items():
        assert key in found and found[key]["operationId"] == operation_id, key
    schemes = doc["components"]["securitySchemes"]
    for key in list(expected)[1:]:
        [requirement] = found[key]["security"]
        [scheme] = requirement
        assert (schemes[scheme]["type"], schemes[scheme]["scheme"]) == ("http", "bearer")
        assert "requestBody" in found[key] and "401" in found[key]["responses"]
    [requirement] = found[("post", "/api/v1/activities/{activity_id}/pass")]["security"]
    assert schemes[next(iter(requirement))]["type"] == "apiKey"
