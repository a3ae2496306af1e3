"""Delivering a notice beyond Kafka (#44): when to try, what an answer means, when to stop,
and what the ledger and jail staff are told. Pure: the HTTP call is made by the service
(``services.delivery.webhook``) and its answer comes back here as an ``Answer``.

Each notice message (the first, and each resend after an acknowledgement timeout) is
delivered on its own: its ``event_id`` is the ``webhook-id`` of every attempt, so a receiver
drops a retry it already has. Retries follow Standard Webhooks' example schedule (5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 10 h), **compressed** so the last attempt falls before ``give_up_at``:
the earlier of ``max_retry_hours`` after the first attempt and ``give_up_hours_before_release``
before the release (at short notice, when that would leave under 10 minutes: half the time
left, at least 10 minutes).
Jitter (±20 %, the same for the same message and attempt: decisions replay identically)
keeps a recovering endpoint from being hit by every notice at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from schemas.audit import (
    DeliveryAttempt,
    DeliveryAttemptData,
    DeliveryChannel,
    DeliveryResult,
)
from schemas.escalations import Escalation, EscalationReason
from schemas.notices import Notice
from services.core.agencies import Agency, Retrying
from services.core.escalations import escalation

# Standard Webhooks' example schedule after the first attempt.
SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MIN_SPAN = timedelta(minutes=10)
MIN_DELAY = timedelta(seconds=1)  # however compressed, never a retry on the heels of a failure
JITTER = 0.2


class Delivery(BaseModel):
    """One notice message on its way to the agency's webhook."""

    model_config = ConfigDict(frozen=True)

    channel: DeliveryChannel = DeliveryChannel.WEBHOOK
    message: Notice
    attempts: int = 0
    first_at: datetime
    give_up_at: datetime
    next_at: datetime | None  # None: finished (see ``result``)
    result: DeliveryResult | None = None

    @property
    def message_id(self) -> str:
        return self.message.event_id


@dataclass(frozen=True)
class Attempt:
    """An attempt the service is to make now."""

    notice_id: str
    message: Notice
    number: int
    channel: DeliveryChannel = DeliveryChannel.WEBHOOK


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status, or the reason there was none."""

    notice_id: str
    message_id: str
    number: int
    at: datetime
    latency_ms: float
    status: int | None = None  # HTTP status, or the SMTP reply code
    error: str | None = None
    channel: DeliveryChannel = DeliveryChannel.WEBHOOK

    @property
    def delivered(self) -> bool:
        """2xx: the endpoint has it (HTTP 2xx; SMTP 250 accepted)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def gone(self) -> bool:
        """No retry can help: HTTP 410 Gone; a permanent SMTP refusal (5xx)."""
        if self.channel is DeliveryChannel.EMAIL:
            return self.status is not None and 500 <= self.status < 600
        return self.status == 410


def give_up_at(first_at: datetime, release_at: datetime | None, channel: Retrying) -> datetime:
    latest = first_at + timedelta(hours=channel.max_retry_hours)
    if release_at is not None:
        before = release_at - timedelta(hours=channel.give_up_hours_before_release)
        if before < first_at + MIN_SPAN:  # short notice: half of what is left, never nothing
            before = first_at + max((release_at - first_at) / 2, MIN_SPAN)
        latest = min(latest, before)
    return latest


def scale(first_at: datetime, give_up: datetime) -> float:
    """How much the schedule is compressed to end by ``give_up`` (1.0: it fits as it is)."""
    total = sum(SCHEDULE, timedelta()) * (1 + JITTER)
    return min(1.0, (give_up - first_at) / total)


def jitter(message_id: str, number: int) -> float:
    digest = hashlib.sha256(f"{message_id}|{number}".encode()).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return 1 - JITTER + 2 * JITTER * fraction


def next_attempt(delivery: Delivery, after: datetime) -> datetime | None:
    """When to try again after ``delivery.attempts`` failed ones (the last at ``after``), or
    None when the schedule is spent or the next try would fall past ``give_up_at``."""
    if delivery.attempts > len(SCHEDULE):
        return None
    delay = SCHEDULE[delivery.attempts - 1] * scale(delivery.first_at, delivery.give_up_at)
    delay = max(delay, MIN_DELAY)
    at = after + delay * jitter(delivery.message_id, delivery.attempts)
    return at if at <= delivery.give_up_at else None


