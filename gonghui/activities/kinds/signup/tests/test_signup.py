"""Sign-up (报名): capacity, waitlist and promotion, the cancellation deadline, custom form
fields, offers that expire, and check-in at the door."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from gonghui.activities import actions as activity_actions
from gonghui.activities import eligibility, registry
from gonghui.activities.kinds.signup import actions, tickets
from gonghui.activities.kinds.signup.config import SignUpRules
from gonghui.activities.kinds.signup.kind import counts
from gonghui.activities.kinds.signup.models import Registration, RegistrationStatus, Seats
from gonghui.activities.kinds.signup.tests.helpers import open_signup
from gonghui.activities.models import Participation
from gonghui.conftest import Tree, make_member
from gonghui.core.errors import DomainError, InvalidValue
from gonghui.core.models import AuditEvent, SmsMessage, User
from gonghui.inbox.models import Message
from gonghui.members import card_tokens
from gonghui.members.models import Member

S = RegistrationStatus

FIELDS = "T恤尺码 | 选择 | 必填 | S/M/L/XL\n随行人数 | 数字 | 选填\n紧急联系人 | 文本 | 必填\n出发日期 | 日期"


@pytest.fixture
def people(tree: Tree) -> list[Member]:
    return [make_member(tree.tianhe_union, f"会员{i}", mobile=f"1380013{i:04d}") for i in range(8)]


def seats_of(activity: Any) -> Seats:
    return Seats.objects.get(pk=activity.pk)


# --- settings -----------------------------------------------------------------------------


def test_settings_parse_the_organisers_field_lines_and_keep_them_as_a_list(tree: Tree) -> None:
    activity = open_signup(tree.tianhe_union, publish=False, form_fields=FIELDS, waitlist_enabled=True)
    fields = activity.settings["form_fields"]
    assert [f["type"] for f in fields] == ["choice", "number", "text", "date"]
    assert fields[0] == {
        "key": "f1",
        "label": "T恤尺码",
        "type": "choice",
        "required": True,
        "choices": ["S", "M", "L", "XL"],
    }
    assert fields[1]["required"] is False
    assert activity.settings["confirm_hours"] == 24  # the default when left empty
    # The console shows the stored list as the same lines again.
    form = registry.get("signup").settings_form(initial=activity.settings)  # type: ignore[misc]
    assert "T恤尺码 | 选择 | 必填 | S/M/L/XL" in str(form["form_fields"])


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"capacity": 0}, "名额"),
        ({"form_fields": "尺码 | 选择 | 必填 | S"}, "至少需要两个选项"),
        ({"form_fields": "尺码 | 颜色"}, "类型"),
        ({"form_fields": [{"label": "A"}, {"label": "A"}]}, "不能重复"),
        (
            {
                "cancel_deadline": "2030-01-01T10:00:00+08:00",
                "cancel_hours_before": 2,
                "event_starts_at": "2030-01-02T10:00:00+08:00",
            },
            "只能填一项",
        ),
        ({"cancel_hours_before": 2}, "举办时间"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(tree: Tree, settings: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidValue) as err:
        registry.get("signup").clean_settings({"capacity": 3, **settings})
    assert message in err.value.message


def test_cancel_deadline_hours_before_the_event(tree: Tree) -> None:
    event = timezone.now().replace(second=0, microsecond=0) + timedelta(days=5)
    activity = open_signup(tree.tianhe_union, event_starts_at=event.isoformat(), cancel_hours_before=24)
    assert SignUpRules.of(activity).cancel_deadline_at == event - timedelta(hours=24)
    # The console's picker shows the stored time in local time, and a value it sends back
    # ("YYYY-MM-DDTHH:MM") is read as the same moment.
    form = registry.get("signup").settings_form(initial=activity.settings)  # type: ignore[misc]
    local = timezone.localtime(event).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{local}"' in str(form["event_starts_at"])
    again = registry.get("signup").clean_settings({"capacity": 3, "event_starts_at": local, "cancel_hours_before": 24})
    assert SignUpRules.of(type(activity)(settings=again)).event_starts_at == event


# --- capacity and the waitlist -------------------------------------------------------------


def test_seats_fill_then_the_waitlist_takes_positions_in_order(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=2, waitlist_enabled=True)
    regs = [actions.sign_up(member=m, activity=activity) for m in people[:5]]
    assert [r.status for r in regs] == [S.CONFIRMED, S.CONFIRMED, S.WAITLISTED, S.WAITLISTED, S.WAITLISTED]
    assert [r.position for r in regs[2:]] == [1, 2, 3]
    seats = seats_of(activity)
    assert (seats.taken, seats.waiting) == (2, 3)
    assert Participation.objects.filter(activity=activity).count() == 5
    assert counts(activity) == {"confirmed": 2, "offered": 0, "waitlisted": 3, "cancelled": 0, "checked_in": 0}


def test_full_without_a_waitlist_says_so_before_and_at_signing_up(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1)
    actions.sign_up(member=people[0], activity=activity)
    answer = eligibility.check(activity, people[1])
    assert (answer.ok, answer.code) == (False, "SIGNUP_FULL")
    with pytest.raises(DomainError) as err:
        actions.sign_up(member=people[1], activity=activity)
    assert err.value.code == "SIGNUP_FULL"
    assert seats_of(activity).taken == 1


def test_a_limited_waitlist_fills_too(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, waitlist_size=1)
    actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    with pytest.raises(DomainError) as err:
        actions.sign_up(member=people[2], activity=activity)
    assert err.value.code == "SIGNUP_FULL"
    assert (seats_of(activity).taken, seats_of(activity).waiting) == (1, 1)


def test_one_live_registration_per_member(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union)
    actions.sign_up(member=people[0], activity=activity)
    with pytest.raises(DomainError) as err:
        actions.sign_up(member=people[0], activity=activity)
    assert err.value.code == "SIGNUP_ALREADY"
    # The constraint is the last line even when the check is skipped.
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.create(
            activity=activity, member=people[0], org_path="x", status=S.WAITLISTED, ticket_code="ZZZZZZZZ"
        )
    assert seats_of(activity).taken == 1


def test_signing_up_again_after_cancelling_goes_to_the_back(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    first = actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    actions.cancel(member=people[1], registration=Registration.objects.get(member=people[1]))
    again = actions.sign_up(member=people[1], activity=activity)
    assert again.status == S.WAITLISTED and again.position == 2
    assert first.status == S.CONFIRMED


def test_audience_and_window_come_first(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union)
    outsider = make_member(tree.nanshan_union, "南山会员")
    with pytest.raises(eligibility.NotEligible) as err:
        actions.sign_up(member=outsider, activity=activity)
    assert err.value.code == "AUDIENCE_OUTSIDE"
    draft = open_signup(tree.tianhe_union, publish=False)
    with pytest.raises(eligibility.NotEligible):
        actions.sign_up(member=people[0], activity=draft)


# --- custom form fields ----------------------------------------------------------------------


def test_answers_are_validated_against_the_organisers_fields(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, form_fields=FIELDS)
    bad = [
        ({"f3": "王五"}, "SIGNUP_FIELD_REQUIRED"),
        ({"f1": "XXL", "f3": "王五"}, "SIGNUP_FIELD_CHOICE"),
        ({"f1": "M", "f2": "两个", "f3": "王五"}, "SIGNUP_FIELD_NUMBER"),
        ({"f1": "M", "f3": "王五", "f4": "5月1日"}, "SIGNUP_FIELD_DATE"),
    ]
    for answers, code in bad:
        with pytest.raises(InvalidValue) as err:
            actions.sign_up(member=people[0], activity=activity, answers=answers)
        assert err.value.code == code
    assert not Registration.objects.exists() and seats_of(activity).taken == 0  # nothing half-written
    reg = actions.sign_up(
        member=people[0], activity=activity, answers={"f1": "M", "f2": "2", "f3": " 王五 ", "f4": "2026-05-01", "x": 1}
    )
    assert reg.answers == {"f1": "M", "f2": 2, "f3": "王五", "f4": "2026-05-01"}


# --- cancelling, promotion, offers --------------------------------------------------------------


def test_cancelling_offers_the_seat_to_the_first_waitlisted_who_is_told_by_message_and_sms(
    tree: Tree, people: list[Member], django_capture_on_commit_callbacks: Any
) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, confirm_hours=6)
    seat = actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    actions.sign_up(member=people[2], activity=activity)
    with django_capture_on_commit_callbacks(execute=True):
        actions.cancel(member=people[0], registration=seat)
    offered = Registration.objects.get(member=people[1], activity=activity)
    assert offered.status == S.OFFERED
    assert offered.offer_expires_at is not None
    assert abs((offered.offer_expires_at - timezone.now()) - timedelta(hours=6)) < timedelta(minutes=1)
    assert Registration.objects.get(member=people[2]).status == S.WAITLISTED
    seats = seats_of(activity)
    assert (seats.taken, seats.waiting) == (1, 1)  # the offered seat is held for them
    message = Message.objects.get(member=people[1])
    assert "候补递补" in message.title and activity.title in message.title
    assert SmsMessage.objects.filter(mobile=people[1].mobile, purpose="notify.system").count() == 1

    confirmed = actions.confirm_offer(member=people[1], registration=offered)
    assert confirmed.status == S.CONFIRMED
    assert actions.confirm_offer(member=people[1], registration=offered).status == S.CONFIRMED  # a second tap
    assert counts(activity)["confirmed"] == 1


def test_an_unconfirmed_offer_expires_and_the_next_in_line_gets_it(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, confirm_hours=2)
    seat = actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    actions.sign_up(member=people[2], activity=activity)
    actions.cancel(member=people[0], registration=seat)
    assert actions.expire_offers() == 0  # not due yet
    later = timezone.now() + timedelta(hours=2, seconds=1)
    assert actions.expire_offers(later) == 1
    assert actions.expire_offers(later) == 0  # nothing twice
    first, second = Registration.objects.get(member=people[1]), Registration.objects.get(member=people[2])
    assert (first.status, second.status) == (S.EXPIRED, S.OFFERED)
    with pytest.raises(DomainError) as err:
        actions.confirm_offer(member=people[1], registration=first)
    assert err.value.code == "SIGNUP_OFFER_EXPIRED"
    assert Message.objects.filter(member=people[1], title__contains="已过期").exists()
    # The last offer lapses with nobody left waiting: the seat goes back to the pool.
    assert actions.expire_offers(later + timedelta(hours=3)) == 1
    seats = seats_of(activity)
    assert (seats.taken, seats.waiting) == (0, 0)
    assert actions.sign_up(member=people[3], activity=activity).status == S.CONFIRMED


def test_an_offer_confirmed_just_in_time_is_not_expired(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    seat = actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    actions.cancel(member=people[0], registration=seat)
    offered = Registration.objects.get(member=people[1])
    actions.confirm_offer(member=people[1], registration=offered)
    assert actions.expire_offers(timezone.now() + timedelta(days=3)) == 0
    assert Registration.objects.get(member=people[1]).status == S.CONFIRMED


def test_declining_an_offer_passes_it_on(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    seat = actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    actions.sign_up(member=people[2], activity=activity)
    actions.cancel(member=people[0], registration=seat)
    actions.decline_offer(member=people[1], registration=Registration.objects.get(member=people[1]))
    assert Registration.objects.get(member=people[1]).status == S.DECLINED
    assert Registration.objects.get(member=people[2]).status == S.OFFERED


def test_leaving_the_waitlist_moves_everyone_behind_up(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    actions.sign_up(member=people[0], activity=activity)
    w1 = actions.sign_up(member=people[1], activity=activity)
    actions.sign_up(member=people[2], activity=activity)
    actions.cancel(member=people[1], registration=w1)
    assert seats_of(activity).waiting == 1
    assert Registration.objects.get(member=people[0]).status == S.CONFIRMED  # no seat moved


def test_no_cancelling_a_seat_after_the_deadline(tree: Tree, people: list[Member]) -> None:
    past = timezone.now() - timedelta(minutes=5)
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True, cancel_deadline=past.isoformat())
    seat = actions.sign_up(member=people[0], activity=activity)
    waiting = actions.sign_up(member=people[1], activity=activity)
    with pytest.raises(DomainError) as err:
        actions.cancel(member=people[0], registration=seat)
    assert err.value.code == "SIGNUP_CANCEL_CLOSED"
    assert actions.cancel(member=people[1], registration=waiting).status == S.CANCELLED  # a waitlist place: any time


def test_someone_elses_registration_cannot_be_touched(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union)
    reg = actions.sign_up(member=people[0], activity=activity)
    with pytest.raises(DomainError) as err:
        actions.cancel(member=people[1], registration=reg)
    assert err.value.code == "SIGNUP_NOT_FOUND"


def test_the_organiser_can_remove_someone_with_a_reason_and_it_is_audited(
    tree: Tree, people: list[Member], bob: User
) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    reg = actions.sign_up(member=people[0], activity=activity)
    actions.sign_up(member=people[1], activity=activity)
    with pytest.raises(DomainError):
        actions.cancel_by_organiser(actor=bob, registration=reg, reason=" ")
    actions.cancel_by_organiser(actor=bob, registration=reg, reason="重复报名")
    assert Registration.objects.get(member=people[1]).status == S.OFFERED
    event = AuditEvent.objects.get(action="activity_signup.cancel")
    assert event.actor == bob and event.details["reason"] == "重复报名"


# --- check-in ----------------------------------------------------------------------------------


def test_check_in_once_then_already_with_the_time(tree: Tree, people: list[Member], dave: User) -> None:
    activity = open_signup(tree.tianhe_union)
    reg = actions.sign_up(member=people[0], activity=activity)
    token = tickets.sign(reg.pk, reg.ticket_code)
    first = actions.check_in(actor=dave, activity=activity, raw=token)
    assert first.outcome == "checked_in" and first.masked_name == "会**"
    again = actions.check_in(actor=dave, activity=activity, raw=reg.ticket_display.lower())  # typed
    local = timezone.localtime(Registration.objects.get(pk=reg.pk).checked_in_at)
    assert again.outcome == "already" and f"{local:%H:%M} 已签到" in again.message
    assert AuditEvent.objects.filter(action="activity_signup.check_in").count() == 1
    assert counts(activity)["checked_in"] == 1
    with pytest.raises(DomainError) as err:
        actions.cancel(member=people[0], registration=reg)
    assert err.value.code == "SIGNUP_CHECKED_IN"


def test_check_in_explains_who_cannot_come_in(tree: Tree, people: list[Member], dave: User) -> None:
    activity = open_signup(tree.tianhe_union, capacity=1, waitlist_enabled=True)
    other = open_signup(tree.tianhe_union, capacity=5)
    seat = actions.sign_up(member=people[0], activity=activity)
    waiting = actions.sign_up(member=people[1], activity=activity)
    elsewhere = actions.sign_up(member=people[2], activity=other)
    actions.cancel(member=people[1], registration=waiting)
    waiting2 = actions.sign_up(member=people[1], activity=activity)
    assert waiting2.status == S.WAITLISTED

    def outcome(raw: str) -> str:
        return actions.check_in(actor=dave, activity=activity, raw=raw).outcome

    assert outcome(tickets.sign(waiting2.pk, waiting2.ticket_code)) == "waitlisted"
    assert outcome(tickets.sign(waiting.pk, waiting.ticket_code)) == "cancelled"
    assert outcome(tickets.sign(elsewhere.pk, elsewhere.ticket_code)) == "not_registered"
    assert outcome(elsewhere.ticket_code) in ("not_registered",)
    assert outcome(tickets.sign(seat.pk, seat.ticket_code)[:-2] + "xx") == "invalid"  # forged
    assert outcome("hello") == "invalid"
    # A member who shows the e-member card instead: found by it, and told apart.
    people[3].card_number = "GH4401060000000099"
    people[3].save(update_fields=["card_number"])
    card = card_tokens.issue_token(people[3]).token
    result = actions.check_in(actor=dave, activity=activity, raw=card)
    assert (result.outcome, result.masked_name) == ("not_registered", "会**")
    people[0].card_number = "GH4401060000000098"
    people[0].save(update_fields=["card_number"])
    assert outcome(card_tokens.issue_token(people[0]).token) == "checked_in"
    assert not Registration.objects.filter(checked_in_at__isnull=False).exclude(pk=seat.pk).exists()


def test_export_is_masked_and_carries_the_answers(tree: Tree, people: list[Member]) -> None:
    activity = open_signup(tree.tianhe_union, form_fields="T恤尺码 | 选择 | 必填 | S/M")
    actions.sign_up(member=people[0], activity=activity, answers={"f1": "M"})
    headers, rows = registry.get("signup").export(activity)
    data = list(rows)
    assert headers[-1] == "T恤尺码"
    assert data[0][1] == "会**" and data[0][2] == "138****0000" and data[0][-1] == "M"


def test_closing_the_activity_keeps_registrations_and_check_in_works_after(
    tree: Tree, people: list[Member], dave: User
) -> None:
    activity = open_signup(tree.tianhe_union)
    reg = actions.sign_up(member=people[0], activity=activity)
    closed = activity_actions.close_activity(actor=dave, activity=activity)
    assert actions.check_in(actor=dave, activity=closed, raw=reg.ticket_code).outcome == "checked_in"


def test_settings_edited_after_publishing_but_before_opening_move_the_seat_counter(
    tree: Tree, people: list[Member], bob: User
) -> None:
    activity = open_signup(tree.tianhe_union, publish=False, capacity=5)
    activity_actions.update_activity(
        actor=bob, activity=activity, values={"starts_at": timezone.now() + timedelta(hours=1)}
    )
    activity = activity_actions.publish_activity(actor=bob, activity=activity)
    assert (seats_of(activity).capacity, seats_of(activity).waitlist_limit) == (5, 0)
    activity = activity_actions.update_activity(
        actor=bob, activity=activity, values={}, settings={"capacity": 1, "waitlist_enabled": True, "waitlist_size": 1}
    )
    assert (seats_of(activity).capacity, seats_of(activity).waitlist_limit) == (1, 1)
    activity_actions.update_activity(actor=bob, activity=activity, values={"starts_at": timezone.now()})
    activity.refresh_from_db()
    assert actions.sign_up(member=people[0], activity=activity).status == S.CONFIRMED
    assert actions.sign_up(member=people[1], activity=activity).status == S.WAITLISTED
    with pytest.raises(DomainError) as err:
        actions.sign_up(member=people[2], activity=activity)
    assert err.value.code == "SIGNUP_FULL"
