"""实名核验: provider contract, state transitions and history, retries, batches that resume."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.http import Http404
from django.utils import timezone

from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, User
from gonghui.members import verification
from gonghui.members.models import (
    JobStatus,
    Member,
    MemberStatus,
    Verification,
    VerificationBatch,
    VerificationStatus,
)
from gonghui.members.verification import (
    ProviderResult,
    ProviderUnavailable,
    RateLimited,
    RealNameProvider,
    SandboxRealNameProvider,
)


class ScriptedProvider(RealNameProvider):
    """A provider double whose outcomes the test chooses (and that counts its calls)."""

    name = "scripted"

    def __init__(self, outcome: str = "match", failures: list[type[Exception]] | None = None) -> None:
        self.outcome = outcome
        self.failures = list(failures or [])
        self.calls: list[str] = []
        self.completed: list[str] = []

    def check(self, name: str, id_number: str, mobile: str | None = None) -> ProviderResult:
        self.calls.append(id_number)
        if self.failures:
            exc = self.failures.pop(0)
            raise exc() if exc is not RateLimited else RateLimited(0.2)
        self.completed.append(id_number)
        if self.outcome == "error":
            return ProviderResult("error", error_code="SOURCE_ERROR")
        return ProviderResult(self.outcome, ref=f"ref-{id_number[-4:]}")


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(verification, "sleep", waits.append)
    return waits


def use(monkeypatch: pytest.MonkeyPatch, prov: RealNameProvider) -> None:
    monkeypatch.setattr(verification, "provider", lambda: prov)


# --- the contract every provider passes --------------------------------------------

PROVIDERS = [SandboxRealNameProvider, ScriptedProvider]
INPUTS = [
    ("张三", "440106199001010011", "13800138000"),
    ("李四", "44010619850505002X", None),
    ("王五测试不符", "440106197001010033", None),
    ("赵六测试查无", "440106196001010044", "13900139000"),
]


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_contract_outcomes_are_valid_and_stable(provider_class: type[RealNameProvider], settings: Any) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 1000
    prov = provider_class()
    assert prov.name and prov.name != "abstract"
    for name, id_number, mobile in INPUTS:
        first = prov.check(name, id_number, mobile)
        again = prov.check(name, id_number, mobile)
        assert first.outcome in verification.OUTCOMES
        assert first == again, "the same input gives the same answer"
        if first.outcome == "error":
            assert first.error_code
        else:
            assert first.ref and not first.error_code


@pytest.mark.parametrize("provider_class", PROVIDERS)
def test_contract_only_transient_exceptions_escape(provider_class: type[RealNameProvider], settings: Any) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 1000
    settings.REALNAME_SANDBOX_TRANSIENT_PER_MILLE = 500
    prov = provider_class()
    for i in range(30):
        try:
            result = prov.check(f"测试{i}", f"4401061990010100{i:02d}", None)
        except ProviderUnavailable:
            continue
        assert result.outcome in verification.OUTCOMES


def test_sandbox_outcomes_follow_the_markers_and_mostly_match(settings: Any) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 10_000
    prov = SandboxRealNameProvider()
    assert prov.check("王测试错", "440106199001010011").outcome == "error"
    assert prov.check("王测试不符", "440106199001010011").outcome == "mismatch"
    assert prov.check("王测试查无", "440106199001010011").outcome == "not_found"
    outcomes = Counter(prov.check(f"会员{i}", f"44010619900101{i:04d}").outcome for i in range(400))
    assert outcomes["match"] > 300 and outcomes["mismatch"] > 10 and outcomes["not_found"] > 3


def test_sandbox_rate_limit_is_shared_through_the_cache(settings: Any) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 3
    first, second = SandboxRealNameProvider(), SandboxRealNameProvider()  # two "processes"
    calls = 0
    with pytest.raises(RateLimited) as exc:
        for i in range(10):
            (first if i % 2 else second).check("张三", "440106199001010011")
            calls += 1
    assert 3 <= calls < 10  # a second boundary may let one window's worth more through
    assert 0 < exc.value.retry_after <= 1


def test_sandbox_transient_failures_are_deterministic(settings: Any) -> None:
    settings.REALNAME_SANDBOX_RATE_PER_SECOND = 10_000
    settings.REALNAME_SANDBOX_TRANSIENT_PER_MILLE = 1000
    with pytest.raises(ProviderUnavailable):
        SandboxRealNameProvider().check("张三", "440106199001010011")
    settings.REALNAME_SANDBOX_TRANSIENT_PER_MILLE = 0
    assert SandboxRealNameProvider().check("张三", "440106199001010011").outcome in verification.OUTCOMES


# --- verify_member -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "status"),
    [("match", "verified"), ("mismatch", "failed"), ("not_found", "failed"), ("error", "unverified")],
)
def test_verify_member_moves_the_status(
    tree: Tree, frank: Member, dave: User, monkeypatch: pytest.MonkeyPatch, outcome: str, status: str
) -> None:
    prov = ScriptedProvider(outcome)
    use(monkeypatch, prov)
    attempt = verification.verify_member(dave, frank)
    frank.refresh_from_db()
    assert frank.verification_status == status
    assert (frank.verified_at is not None) == (status == "verified")
    assert verification.is_verified(frank) == (status == "verified")
    assert attempt.outcome == outcome and attempt.completed_at is not None and attempt.requested_by == dave
    assert len(prov.calls) == 1 and prov.calls[0] == frank.reveal_id_number()
    event = AuditEvent.objects.get(action="member.verify", object_id=str(frank.pk))
    assert event.details["outcome"] == outcome and event.actor == dave
    if outcome == "error":
        assert attempt.error_code == "SOURCE_ERROR"


def test_history_keeps_every_attempt(tree: Tree, frank: Member, dave: User, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, ScriptedProvider("mismatch"))
    verification.verify_member(dave, frank)
    use(monkeypatch, ScriptedProvider("match"))
    verification.verify_member(dave, frank)
    assert [v.outcome for v in verification.history(frank)] == ["match", "mismatch"]
    with pytest.raises(DomainError) as exc:
        verification.verify_member(dave, frank)
    assert exc.value.code == "MEMBER_ALREADY_VERIFIED"


def test_transient_failures_are_retried_with_backoff(
    tree: Tree, frank: Member, dave: User, monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    prov = ScriptedProvider("match", failures=[ProviderUnavailable, ProviderUnavailable, RateLimited])
    use(monkeypatch, prov)
    verification.verify_member(dave, frank)
    frank.refresh_from_db()
    assert frank.verification_status == "verified"
    assert len(prov.calls) == 4 and len(prov.completed) == 1
    assert slept == [0.5, 1.0, 0.2]


def test_persistent_failure_ends_as_error(
    tree: Tree, frank: Member, dave: User, monkeypatch: pytest.MonkeyPatch, slept: list[float]
) -> None:
    use(monkeypatch, ScriptedProvider("match", failures=[ProviderUnavailable] * 10))
    attempt = verification.verify_member(dave, frank)
    frank.refresh_from_db()
    assert attempt.outcome == "error" and attempt.error_code == "PROVIDER_UNAVAILABLE"
    assert frank.verification_status == "unverified"
    assert len(slept) == verification.MAX_TRANSIENT_RETRIES


def test_error_after_a_failure_keeps_failed(
    tree: Tree, frank: Member, dave: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, ScriptedProvider("not_found"))
    verification.verify_member(dave, frank)
    use(monkeypatch, ScriptedProvider("error"))
    verification.verify_member(dave, frank)
    frank.refresh_from_db()
    assert frank.verification_status == "failed"


def test_verify_is_scoped_and_refuses_left_members(
    tree: Tree, frank: Member, charlie: User, dave: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    prov = ScriptedProvider()
    use(monkeypatch, prov)
    with pytest.raises(Http404):
        verification.verify_member(charlie, frank)
    Member.objects.filter(pk=frank.pk).update(status=MemberStatus.LEFT)
    frank.refresh_from_db()
    with pytest.raises(DomainError) as exc:
        verification.verify_member(dave, frank)
    assert exc.value.code == "MEMBER_LEFT" and not prov.calls


def test_manual_review_is_the_fallback(tree: Tree, frank: Member, dave: User, charlie: User) -> None:
    with pytest.raises(DomainError):
        verification.manual_review(dave, frank, True, "")
    with pytest.raises(Http404):
        verification.manual_review(charlie, frank, True, "核对身份证原件")
    attempt = verification.manual_review(dave, frank, True, "核对身份证原件")
    frank.refresh_from_db()
    assert frank.verification_status == "verified" and attempt.method == "manual" and attempt.outcome == "match"
    assert AuditEvent.objects.get(action="member.verify_manual").details["note"] == "核对身份证原件"
    verification.manual_review(dave, frank, False, "证件与本人不符")
    frank.refresh_from_db()
    assert frank.verification_status == "failed"


# --- batches -------------------------------------------------------------------------


class Killed(BaseException):
    """A worker killed mid-way (not an Exception: nothing catches it)."""


class KillingProvider(ScriptedProvider):
    def __init__(self, kill_at: int) -> None:
        super().__init__("match")
        self.kill_at = kill_at

    def check(self, name: str, id_number: str, mobile: str | None = None) -> ProviderResult:
        if len(self.completed) == self.kill_at:
            self.kill_at = -1
            raise Killed
        return super().check(name, id_number, mobile)


def start(actor: User, org: Any, capture: Any, members: list[Member] | None = None) -> VerificationBatch:
    with capture(execute=False):
        return verification.start_batch(actor, org, members)


def test_batch_resumes_without_checking_anyone_twice(
    tree: Tree, bob: User, monkeypatch: pytest.MonkeyPatch, slept: list[float], django_capture_on_commit_callbacks: Any
) -> None:
    members = [make_member(tree.tianhe_union, f"员工{i}") for i in range(6)]
    make_member(tree.nanshan_union, "外区")  # not in the batch's subtree
    already = members[0]
    Member.objects.filter(pk=already.pk).update(verification_status=VerificationStatus.VERIFIED)
    batch = start(bob, tree.tianhe, django_capture_on_commit_callbacks)
    assert batch.total == 5
    prov = KillingProvider(kill_at=2)
    use(monkeypatch, prov)
    with pytest.raises(Killed):
        verification.run_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.done == 2 and batch.status == JobStatus.RUNNING
    # A second worker while the first one's heartbeat is fresh does nothing.
    verification.run_batch(batch.pk)
    assert len(prov.completed) == 2
    # The heartbeat goes stale; the housekeeping re-enqueues; the batch finishes.
    VerificationBatch.objects.filter(pk=batch.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    with django_capture_on_commit_callbacks(execute=True):
        assert verification.resume_stale_batches() == [batch.pk]
    batch.refresh_from_db()
    assert batch.status == JobStatus.DONE and batch.done == 5 and batch.counts["match"] == 5
    assert len(prov.completed) == 5 and len(set(prov.completed)) == 5
    assert Member.objects.filter(verification_status="verified").count() == 6
    interrupted = Verification.objects.get(error_code="INTERRUPTED")
    assert interrupted.outcome == "error" and interrupted.batch_id == batch.pk
    assert Verification.objects.filter(outcome="match").count() == 5


def test_batch_is_throttled_and_rides_out_rate_limits(
    tree: Tree,
    bob: User,
    monkeypatch: pytest.MonkeyPatch,
    slept: list[float],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.REALNAME_BATCH_RATE_PER_SECOND = 1
    for i in range(3):
        make_member(tree.tianhe_union, f"员工{i}")
    prov = ScriptedProvider("match", failures=[RateLimited, RateLimited])
    use(monkeypatch, prov)
    batch = start(bob, tree.tianhe, django_capture_on_commit_callbacks)
    verification.run_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.status == JobStatus.DONE and batch.counts["match"] == 3
    assert slept.count(0.2) == 2  # the provider's retry-after was honoured
    assert any(0.5 < s <= 1.0 for s in slept)  # the batch paced itself to one call a second


def test_batch_over_given_members_and_scoping(
    tree: Tree,
    bob: User,
    charlie: User,
    monkeypatch: pytest.MonkeyPatch,
    slept: list[float],
    django_capture_on_commit_callbacks: Any,
) -> None:
    members = [make_member(tree.tianhe_union, f"员工{i}") for i in range(3)]
    prov = ScriptedProvider("match")
    use(monkeypatch, prov)
    with pytest.raises(Http404):
        start(charlie, tree.tianhe, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        batch = verification.start_batch(bob, tree.tianhe, members[:2])
    batch.refresh_from_db()
    assert batch.total == 2 and batch.done == 2 and batch.status == JobStatus.DONE
    assert Member.objects.filter(verification_status="unverified").get() == members[2]
    assert AuditEvent.objects.filter(action="verification_batch.start", actor=bob).exists()


def test_one_open_batch_per_union(tree: Tree, bob: User, django_capture_on_commit_callbacks: Any) -> None:
    make_member(tree.tianhe_union, "甲")
    start(bob, tree.tianhe, django_capture_on_commit_callbacks)
    with pytest.raises(DomainError) as exc:
        start(bob, tree.tianhe, django_capture_on_commit_callbacks)
    assert exc.value.code == "VERIFY_BATCH_RUNNING"