def start(message: Notice, agency: Agency | None, now: datetime) -> tuple[Delivery, ...]:
    """A new notice message: delivered at once on each channel the agency has beyond Kafka."""
    if agency is None:
        return ()
    return tuple(
        Delivery(
            channel=DeliveryChannel(name),
            message=message,
            first_at=now,
            give_up_at=give_up_at(now, message.data.release_at, channel),
            next_at=now,
        )
        for name, channel in agency.channels().items()
    )


def due(delivery: Delivery, notice_id: str, now: datetime) -> Attempt | None:
    if delivery.next_at is None or delivery.next_at > now:
        return None
    return Attempt(notice_id, delivery.message, delivery.attempts + 1, delivery.channel)


def answered(
    delivery: Delivery, answer: Answer, agency: Agency | None
) -> tuple[Delivery, DeliveryAttempt, Escalation | None]:
    """The delivery after one answer, its ledger record, and the escalation when it ended
    without delivering (410, or the schedule spent)."""
    done = delivery.model_copy(update={"attempts": answer.number})
    if answer.delivered:
        done = done.model_copy(update={"next_at": None, "result": DeliveryResult.DELIVERED})
    elif answer.gone:
        done = done.model_copy(update={"next_at": None, "result": DeliveryResult.GONE})
    else:
        again = next_attempt(done, answer.at)
        result = DeliveryResult.RETRYING if again else DeliveryResult.GAVE_UP
        done = done.model_copy(update={"next_at": again, "result": result})
    assert done.result is not None
    record = ledger_record(done, answer, agency)
    warned = None
    if done.result in (DeliveryResult.GONE, DeliveryResult.GAVE_UP):
        warned = _escalation(done, answer, agency)
    return done, record, warned


def ledger_record(delivery: Delivery, answer: Answer, agency: Agency | None) -> DeliveryAttempt:
    message = delivery.message
    data = message.data
    assert delivery.result is not None
    return DeliveryAttempt(
        event_id=f"delivery|{delivery.channel.value}|{delivery.message_id}|{answer.number}",
        occurred_at=answer.at,
        jurisdiction=message.jurisdiction,
        booking_id=message.booking_id,
        data=DeliveryAttemptData(
            notice_id=data.notice_id,
            message_id=delivery.message_id,
            agency=data.agency,
            request_id=data.request_id,
            channel=delivery.channel,
            endpoint=_endpoint(delivery, agency),
            attempt=answer.number,
            at=answer.at,
            result=delivery.result,
            status=answer.status,
            error=answer.error,
            latency_ms=round(answer.latency_ms, 1),
            next_attempt_at=delivery.next_at,
        ),
    )


def _endpoint(delivery: Delivery, agency: Agency | None) -> str:
    channel = agency.channels().get(delivery.channel.value) if agency else None
    return channel.endpoint if channel else ""


def _escalation(delivery: Delivery, answer: Answer, agency: Agency | None) -> Escalation:
    data = delivery.message.data
    host = _endpoint(delivery, agency) or "?"
    reply = "SMTP" if delivery.channel is DeliveryChannel.EMAIL else "HTTP"
    last = f"{reply} {answer.status}" if answer.status is not None else answer.error
    why = (
        f"the endpoint refused it for good ({reply} {answer.status})"
        if delivery.result is DeliveryResult.GONE
        else f"{delivery.attempts} attempts failed, none left before "
        f"{delivery.give_up_at.isoformat()}"
    )
    call = f"; call {agency.contact}" if agency and agency.contact else ""
    # Reason not_acknowledged: the contract's reasons are fixed (a new one is a new topic
    # version); the agency cannot acknowledge what it never received, and the detail says so.
    return escalation(
        f"{delivery.message_id}|{delivery.channel.value}",
        EscalationReason.NOT_ACKNOWLEDGED,
        jurisdiction=delivery.message.jurisdiction,
        booking_id=delivery.message.booking_id,
        agency=data.agency,
        request_id=data.request_id,
        notice_id=data.notice_id,
        at=answer.at,
        detail=f"{data.kind.value} notice not delivered to {data.agency}'s "
        f"{delivery.channel.value} ({host}): {why} (last: {last or 'no answer'}){call}",
    )
