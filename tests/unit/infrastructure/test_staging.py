"""Staged records (``services.streams.staging``): a record is written only once the broker has
the outputs its input sent before it, in the order staged; the batch's next messages read it
meanwhile; a refused output holds its write (and the booking's later ones) until the
settlement has sent it again; a batch whose partitions moved writes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError
from faust.streams import current_event

from services.kafka.patches import internals
from services.streams.handling import Handled
from services.streams.output import UNACKNOWLEDGED, Unacknowledged
from services.streams.staging import EarlierOutputRefused, Staging
from tests.unit.infrastructure.test_pipeline_steps import (
    TP,
    Delivery,
    Message,
    delivered,
    settlement,
    state,
)


class Table:
    """The writes in the order made, each one's changelog record joining the input's outputs
    as ``RecordTable``'s do."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, Any]] = []

    def store(self, key: str, record: Any) -> Callable[[], None]:
        def write() -> None:
            self.writes.append((key, record))
            outputs = UNACKNOWLEDGED.get()
            assert outputs is not None, "a staged write runs in its input's outputs"
            outputs.append(delivered("changelog"))

        return write


def handled(
    staging: Staging, table: Table, offset: int, key: str, record: Any, *outputs: Delivery
) -> Handled:
    """One input handled: its outputs sent, then its record staged, as ``DurableService``."""
    deliveries: list[Unacknowledged] = list(outputs)
    token = UNACKNOWLEDGED.set(deliveries)
    try:
        staging.stage(key, record, table.store(key, record))
    finally:
        UNACKNOWLEDGED.reset(token)
    raw = SimpleNamespace(topic=TP[0], partition=TP[1], offset=offset)
    return Handled(raw, Message(offset), deliveries)  # type: ignore[arg-type]


def pending() -> Delivery:
    return Delivery(asyncio.get_running_loop().create_future())


async def test_a_record_is_written_only_once_its_outputs_are_acknowledged() -> None:
    staging, table = Staging("bookings"), Table()
    alert = pending()
    item = handled(staging, table, 10, "k1", "fired", alert)
    assert staging.records == {"k1": "fired"}  # what the batch's next messages read
    reading = state()
    reading.guard.check(TP, 10, 10, 0.0)
    step = settlement(reading, [])
    batch = [item]
    step.settle_acknowledged(batch)
    assert batch == [item], "not done while its record is unwritten"
    flushing = asyncio.create_task(staging.flush(current=True))
    await asyncio.sleep(0)
    assert table.writes == [] and not flushing.done()
    assert staging.records == {"k1": "fired"}, "the timer reads it while the batch waits"
    alert.future.set_result("ok")
    await asyncio.wait_for(flushing, 5)
    assert table.writes == [("k1", "fired")]
    assert staging.records == {}
    assert len(item.deliveries) == 3, "the alert, the staged write, its changelog record"
    await step.settle([item], generation=1)
    assert reading.guard.committable(TP) == 11


async def test_writes_follow_the_order_staged_whatever_order_the_broker_answers() -> None:
    staging, table = Staging("bookings"), Table()
    first, second, third = pending(), pending(), pending()
    handled(staging, table, 10, "k1", "one", first)
    handled(staging, table, 11, "k2", "two", second)
    handled(staging, table, 12, "k3", "three", third)
    assert staging.records == {"k1": "one", "k2": "two", "k3": "three"}
    for output in (third, second, first):
        output.future.set_result("ok")
    await asyncio.wait_for(staging.flush(current=True), 5)
    assert table.writes == [("k1", "one"), ("k2", "two"), ("k3", "three")]


async def test_a_later_message_of_the_booking_is_decided_on_the_stored_record() -> None:
    """``ready``: the batch's earlier writes of the booking are made first."""
    staging, table = Staging("bookings"), Table()
    alert = pending()
    handled(staging, table, 10, "k1", "fired", alert)
    handled(staging, table, 11, "k2", "other", pending())
    readying = asyncio.create_task(staging.ready("k1"))
    await asyncio.sleep(0)
    assert not readying.done(), "waits for the earlier message's alert"
    alert.future.set_result("ok")
    await asyncio.wait_for(readying, 5)
    assert table.writes == [("k1", "fired")]
    assert staging.records == {"k2": "other"}, "the other booking's write waits for the batch"
    await staging.ready("k3")  # nothing staged: nothing to wait for


async def test_a_refused_output_holds_its_write_and_reads_the_bookings_later_messages_again() -> (
    None
):
    staging, table = Staging("bookings"), Table()
    refused = delivered(error=KafkaTimeoutError())
    first = handled(staging, table, 10, "k1", "one", refused)
    other = handled(staging, table, 11, "k2", "other", delivered("ok"))
    for _ in range(2):  # never decided on top of a write that may not be made
        with pytest.raises(EarlierOutputRefused) as raised:
            await staging.ready("k1")
        assert raised.value.retriable  # read again after a back-off, never dead-lettered
    await asyncio.wait_for(staging.flush(current=True), 5)
    assert table.writes == [("k2", "other")]
    reading = state()
    reading.guard.check(TP, 10, 10, 0.0)
    reading.retry.first = 0.0  # no back-off in the test
    await asyncio.wait_for(settlement(reading, []).settle([first, other], generation=1), 5)
    assert refused.sent_again == 1
    assert table.writes == [("k2", "other"), ("k1", "one")]
    assert reading.guard.committable(TP) == 12


async def test_a_batch_whose_partitions_moved_writes_nothing() -> None:
    staging, table = Staging("bookings"), Table()
    item = handled(staging, table, 10, "k1", "fired", delivered("ok"))
    await staging.flush(current=False)
    assert table.writes == [] and staging.records == {}
    staged = item.deliveries[1]
    assert staged.future.cancelled()  # type: ignore[attr-defined]


async def test_outside_a_handler_a_record_is_written_at_once() -> None:
    staging = Staging("bookings")
    written: list[str] = []
    staging.stage("k1", "tick", lambda: written.append("k1"))
    assert written == ["k1"] and staging.records == {} and staging.waiting == []


async def test_a_forgotten_booking_reads_as_none_until_the_batch_is_written() -> None:
    staging, table = Staging("bookings"), Table()
    handled(staging, table, 10, "k1", None, delivered("ok"))
    assert "k1" in staging.records and staging.records["k1"] is None
    await staging.flush(current=True)
    assert table.writes == [("k1", None)]


async def test_a_write_goes_to_its_inputs_partition_not_the_batchs_last() -> None:
    """faust's tables write to the current event's partition (RocksDB database, changelog)."""
    staging = Staging("bookings")
    partitions: list[int] = []

    class Event:  # faust keeps the current event by weak reference
        def __init__(self, partition: int) -> None:
            self.message = SimpleNamespace(partition=partition)

    event = Event

    first, last = event(3), event(5)
    internals.set_current_event(first)
    token = UNACKNOWLEDGED.set([])
    try:
        staging.stage("k1", "one", lambda: partitions.append(current_event().message.partition))
    finally:
        UNACKNOWLEDGED.reset(token)
    internals.set_current_event(last)  # the batch read on
    await staging.flush(current=True)
    assert partitions == [3]
    assert current_event() is last
