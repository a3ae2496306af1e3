"""Webhook delivery rules (#44): when attempts are made, what an answer means, when delivery
ends, and what the ledger and jail staff are told. Pure: answers are given, not fetched."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.audit import DeliveryChannel, DeliveryResult
from schemas.escalations import EscalationReason
from services.core.agencies import Agency, Email, Registry, Webhook
from services.core.policy import Policy
from services.notification import delivery, overdue
from services.notification import domain as rules
from services.notification.delivery import SCHEDULE, Answer, Delivery
from services.notification.records import NotificationRecord
from tests.unit.notification.test_notices import ack, alerts, known
from tests.unit.scheduling.world import START

H = timedelta(hours=1)
S = timedelta(seconds=1)
HOOK = Webhook(url="https://hooks.ice.example.gov/rw/notices?k=1", secrets="env:X")
AGENCY = Agency(slug="dhs-ice", name="ICE ERO", contact="+1 555 0100", webhook=HOOK)
REGISTRY = Registry(agencies=(AGENCY,))
POLICY = Policy(ack_timeout_minutes=60, max_resends=1)
PATIENT = Policy(ack_timeout_minutes=7 * 24 * 60)  # no resend while a delivery retries


def issued(registry: Registry = REGISTRY, policy: Policy = POLICY) -> rules.Outcome:
    outcome = rules.on_alert(known(), alerts()[0], policy, START, registry)
    assert isinstance(outcome, rules.Outcome)
    return outcome


def answer(outcome: rules.Outcome, at: datetime, status: int | None, error: str | None = None):
    [attempt] = outcome.attempts
    return Answer(
        attempt.notice_id, attempt.message.event_id, attempt.number, at, 12.5, status, error
    )


def after(
    outcome: rules.Outcome,
    at: datetime,
    status: int | None,
    error: str | None = None,
    policy: Policy = POLICY,
):
    return overdue.on_answers(
        outcome.record, (answer(outcome, at, status, error),), policy, at, REGISTRY
    )


def webhook_of(record: NotificationRecord) -> Delivery:
    [sending] = state_of(record).deliveries
    assert sending.channel is DeliveryChannel.WEBHOOK
    return sending


def state_of(record: NotificationRecord):
    [state] = record.notices.values()
    return state


# --- starting


def test_an_agency_with_a_webhook_gets_an_attempt_at_once_with_the_kafka_notice() -> None:
    outcome = issued()
    [notice] = outcome.notices
    [attempt] = outcome.attempts
    assert attempt.message == notice and attempt.number == 1
    assert webhook_of(outcome.record).next_at == START


def test_a_kafka_only_agency_gets_no_attempt() -> None:
    outcome = issued(Registry())
    assert outcome.notices and outcome.attempts == ()
    assert state_of(outcome.record).deliveries == ()


def test_another_agencys_webhook_is_not_used() -> None:
    other = Registry(agencies=(AGENCY.model_copy(update={"slug": "usms"}),))
    assert issued(other).attempts == ()


def test_a_suppressed_notice_is_never_delivered() -> None:
    from services.core.policy import NoticeRule

    silent = Policy(notices=NoticeRule.NONE)
    outcome = rules.on_alert(known(), alerts()[0], silent, START, REGISTRY)
    assert outcome.attempts == () and outcome.notices == ()


# --- answers


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_is_delivered_and_ends_the_delivery(status: int) -> None:
    done = after(issued(), START + S, status)
    [entry] = done.deliveries
    assert entry.data.result is DeliveryResult.DELIVERED and entry.data.status == status
    assert webhook_of(done.record).next_at is None
    assert done.escalations == ()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, None),
        (503, None),
        (429, None),
        (404, None),
        (301, None),  # redirects are not followed
        (302, None),
        (None, "timeout: no answer in 10 s"),
        (None, "TLS: certificate verify failed"),
        (None, "connection: [Errno 111] Connection refused"),
    ],
)
def test_a_failed_attempt_is_retried_on_the_schedule(status: int | None, error: str | None) -> None:
    done = after(issued(), START + S, status, error)
    [entry] = done.deliveries
    data = entry.data
    assert data.result is DeliveryResult.RETRYING
    assert (data.status, data.error) == (status, error)
    assert webhook_of(done.record).next_at == data.next_attempt_at
    assert webhook_of(done.record).next_at > START + S
    assert done.record.next_due == webhook_of(done.record).next_at  # the durable timer comes back
    assert done.escalations == ()


def test_410_gone_ends_the_delivery_and_tells_jail_staff() -> None:
    done = after(issued(), START + S, 410)
    [entry] = done.deliveries
    assert entry.data.result is DeliveryResult.GONE
    [escalation] = done.escalations
    data = escalation.data
    assert data.reason is EscalationReason.NOT_ACKNOWLEDGED
    assert "410" in data.detail and "hooks.ice.example.gov" in data.detail
    assert "+1 555 0100" in data.detail  # whom to call
    assert webhook_of(done.record).next_at is None


def test_the_ledger_names_the_host_never_the_path_or_query() -> None:
    [entry] = after(issued(), START + S, 500).deliveries
    assert entry.data.endpoint == "hooks.ice.example.gov"
    assert "k=1" not in entry.model_dump_json()


def test_ledger_ids_are_deterministic_per_message_and_attempt() -> None:
    first = after(issued(), START + S, 500).deliveries[0]
    again = after(issued(), START + S, 500).deliveries[0]
    assert first.event_id == again.event_id
    assert first.event_id.endswith("|1")


def test_retries_until_the_schedule_is_spent_then_escalate() -> None:
    outcome = issued(policy=PATIENT)
    now = START
    results = []
    for _ in range(20):
        now = now + S
        done = after(outcome, now, 503, policy=PATIENT)
        results.append(done.deliveries[0].data.result)
        next_at = webhook_of(done.record).next_at
        if next_at is None:
            break
        now = next_at
        outcome = overdue.on_tick(done.record, PATIENT, now, REGISTRY)
        assert outcome.notices == ()  # no resend: the same message, the same webhook-id
        assert outcome.attempts, "a due attempt is asked for when its time comes"
    assert results[-1] is DeliveryResult.GAVE_UP
    assert all(r is DeliveryResult.RETRYING for r in results[:-1])
    assert len(results) <= len(SCHEDULE) + 1
    [escalation] = done.escalations
    assert "attempts failed" in escalation.data.detail
    delivered = webhook_of(done.record)
    assert now <= delivered.give_up_at


def test_an_acknowledgement_stops_the_delivery() -> None:
    retrying = after(issued(), START + S, 503)
    notice_id = state_of(retrying.record).notice_id
    acked = rules.on_ack(retrying.record, ack(notice_id, after=2 * S), START + 2 * S, POLICY)
    assert webhook_of(acked.record).next_at is None
    assert acked.record.next_due is None
    tick = overdue.on_tick(acked.record, POLICY, START + 48 * H, REGISTRY)
    assert tick.attempts == ()


def test_an_answer_for_a_message_already_superseded_is_ignored() -> None:
    outcome = issued()
    stale = Answer("notice|nope", "x", 1, START, 1.0, 200)
    done = overdue.on_answers(outcome.record, (stale,), POLICY, START, REGISTRY)
    assert done.deliveries == () and done.record == outcome.record


def test_a_resend_is_delivered_as_a_new_message_with_its_own_webhook_id() -> None:
    delivered = after(issued(), START + S, 200)
    ack_due = state_of(delivered.record).ack_due_at
    resent = overdue.on_tick(delivered.record, POLICY, ack_due, REGISTRY)
    [notice] = resent.notices
    [attempt] = resent.attempts
    assert attempt.message == notice and notice.data.attempt == 2
    assert attempt.message.event_id != webhook_of(delivered.record).message_id


def test_a_closed_booking_is_not_retired_while_a_delivery_is_pending() -> None:
    world_alerts = alerts()
    record = known()
    for alert in world_alerts:  # notice_due, then released: both with webhooks
        outcome = rules.on_alert(record, alert, POLICY, START, REGISTRY)
        record = outcome.record
    assert record.retire_at is None
    assert record.next_due == START


# --- the schedule


@given(
    span_hours=st.floats(min_value=0.2, max_value=72),
    release_in=st.one_of(st.none(), st.floats(min_value=-10, max_value=200)),
)
def test_no_attempt_is_ever_scheduled_past_give_up(
    span_hours: float, release_in: float | None
) -> None:
    hook = HOOK.model_copy(update={"max_retry_hours": span_hours})
    release_at = START + timedelta(hours=release_in) if release_in is not None else None
    give_up = delivery.give_up_at(START, release_at, hook)
    assert give_up >= START + min(delivery.MIN_SPAN, timedelta(hours=span_hours))
    assert give_up <= START + timedelta(hours=span_hours)
    # not at short notice: the give-up point leaves at least MIN_SPAN after the first attempt
    if release_at is not None and release_at - START >= timedelta(hours=24) + delivery.MIN_SPAN:
        assert give_up <= release_at - timedelta(hours=hook.give_up_hours_before_release)
    sending = Delivery(
        message=issued().notices[0], first_at=START, give_up_at=give_up, next_at=START
    )
    at = START
    for number in range(1, 20):
        sending = sending.model_copy(update={"attempts": number})
        nxt = delivery.next_attempt(sending, at)
        if nxt is None:
            break
        assert at < nxt <= give_up
        at = nxt
    else:
        pytest.fail("the schedule never ended")


def test_a_long_window_keeps_the_standard_schedule_shape() -> None:
    roomy = HOOK.model_copy(update={"max_retry_hours": 72, "give_up_hours_before_release": 0})
    give_up = delivery.give_up_at(START, START + 100 * H, roomy)
    assert delivery.scale(START, give_up) == 1.0  # not compressed


def test_a_48_hour_notice_ends_24_hours_before_the_release() -> None:
    give_up = delivery.give_up_at(START, START + 48 * H, HOOK)
    assert give_up == START + 24 * H
    assert delivery.scale(START, give_up) < 1.0  # compressed: the example schedule spans more


def test_a_notice_at_short_notice_gets_half_the_time_left() -> None:
    assert delivery.give_up_at(START, START + 6 * H, HOOK) == START + 3 * H
    assert delivery.give_up_at(START, START + 60 * S, HOOK) == START + delivery.MIN_SPAN


def test_jitter_is_bounded_and_the_same_on_replay() -> None:
    values = [delivery.jitter("notice|a#1", n) for n in range(1, 50)]
    assert all(1 - delivery.JITTER <= v <= 1 + delivery.JITTER for v in values)
    assert values == [delivery.jitter("notice|a#1", n) for n in range(1, 50)]
    assert len(set(values)) > 40  # not one constant


# --- email beside the webhook

MAILED = Agency(
    slug="dhs-ice",
    name="ICE ERO",
    webhook=HOOK,
    email=Email(to=("ero.duty@ice.dhs.gov", "sdo@ice.dhs.gov")),
)
BOTH = Registry(agencies=(MAILED,))


def test_each_channel_is_attempted_and_answered_on_its_own() -> None:
    outcome = rules.on_alert(known(), alerts()[0], PATIENT, START, BOTH)
    assert [a.channel for a in outcome.attempts] == [DeliveryChannel.EMAIL, DeliveryChannel.WEBHOOK]
    mail, hook = outcome.attempts
    answers = (
        Answer(mail.notice_id, mail.message.event_id, 1, START, 40.0, 451, None, mail.channel),
        Answer(hook.notice_id, hook.message.event_id, 1, START, 9.0, 200, None, hook.channel),
    )
    done = overdue.on_answers(outcome.record, answers, PATIENT, START, BOTH)
    results = {d.data.channel: (d.data.result, d.data.endpoint) for d in done.deliveries}
    assert results == {
        DeliveryChannel.EMAIL: (DeliveryResult.RETRYING, "ice.dhs.gov"),  # 4xx: try again
        DeliveryChannel.WEBHOOK: (DeliveryResult.DELIVERED, "hooks.ice.example.gov"),
    }
    [mail_state] = [d for d in state_of(done.record).deliveries if d.channel == "email"]
    assert done.record.next_due == mail_state.next_at
    assert "ero.duty" not in done.deliveries[0].model_dump_json()  # domains, not addresses


@pytest.mark.parametrize(("code", "result"), [(250, "delivered"), (421, "retrying"), (550, "gone")])
def test_smtp_replies(code: int, result: str) -> None:
    outcome = rules.on_alert(known(), alerts()[0], PATIENT, START, BOTH)
    mail = outcome.attempts[0]
    answer = Answer(mail.notice_id, mail.message.event_id, 1, START, 40.0, code, None, mail.channel)
    done = overdue.on_answers(outcome.record, (answer,), PATIENT, START, BOTH)
    [entry] = done.deliveries
    assert entry.data.result == result
    if result == "gone":
        [told] = done.escalations
        assert "email (ice.dhs.gov)" in told.data.detail and "SMTP 550" in told.data.detail
