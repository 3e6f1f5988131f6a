"""Joining online: apply, approve (one member, one card), reject, withdraw, rejoin, claim."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.http import Http404

from gonghui.conftest import Tree, make_member, new_id_number
from gonghui.core.errors import DomainError
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.inbox.models import Message
from gonghui.members import joining
from gonghui.members.models import (
    Application,
    ApplicationStatus,
    CardSequence,
    EventKind,
    Member,
    MembershipEvent,
    MemberStatus,
)
from gonghui.testing.concurrency import hold_then_race, on_postgres_only

MOBILE = "13711112222"


@pytest.fixture
def applicant(db: Any) -> User:
    return User.objects.create_user(MOBILE, mobile=MOBILE)


def data(id_number: str, **overrides: Any) -> joining.ApplicationInput:
    values: dict[str, Any] = {
        "name": "李申请",
        "id_number": id_number,
        "mobile": MOBILE,
        "workplace": "广州天河软件园有限公司",
        "employment_status": "employed",
        "new_employment_group": "",
    }
    values.update(overrides)
    return joining.ApplicationInput(**values)


def apply(user: User, org: Any, id_number: str | None = None, **overrides: Any) -> Application:
    return joining.apply_for_membership(user, org, data(id_number or new_id_number(), **overrides), consent=True)


def test_an_application_is_stored_protected_with_consent_and_audited(tree: Tree, applicant: User) -> None:
    id_number = new_id_number("440106", date(1992, 3, 4))
    application = apply(applicant, tree.tianhe_union, id_number)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.PENDING
    assert application.org_path == tree.tianhe_union.path
    assert application.id_number_masked == id_number[:6] + "********" + id_number[-4:]
    assert id_number.encode() not in bytes(application.id_number_enc)
    assert application.birth_year == 1992
    assert application.gender == ("M" if int(id_number[16]) % 2 else "F")
    assert application.consent_version == joining.CONSENT_VERSION
    assert application.sensitive_consent_at is not None
    event = AuditEvent.objects.get(action="application.submit")
    assert event.actor == applicant and event.org_path == tree.tianhe_union.path
    assert id_number not in str(event.details)


def test_consent_is_required(tree: Tree, applicant: User) -> None:
    with pytest.raises(DomainError) as caught:
        joining.apply_for_membership(applicant, tree.tianhe_union, data(new_id_number()), consent=False)
    assert caught.value.code == "CONSENT_REQUIRED"
    assert not Application.objects.exists()


def test_the_mobile_must_be_the_accounts_verified_one(tree: Tree, applicant: User) -> None:
    with pytest.raises(DomainError) as caught:
        apply(applicant, tree.tianhe_union, mobile="13912345678")
    assert caught.value.code == "MOBILE_NOT_VERIFIED"


def test_a_bad_id_number_gets_its_specific_error(tree: Tree, applicant: User) -> None:
    good = new_id_number()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    with pytest.raises(DomainError) as caught:
        apply(applicant, tree.tianhe_union, bad)
    assert caught.value.code.startswith("ID_")


def test_a_closed_union_takes_no_applications(tree: Tree, applicant: User) -> None:
    from gonghui.orgs import actions as org_actions

    org_actions.close_org(actor=None, org=tree.nanshan_union, reason="撤销")
    tree.nanshan_union.refresh_from_db()
    with pytest.raises(DomainError) as caught:
        apply(applicant, tree.nanshan_union)
    assert caught.value.code == "ORG_CLOSED"


def test_a_member_of_another_union_is_told_which_and_offered_a_transfer(tree: Tree, applicant: User) -> None:
    id_number = new_id_number("440305")
    make_member(tree.nanshan_union, "李申请", id_number=id_number)
    with pytest.raises(DomainError) as caught:
        apply(applicant, tree.tianhe_union, id_number)
    assert caught.value.code == "MEMBER_ELSEWHERE"
    assert "深圳南山科技有限公司工会" in caught.value.message
    assert "转会" in caught.value.message
    assert caught.value.details == {"org_name": "深圳南山科技有限公司工会", "transfer": True}
    assert not Application.objects.exists()


def test_a_member_here_already_is_told_so(tree: Tree, applicant: User) -> None:
    id_number = new_id_number()
    make_member(tree.tianhe_union, "李申请", id_number=id_number)
    with pytest.raises(DomainError) as caught:
        apply(applicant, tree.tianhe_union, id_number)
    assert caught.value.code == "ALREADY_MEMBER"


def test_a_second_pending_application_is_refused(tree: Tree, applicant: User) -> None:
    id_number = new_id_number()
    apply(applicant, tree.tianhe_union, id_number)
    with pytest.raises(DomainError) as caught:
        apply(applicant, tree.nanshan_union, id_number)
    assert caught.value.code == "APPLICATION_PENDING"


def test_approval_creates_the_member_with_card_history_audit_and_notice(
    tree: Tree, applicant: User, dave: User, django_capture_on_commit_callbacks: Any
) -> None:
    id_number = new_id_number()
    application = apply(applicant, tree.tianhe_union, id_number, new_employment_group="courier")
    with django_capture_on_commit_callbacks(execute=True):
        member = joining.approve(dave, application)
    member.refresh_from_db()
    assert member.user == applicant
    assert member.org == tree.tianhe_union and member.status == MemberStatus.ACTIVE
    assert member.reveal_id_number() == id_number
    assert member.card_number and member.card_number.startswith("GH44440106")
    assert member.sensitive_consent_at == application.sensitive_consent_at
    assert member.new_employment_group == "courier"
    assert list(member.events.values_list("kind", flat=True)) == [EventKind.JOINED]
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED
    assert application.member == member and application.decided_by == dave
    assert AuditEvent.objects.filter(action="application.approve", actor=dave, object_id=str(application.pk)).exists()
    message = Message.objects.get(member=member)
    assert member.card_number in message.body
    assert SmsMessage.objects.filter(mobile=MOBILE, purpose="notify.application").exists()
    applicant.refresh_from_db()
    assert applicant.name == "李申请"


def test_approving_twice_issues_one_member_and_one_card(tree: Tree, applicant: User, dave: User, bob: User) -> None:
    application = apply(applicant, tree.tianhe_union)
    stale = Application.objects.get(pk=application.pk)
    joining.approve(dave, application)
    with pytest.raises(DomainError) as caught:
        joining.approve(bob, stale)  # a second cadre's page, loaded before the first decision
    assert caught.value.code == "APPLICATION_DECIDED"
    assert Member.objects.count() == 1
    assert CardSequence.objects.get().last == 1


def test_a_cadre_of_another_district_cannot_decide(tree: Tree, applicant: User, charlie: User) -> None:
    application = apply(applicant, tree.tianhe_union)
    with pytest.raises(Http404):
        joining.approve(charlie, application)
    with pytest.raises(Http404):
        joining.reject(charlie, application, "不在本区")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.PENDING


def test_rejection_needs_a_reason_that_the_applicant_sees(tree: Tree, applicant: User, dave: User) -> None:
    application = apply(applicant, tree.tianhe_union)
    with pytest.raises(DomainError) as caught:
        joining.reject(dave, application, "   ")
    assert caught.value.code == "REJECT_REASON_REQUIRED"
    joining.reject(dave, application, "经核实您不是本单位职工")
    application.refresh_from_db()
    assert application.status == ApplicationStatus.REJECTED
    assert application.reject_reason == "经核实您不是本单位职工"
    message = Message.objects.get(user=applicant, title__contains="未通过")
    assert "经核实您不是本单位职工" in message.body
    assert AuditEvent.objects.filter(action="application.reject", actor=dave).exists()
    assert not Member.objects.exists()
    # A rejected applicant may apply again.
    apply(applicant, tree.tianhe_street, joining.pii.decrypt(application.id_number_enc))


def test_withdraw_is_the_applicants_own(tree: Tree, applicant: User) -> None:
    application = apply(applicant, tree.tianhe_union)
    other = User.objects.create_user("13711113333", mobile="13711113333")
    with pytest.raises(Http404):
        joining.withdraw(other, application)
    joining.withdraw(applicant, application)
    application.refresh_from_db()
    assert application.status == ApplicationStatus.WITHDRAWN
    assert AuditEvent.objects.filter(action="application.withdraw", actor=applicant).exists()
    with pytest.raises(DomainError) as caught:
        joining.withdraw(applicant, application)
    assert caught.value.code == "APPLICATION_DECIDED"


def test_approval_refuses_someone_entered_by_a_cadre_meanwhile(tree: Tree, applicant: User, dave: User) -> None:
    id_number = new_id_number()
    application = apply(applicant, tree.tianhe_union, id_number)
    make_member(tree.nanshan_union, "李申请", id_number=id_number)
    with pytest.raises(DomainError) as caught:
        joining.approve(dave, application)
    assert caught.value.code == "MEMBER_EXISTS"
    assert Member.objects.count() == 1
    application.refresh_from_db()
    assert application.status == ApplicationStatus.PENDING


def test_someone_who_left_rejoins_on_the_same_record(tree: Tree, applicant: User, charlie: User) -> None:
    id_number = new_id_number()
    old = make_member(tree.tianhe_union, "李申请", id_number=id_number, mobile=MOBILE)
    Member.objects.filter(pk=old.pk).update(status=MemberStatus.LEFT, card_number="GH4444010600000042")
    application = apply(applicant, tree.nanshan_union, id_number)
    member = joining.approve(charlie, application)
    assert member.pk == old.pk
    assert Member.objects.count() == 1
    member.refresh_from_db()
    assert member.status == MemberStatus.ACTIVE and member.org == tree.nanshan_union
    assert member.org_path == tree.nanshan_union.path
    assert member.card_number == "GH4444010600000042"
    assert member.user == applicant
    rejoined = MembershipEvent.objects.get(member=member, kind=EventKind.REJOINED)
    assert rejoined.org == tree.nanshan_union and rejoined.from_org == tree.tianhe_union


def test_bulk_approve_reports_failures_and_approves_the_rest(tree: Tree, dave: User) -> None:
    users = [User.objects.create_user(f"1371111000{i}", mobile=f"1371111000{i}") for i in range(3)]
    apps = [apply(u, tree.tianhe_union, mobile=u.mobile, name=f"申请{i}") for i, u in enumerate(users)]
    joining.reject(dave, apps[1], "资料不全")
    result = joining.bulk_approve(dave, apps)
    assert len(result.approved) == 2
    assert [(a.pk, e.code) for a, e in result.failed] == [(apps[1].pk, "APPLICATION_DECIDED")]
    assert len(set(Member.objects.values_list("card_number", flat=True))) == 2


# --- accounts ---------------------------------------------------------------------------


def test_register_creates_a_password_less_account_once(db: Any) -> None:
    user = joining.register_account("137 1111 4444")
    assert user.mobile == "13711114444" and not user.has_usable_password()
    assert AuditEvent.objects.filter(action="account.register", actor=user).exists()
    with pytest.raises(DomainError) as caught:
        joining.register_account("13711114444")
    assert caught.value.code == "ACCOUNT_EXISTS"


def test_claim_links_the_matching_record(tree: Tree, applicant: User) -> None:
    id_number = new_id_number()
    member = make_member(tree.tianhe_union, "李申请", id_number=id_number, mobile=MOBILE)
    claimed = joining.claim_member(applicant, "李申请", id_number)
    assert claimed.pk == member.pk
    member.refresh_from_db()
    assert member.user == applicant
    assert AuditEvent.objects.filter(action="member.claim", actor=applicant, object_id=str(member.pk)).exists()


@pytest.mark.parametrize("problem", ["name", "mobile", "linked"])
def test_claim_refuses_any_mismatch_with_one_message(tree: Tree, applicant: User, problem: str) -> None:
    id_number = new_id_number()
    member = make_member(
        tree.tianhe_union, "李申请", id_number=id_number, mobile="13900001111" if problem == "mobile" else MOBILE
    )
    if problem == "linked":
        member.user = User.objects.create_user("someone-else")
        member.save(update_fields=["user"])
    with pytest.raises(DomainError) as caught:
        joining.claim_member(applicant, "李别人" if problem == "name" else "李申请", id_number)
    assert caught.value.code == "CLAIM_NOT_MATCHED"
    assert "联系所在工会" in caught.value.message
    member.refresh_from_db()
    assert member.user_id != applicant.pk


# --- concurrency (PostgreSQL) ---------------------------------------------------------


@pytest.fixture
def race(transactional_db: Any, tree: Tree) -> tuple[User, User, Application]:
    from gonghui.conftest import make_cadre
    from gonghui.core.access import RoleKind

    first = make_cadre("dave", "戴夫", tree.tianhe_union, RoleKind.CHAIR)
    second = make_cadre("bob", "鲍勃", tree.tianhe, RoleKind.ADMIN)
    user = User.objects.create_user(MOBILE, mobile=MOBILE)
    return first, second, apply(user, tree.tianhe_union)


@pytest.mark.postgres_only
@on_postgres_only
def test_two_cadres_approving_at_once_make_one_member(race: tuple[User, User, Application]) -> None:
    first, second, application = race
    stale = Application.objects.get(pk=application.pk)  # both pages loaded it as pending
    won, lost = hold_then_race(lambda: joining.approve(first, application), lambda: joining.approve(second, stale))
    assert isinstance(won, Member), won
    # The loser stops at the application lock, not later at the unique index.
    assert isinstance(lost, DomainError) and lost.code == "APPLICATION_DECIDED", lost
    assert Member.objects.count() == 1
    assert CardSequence.objects.get().last == 1
    assert MembershipEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="application.approve").count() == 1


@pytest.mark.postgres_only
@on_postgres_only
def test_approve_and_reject_at_once_leave_one_decision(race: tuple[User, User, Application]) -> None:
    first, second, application = race
    stale = Application.objects.get(pk=application.pk)
    won, lost = hold_then_race(
        lambda: joining.approve(first, application), lambda: joining.reject(second, stale, "不是本单位职工")
    )
    assert isinstance(won, Member), won
    assert isinstance(lost, DomainError) and lost.code == "APPLICATION_DECIDED", lost
    application.refresh_from_db()
    assert application.status == ApplicationStatus.APPROVED and application.reject_reason == ""
    assert not Message.objects.filter(title__contains="未通过").exists()
