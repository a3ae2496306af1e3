"""The deadline agent, black-box through the topics, with the booking service in front."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from schemas.topics import (
    AUDIT,
    DEADLETTER,
    DEADLINE_TICKS,
    ESCALATIONS,
    NOTICE_ALERTS,
    RELEASE_SCHEDULE,
)
from tests.support.bookings import Booking, kinds, now
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Record, Watch
from tests.support.workers import all_ready, log_events

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
S = timedelta(seconds=1)


@pytest.fixture
async def stack(start_service: Any, kafka: KafkaHelper) -> dict[str, Watch]:
    start_service("booking")
    start_service("scheduling")
    return {
        "alerts": await kafka.watch(NOTICE_ALERTS.name),
        "schedules": await kafka.watch(RELEASE_SCHEDULE.name),
        "escalations": await kafka.watch(ESCALATIONS.name),
        "deadletters": await kafka.watch(DEADLETTER.name),
        "audit": await kafka.watch(AUDIT.name),
    }


async def test_the_rows_of_spec_3_4_through_the_topics(
    stack: dict[str, Watch], kafka: KafkaHelper
) -> None:
    alerts = stack["alerts"]

    async def alerts_of(booking: Booking, count: int, timeout: float = 90) -> list[Record]:
        return await alerts.wait_for_unique(booking.mine, count, timeout, "event_id", "alert")

    async def on_time() -> None:
        booking = Booking(kafka)
        await booking.open()
        await booking.request()
        release_at = now() + 48 * H + 20 * S
        await booking.schedule(release_at)
        [alert] = await alerts_of(booking, 1)
        data = alert.value["data"]
        assert data["kind"] == "notice_due"
        assert data["late"] is False
        emitted = datetime.fromisoformat(data["emitted_at"])
        due = datetime.fromisoformat(data["due_at"])
        assert timedelta(0) <= emitted - due < 3 * S, (emitted, due)
        assert 47.99 < data["lead_hours"] <= 48.0

    async def late_flag() -> None:
        booking = Booking(kafka)
        await booking.open()
        await booking.schedule(now() + 10 * H)
        await booking.request()
        [alert] = await alerts_of(booking, 1)
        assert alert.value["data"]["kind"] == "notice_due"
        assert alert.value["data"]["late"] is True
        assert 9.9 < alert.value["data"]["lead_hours"] <= 10.0  # rounded to 3 places

    async def request_before_booking() -> None:
        booking = Booking(kafka)
        await booking.request()
        await asyncio.sleep(0)  # different publishers; no order between topics
        await booking.open()
        await booking.schedule(now() + 30 * H)
        [alert] = await alerts_of(booking, 1)
        assert alert.value["data"]["kind"] == "notice_due"

    async def moves_and_cancel() -> None:
        booking = Booking(kafka)
        await booking.open()
        await booking.request()
        await booking.schedule(now() + 30 * H)
        await alerts_of(booking, 1)
        await booking.schedule(now() + 20 * H)  # earlier
        await alerts_of(booking, 2)
        await booking.schedule(now() + 9 * 24 * H)  # later, out of the window: re-armed
        await alerts_of(booking, 3)
        await booking.unschedule()
        found = await alerts_of(booking, 4)
        assert kinds(found) == [
            "notice_due",
            "release_changed",
            "release_changed",
            "release_cancelled",
        ]

    async def released_without_notice() -> None:
        booking = Booking(kafka)
        await booking.open()
        await booking.request()
        # The jail and the agency publish independently: the release must come after the
        # request is in the ledger, or it is a request after release (no alert, by rule).
        await stack["audit"].wait_for_unique(
            lambda r: booking.mine(r) and r.value["data"]["step"] == "request_received", 1, 60
        )
        await booking.schedule(now() + 9 * 24 * H)
        await booking.release()
        [released] = await alerts_of(booking, 1)
        assert released.value["data"]["kind"] == "released"
        assert released.value["data"]["notice_given"] is False
        [escalation] = await stack["escalations"].wait_for_unique(booking.mine, 1, 60)
        assert escalation.value["data"]["reason"] == "released_without_notice"

    async def withdrawal_and_unflagged() -> None:
        withdrawn, unflagged = Booking(kafka), Booking(kafka)
        for booking in (withdrawn, unflagged):
            await booking.open()
        await withdrawn.request()
        await withdrawn.withdraw()
        # The jail and the agency publish independently: wait until the withdrawal is in the
        # ledger before the jail schedules the release.
        await stack["audit"].wait_for_unique(
            lambda r: withdrawn.mine(r) and r.value["data"]["step"] == "request_withdrawn", 1, 60
        )
        for booking in (withdrawn, unflagged):
            await booking.schedule(now() + 5 * H)
            await booking.release()
        # A later flagged booking proves the agent got past both.
        marker = Booking(kafka)
        await marker.open()
        await marker.request()
        await marker.schedule(now() + 5 * H)
        await alerts_of(marker, 1)
        schedules = stack["schedules"]
        await schedules.wait_for_unique(withdrawn.mine, 3, 60)
        await schedules.wait_for_unique(unflagged.mine, 3, 60)
        assert alerts.matching(withdrawn.mine) == []
        assert alerts.matching(unflagged.mine) == []

    async def several_agencies() -> None:
        booking = Booking(kafka)
        await booking.open()
        await booking.request("ice-1", "dhs-ice", hours=48)
        await booking.request("usms-7", "usms", hours=72)
        await booking.schedule(now() + 60 * H)  # inside 72 h, outside 48 h
        [first] = await alerts_of(booking, 1)
        assert first.value["data"]["agency"] == "usms"
        await asyncio.sleep(2)
        assert len(alerts.unique(booking.mine)) == 1

    await asyncio.gather(
        on_time(),
        late_flag(),
        request_before_booking(),
        moves_and_cancel(),
        released_without_notice(),
        withdrawal_and_unflagged(),
        several_agencies(),
    )
    assert stack["deadletters"].matching(lambda r: "sch-" in (r.key or "")) == []


async def test_a_withdrawal_of_an_unknown_request_is_dead_lettered(
    stack: dict[str, Watch], kafka: KafkaHelper
) -> None:
    booking = Booking(kafka)
    await booking.open()
    await booking.withdraw("never-filed")
    [letter] = await stack["deadletters"].wait_for_unique(booking.mine, 1, 60, "deadletter_id")
    assert letter.value["service"] == "scheduling"
    assert letter.value["errors"][0]["path"] == "data.request_id"


async def test_a_deadline_falling_due_while_the_worker_is_down_fires_when_it_is_back(
    start_service: Any, kafka: KafkaHelper
) -> None:
    worker = start_service("scheduling")
    # Both ready first: a worker still starting (recovering its table, firing the deadlines
    # earlier tests left due) delayed the booking's state by 11 s on a CI run, its deadline
    # was already due when it came, and the alert went out before the kill.
    await all_ready([start_service("booking"), worker])
    alerts = await kafka.watch(NOTICE_ALERTS.name)
    schedules = await kafka.watch(RELEASE_SCHEDULE.name)
    booking = Booking(kafka)
    await booking.open()
    await booking.request()
    release_at = now() + 48 * H + 12 * S
    await booking.schedule(release_at)
    await schedules.wait_for_unique(
        lambda r: booking.mine(r) and r.value["data"]["status"] == "scheduled", 1, 60
    )
    worker.kill()
    left = (release_at - 48 * H - now()).total_seconds()
    assert left > 0, f"the schedule came {-left:.1f} s after its deadline: killed too late"
    await asyncio.sleep(left + 3)
    assert alerts.matching(booking.mine) == []  # nobody was there to fire it
    start_service("scheduling")
    [alert] = await alerts.wait_for_unique(booking.mine, 1, 90)
    data = alert.value["data"]
    assert data["kind"] == "notice_due"
    assert datetime.fromisoformat(data["emitted_at"]) > datetime.fromisoformat(data["due_at"])


async def test_killing_one_of_two_workers_moves_its_deadlines_without_loss(
    start_service: Any, kafka: KafkaHelper
) -> None:
    start_service("booking")
    first = start_service("scheduling")
    start_service("scheduling")
    alerts = await kafka.watch(NOTICE_ALERTS.name)
    schedules = await kafka.watch(RELEASE_SCHEDULE.name)
    bookings = [Booking(kafka) for _ in range(16)]  # spread over every partition
    release_at = now() + 48 * H + 35 * S
    for booking in bookings:
        await booking.open()
        await booking.request()
        await booking.schedule(release_at)
    keys = {b.key for b in bookings}

    def ours(record: Record) -> bool:
        return record.key in keys

    await schedules.wait_for_unique(
        lambda r: ours(r) and r.value["data"]["status"] == "scheduled", len(bookings), 90
    )
    first.kill()
    found = await alerts.wait_for_unique(ours, len(bookings), 120, what="alert")
    assert {r.key for r in found} == keys
    assert all(r.value["data"]["kind"] == "notice_due" for r in found)
    # Repeats are allowed only with the same id: one distinct alert per booking.
    assert len({r.value["data"]["alert_id"] for r in alerts.matching(ours)}) == len(bookings)


async def test_an_alert_the_timer_fired_is_recorded_by_the_agent_and_not_sent_again(
    start_service: Any, kafka: KafkaHelper
) -> None:
    start_service("booking")
    worker = start_service("scheduling")
    alerts = await kafka.watch(NOTICE_ALERTS.name)
    ticks = await kafka.watch(DEADLINE_TICKS.name)
    schedules = await kafka.watch(RELEASE_SCHEDULE.name)
    booking = Booking(kafka)
    await booking.open()
    await booking.request("ice-1")
    await booking.schedule(now() + 5 * 24 * H)
    # Only once the worker is warm (it has this booking's schedule) is the release moved
    # to just outside the window: the deadline is then armed before it falls due, so the
    # timer fires it (an input read after due_at would have the agent send it at once).
    await schedules.wait_for_unique(
        lambda r: booking.mine(r) and r.value["data"]["status"] == "scheduled", 1, 60
    )
    await booking.schedule(now() + 48 * H + 10 * S)
    [alert] = await alerts.wait_for_unique(booking.mine, 1, 60)
    alert_id = alert.value["data"]["alert_id"]
    # The timer published it and the tick it then sent names it for the agent.
    await ticks.wait_for(lambda r: booking.mine(r) and alert_id in r.value["published"], 1, 30)

    def recorded() -> bool:
        return any(
            alert_id in fields["alert_ids"]
            for _, fields in log_events(worker.log_path, "alerts_recorded")
        )

    await until(recorded, 30, "the agent records the alert")
    # A second request makes the agent reconcile every request of the booking: had the state
    # not recorded ice-1's alert, it would be sent again now.
    await booking.request("ice-2")
    await alerts.wait_for(
        lambda r: booking.mine(r) and r.value["data"]["request_id"] == "ice-2", 1, 60
    )
    sent = [r for r in alerts.matching(booking.mine) if r.value["data"]["alert_id"] == alert_id]
    assert len(sent) == 1


async def test_an_alert_the_broker_refuses_goes_out_once_it_accepts_and_nothing_is_dead_lettered(
    start_service: Any, kafka: KafkaHelper
) -> None:
    """A refused write is no fault of the input: the agent reads the input again, with
    backoff, instead of dead-lettering a valid event (which would lose its state change)."""
    start_service("booking")
    worker = start_service("scheduling")
    alerts = await kafka.watch(NOTICE_ALERTS.name)
    booking = Booking(kafka)
    # notice.alerts.v1 refuses every alert while the booking is opened and its release set.
    async with kafka.topic_config(NOTICE_ALERTS.name, max_message_bytes="64"):
        await booking.open()
        await booking.request()
        await booking.schedule(now() + 10 * H)  # inside the window: the alert is owed at once
        await until(
            lambda: log_events(worker.log_path, "output_refused"), 90, "the broker to refuse"
        )
    [alert] = await alerts.wait_for_unique(booking.mine, 1, 60, "event_id", "alert")
    assert alert.value["data"]["late"] is True
    refused = log_events(worker.log_path, "output_refused")
    assert {fields["error"] for _, fields in refused} == {"MessageSizeTooLargeError"}
    assert log_events(worker.log_path, "event_dead_lettered") == []
