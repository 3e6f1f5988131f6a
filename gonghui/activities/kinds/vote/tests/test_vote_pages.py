"""The vote's portal panel and pages, console pages and API endpoints (scoping, flows)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from gonghui.activities import actions as activity_actions
from gonghui.activities.kinds.vote.models import Ballot, Candidate, SecretBallot
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.conftest import Tree, console_client
from gonghui.core.models import AuditEvent, User
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def member_client(member: Member) -> Client:
    client = Client()
    assert member.user is not None
    client.force_login(member.user)
    return client


# --- portal -------------------------------------------------------------------------------


def test_member_votes_on_the_activity_page(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob, results_visibility="live")
    ids = candidate_ids(vote)
    client = member_client(frank)
    detail = reverse("portal:activity_detail", args=[vote.pk])
    body = client.get(detail).content.decode()
    assert 'id="vote-form"' in body and 'type="radio"' in body
    response = client.post(reverse("portal:activity_vote_cast", args=[vote.pk]), {"candidate": [ids[2]]})
    assert response.status_code == 302
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 1
    body = client.get(detail).content.decode()
    assert 'id="vote-done"' in body and "已投票" in body and 'id="vote-form"' not in body
    assert 'id="vote-summary"' in body  # live ranking shown
    # A second ballot is refused with the reason.
    response = client.post(reverse("portal:activity_vote_cast", args=[vote.pk]), {"candidate": [ids[0]]}, follow=True)
    assert "您已经投过票了" in response.content.decode()
    assert Ballot.objects.filter(activity=vote, member=frank).count() == 1


def test_secret_receipt_is_shown_once_and_kept_nowhere(tree: Tree, bob: User, frank: Member, settings: Any) -> None:
    settings.SECRET_BALLOT_MIX_BATCH = 1
    vote = make_vote(tree.tianhe, actor=bob, secret=True)
    client = member_client(frank)
    response = client.post(
        reverse("portal:activity_vote_cast", args=[vote.pk]), {"candidate": [candidate_ids(vote)[0]]}
    )
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    shown = response.content.decode()
    found = re.search(r'id="vote-receipt">([A-Z2-7]{4})-([A-Z2-7]{4})-([A-Z2-7]{4})<', shown)
    assert found is not None
    receipt = "".join(found.groups())
    assert not SecretBallot.objects.filter(activity=vote).exists()  # staged, not yet mixed
    # Not in any session (sessions live in the database beside the user id).
    for session in Session.objects.all():
        assert receipt not in json.dumps(session.get_decoded(), default=str)
    body = client.get(reverse("portal:activity_detail", args=[vote.pk])).content.decode()
    assert "已投票" in body and receipt not in body
    receipts = reverse("portal:activity_vote_receipts", args=[vote.pk])
    assert receipt not in client.get(receipts).content.decode()  # not before close
    activity_actions.close_activity(actor=bob, activity=vote)
    page = Client().get(receipts + f"?r={receipt.lower()}").content.decode()
    assert 'class="receipt-found"' in page and receipt[:4] in page


# --- console ------------------------------------------------------------------------------


def test_console_candidate_page_and_scoping(tree: Tree, bob: User, charlie: User, tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    vote = make_vote(tree.tianhe, actor=bob, candidates=0, publish=False)
    url = reverse("console:activity_vote_candidates", args=[vote.pk])
    client = console_client(bob)
    assert client.get(url).status_code == 200
    from gonghui.activities.kinds.vote.tests.test_vote_casting import png

    response = client.post(url, {"name": "王红", "text": "十年如一日", "photo": png()})
    assert response.status_code == 302
    assert Candidate.objects.get(activity=vote).photo
    assert console_client(charlie).get(url).status_code == 404
    other = Candidate.objects.get(activity=vote)
    assert (
        console_client(charlie)
        .post(reverse("console:activity_vote_candidate_delete", args=[vote.pk, other.pk]))
        .status_code
        == 404
    )
    assert Candidate.objects.filter(activity=vote).exists()


def test_console_results_partial_and_totals_export(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob)
    from gonghui.activities.kinds.vote import actions

    actions.cast_ballot(activity_id=vote.pk, member=frank, candidate_ids=candidate_ids(vote)[:1])
    client = console_client(bob)
    detail = client.get(reverse("console:activity_detail", args=[vote.pk])).content.decode()
    assert 'id="vote-tally"' in detail and "候选人设置" in detail
    partial = client.get(reverse("console:activity_vote_results", args=[vote.pk]), HTTP_HX_REQUEST="true")
    assert 'id="vote-results"' in partial.content.decode()
    csv_body = client.get(reverse("console:activity_vote_totals", args=[vote.pk])).content.decode("utf-8-sig")
    assert "得票数" in csv_body and ",1," in csv_body
    assert AuditEvent.objects.filter(action="activity_vote.export").count() == 1


# --- API ----------------------------------------------------------------------------------


def test_api_cast_with_idempotency_key_and_results(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob, daily_allowance=2, results_visibility="live")
    ids = candidate_ids(vote)
    client = member_client(frank)
    url = f"/api/v1/activities/{vote.pk}/vote"
    first = client.post(url, {"choices": [ids[0]]}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201, first.content
    again = client.post(url, {"choices": [ids[0]]}, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["ballot_id"] == first.json()["ballot_id"]
    same = client.post(url, {"choices": [ids[0]]}, content_type="application/json")
    assert same.status_code == 409 and same.json()["code"] == "VOTE_CANDIDATE_TODAY"
    assert client.post(url, {"choices": [ids[1]]}, content_type="application/json").json()["remaining_today"] == 0
    limit = client.post(url, {"choices": [ids[2]]}, content_type="application/json")
    assert limit.status_code == 403 and limit.json()["code"] == "VOTE_DAILY_LIMIT"
    public = Client().get(url).json()
    assert public["rules"]["daily_allowance"] == 2 and len(public["candidates"]) == 3
    assert public["results"]["visible"] and public["results"]["ballots"] == 2
    mine = client.get(url + "/me").json()
    assert mine["eligible"] is False and mine["ballots_today"] == 2 and sorted(mine["voted_today"]) == ids[:2]
    assert Client().post(url, {"choices": [ids[0]]}, content_type="application/json").status_code == 401


def test_api_candidates_crud_is_scoped(tree: Tree, bob: User, charlie: User) -> None:
    vote = make_vote(tree.tianhe, actor=bob, candidates=2, publish=False)
    base = f"/api/v1/activities/{vote.pk}/vote/candidates"
    client = console_client(bob)
    added = client.post(base, {"name": "赵强", "text": "技术能手"}, content_type="application/json")
    assert added.status_code == 201, added.content
    cid = added.json()["id"]
    patched = client.patch(f"{base}/{cid}", {"name": "赵强（劳模）"}, content_type="application/json")
    assert patched.json()["name"] == "赵强（劳模）"
    order = [cid, *candidate_ids(vote)[:2]]
    assert [
        c["id"] for c in client.put(f"{base}/order", {"candidate_ids": order}, content_type="application/json").json()
    ] == order
    assert console_client(charlie).get(base).status_code == 404
    assert console_client(charlie).delete(f"{base}/{cid}").status_code == 404
    assert client.delete(f"{base}/{cid}").status_code == 204
    assert Candidate.objects.filter(activity=vote).count() == 2


def test_api_receipts_list_after_close(tree: Tree, bob: User, frank: Member) -> None:
    vote = make_vote(tree.tianhe, actor=bob, secret=True)
    client = member_client(frank)
    cast = client.post(
        f"/api/v1/activities/{vote.pk}/vote", {"choices": [candidate_ids(vote)[1]]}, content_type="application/json"
    )
    receipt = cast.json()["receipt"]
    assert len(receipt) == 14 and cast.json()["ballot_id"] is None
    url = f"/api/v1/activities/{vote.pk}/vote/receipts"
    assert Client().get(url).json()["published"] is False
    activity_actions.close_activity(actor=bob, activity=vote)
    listed = Client().get(url, {"receipt": receipt}).json()
    assert listed["published"] and listed["count"] == 1
    assert listed["items"][0]["receipt"] == receipt and listed["found"]["receipt"] == receipt
