"""Activity passes (``activities.passes``): issued after the eligibility check, bound to one
activity and one member, never valid past the activity's end; ``verify`` rejects the rest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.core import signing
from django.utils import timezone

from gonghui.activities import passes
from gonghui.activities.eligibility import NotEligible
from gonghui.activities.kinds.vote import actions as vote_actions
from gonghui.activities.kinds.vote.tests.conftest import candidate_ids, make_vote
from gonghui.activities.models import Activity
from gonghui.conftest import Tree, make_member
from gonghui.members.models import Member

pytestmark = pytest.mark.django_db


def refusal(activity: Activity, member: Member | None, now: datetime | None = None) -> str:
    with pytest.raises(NotEligible) as info:
        passes.issue(activity, member, now=now)
    assert info.value.status == 403
    return info.value.code


def rejected(token: str, activity_id: int, **kw: float) -> passes.PassInvalid:
    with pytest.raises(passes.PassInvalid) as info:
        passes.verify(token, activity_id, **kw)
    assert (info.value.status, info.value.code) == (401, "PASS_INVALID")
    return info.value


def test_an_eligible_member_gets_a_pass_that_verifies_for_that_activity(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    token, granted = passes.issue(vote, frank)
    assert (granted.activity_id, granted.member_id, granted.org_path) == (vote.pk, frank.pk, frank.org_path)
    assert passes.verify(token, vote.pk) == granted
    assert granted.expires == timezone.localtime(granted.expires)  # aware, in the current zone
    assert granted.expires.timestamp() == granted.expires_at


def test_a_member_outside_the_audience_gets_no_pass(tree: Tree) -> None:
    vote = make_vote(tree.tianhe)
    assert refusal(vote, make_member(tree.nanshan_union, "李南山")) == "AUDIENCE_OUTSIDE"
    assert refusal(vote, None) == "NOT_A_MEMBER"


def test_the_kinds_own_rule_is_checked_on_an_open_activity(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    vote_actions.cast_ballot(activity_id=vote.pk, member=frank, candidate_ids=candidate_ids(vote)[:1])
    assert refusal(vote, frank) == "ALREADY_VOTED"


def test_before_the_start_only_the_audience_is_checked(tree: Tree, frank: Member, settings: Any) -> None:
    now = timezone.now()
    later = make_vote(tree.tianhe, values={"starts_at": now + timedelta(hours=2), "ends_at": now + timedelta(days=1)})
    token, granted = passes.issue(later, frank, now=now)
    assert passes.verify(token, later.pk).member_id == frank.pk
    assert granted.expires_at == int(now.timestamp()) + settings.ACTIVITY_PASS_SECONDS
    assert refusal(later, make_member(tree.nanshan_union, "李南山")) == "AUDIENCE_OUTSIDE"
    assert refusal(later, None) == "NOT_A_MEMBER"
    # An unpublished activity gets none, whenever it starts.
    draft = make_vote(tree.tianhe, publish=False, values={"starts_at": now + timedelta(hours=2)})
    assert refusal(draft, frank) == "ACTIVITY_NOT_PUBLISHED"


def test_a_pass_lasts_the_configured_time_and_never_past_the_end(tree: Tree, frank: Member, settings: Any) -> None:
    settings.ACTIVITY_PASS_SECONDS = 600
    now = timezone.now().replace(microsecond=0)
    long = make_vote(tree.tianhe, values={"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(days=1)})
    _, granted = passes.issue(long, frank, now=now)
    assert granted.expires_at == int(now.timestamp()) + 600
    short = make_vote(
        tree.tianhe, values={"starts_at": now - timedelta(hours=1), "ends_at": now + timedelta(minutes=3)}
    )
    _, granted = passes.issue(short, frank, now=now)
    assert granted.expires_at == int(short.ends_at.timestamp())
    assert granted.expires <= short.ends_at
    # Asked for before a short activity opens: still bounded by its end.
    soon = make_vote(
        tree.tianhe, values={"starts_at": now + timedelta(minutes=1), "ends_at": now + timedelta(minutes=2)}
    )
    _, granted = passes.issue(soon, frank, now=now)
    assert granted.expires_at == int(soon.ends_at.timestamp())
    # After the end: no pass at all.
    assert refusal(short, frank, now=short.ends_at) == "ACTIVITY_ENDED"


def test_verify_rejects_tampered_foreign_expired_and_garbage_passes(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    other = make_vote(tree.tianhe, title="另一场评选")
    token, granted = passes.issue(vote, frank)
    value, signature = token.rsplit(":", 1)
    # Tampered: another member's id under the original signature; a changed signature.
    forged_value = f"{vote.pk}.{frank.pk + 1}.{granted.expires_at}.{granted.org_path}"
    rejected(f"{forged_value}:{signature}", vote.pk)
    rejected(f"{value}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}", vote.pk)
    # A longer life under the original signature.
    rejected(f"{vote.pk}.{frank.pk}.{granted.expires_at + 3600}.{granted.org_path}:{signature}", vote.pk)
    # Genuine, but for another activity (and another activity's genuine pass here).
    assert "不属于本活动" in rejected(token, other.pk).message
    other_token, _ = passes.issue(other, frank)
    rejected(other_token, vote.pk)
    # Expired: at and after its expiry, not a second before.
    assert passes.verify(token, vote.pk, now=granted.expires_at - 1) == granted
    assert "已过期" in rejected(token, vote.pk, now=granted.expires_at).message
    rejected(token, vote.pk, now=granted.expires_at + 86400)
    # Garbage.
    for junk in ("", "garbage", ":", "1.2.3.x", f"{value}:", token + "x", "é" * 40):
        rejected(junk, vote.pk)


def test_a_value_signed_with_another_salt_is_not_a_pass(tree: Tree, frank: Member) -> None:
    vote = make_vote(tree.tianhe)
    _, granted = passes.issue(vote, frank)
    value = f"{vote.pk}.{frank.pk}.{granted.expires_at}.{granted.org_path}"
    rejected(signing.Signer(salt="another.purpose").sign(value), vote.pk)
    rejected(signing.Signer().sign(value), vote.pk)
    # Signed with the pass salt but not in the pass format (cannot be issued; still refused).
    rejected(signing.Signer(salt=passes.SALT).sign("not-a-pass"), vote.pk)
    rejected(signing.Signer(salt=passes.SALT).sign(f"{vote.pk}.x.1.{granted.org_path}"), vote.pk)
