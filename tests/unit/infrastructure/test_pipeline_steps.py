"""The reading pipeline's steps, each on its own with fakes for faust's consumer: admit
(in order, no repeats, holes held back), handle (errors dead-lettered, refused outputs read
again), commit (done only once the broker has the outputs, in order)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError, RecordTooLargeError

from services.core.field_crypto import KeyServiceUnavailable
from services.ops.metrics import Metrics
from services.streams.admission import Admission
from services.streams.handling import Handled, Handling, ReadAgain
from services.streams.output import SOURCE, UNACKNOWLEDGED
from services.streams.reading import ReadState, TopicCounter
from services.streams.settlement import Settlement

TP = ("jail.booking.v1", 3)


@dataclass
class Message:
    offset: int
    tp: tuple[str, int] = TP
    key: bytes | None = b"k"
    value: bytes | None = b"{}"
    headers: Any = None
    acked: bool = False

    @property
    def topic(self) -> str:
        return self.tp[0]

    @property
    def partition(self) -> int:
        return self.tp[1]

    def __hash__(self) -> int:
        return hash((self.tp, self.offset))


@dataclass
class Consumer:
    committed: int | None = 0
    seeks: list[tuple[Any, int]] = field(default_factory=list)
    _unacked_messages: set[Any] = field(default_factory=set)

    @property
    def _committed_offset(self) -> dict[Any, int | None]:
        return {TP: self.committed}

    async def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))


def app(consumer: Consumer, generation: int = 1) -> Any:
    return SimpleNamespace(consumer=consumer, consumer_generation_id=generation)


def state() -> ReadState:
    return ReadState(TopicCounter(Metrics("test").messages_in, "test"))


async def test_messages_in_order_are_admitted_and_a_repeat_is_not() -> None:
    reading = state()
    admission = Admission(app(Consumer(committed=10)), reading, probe=None)
    for offset in (10, 11, 12):
        assert await admission.admit(Message(offset))
        reading.guard.handled(TP, offset)
    assert not await admission.admit(Message(11))  # read again after a seek back


async def test_a_message_after_a_hole_is_held_back_and_the_partition_sought_to_the_hole() -> None:
    consumer = Consumer(committed=10)
    reading = state()
    admission = Admission(app(consumer), reading, probe=None)
    held = Message(14)
    assert not await admission.admit(held)
    assert consumer.seeks == [(TP, 10)]
    assert held.acked  # not counted done: faust's own ack is a no-op
    assert reading.guard.committable(TP) in (None, 10)


async def test_a_new_generation_forgets_what_the_guard_knew() -> None:
    reading = state()
    reading.follow(1)
    reading.guard.handled(TP, 10)
    reading.retry.failed(TP, 11, retriable=True)
    reading.follow(1)
    assert len(reading.retry) == 1
    reading.follow(2)
    assert len(reading.retry) == 0
    assert not reading.guard.expects(TP)


def handling(handler: Any, errors: list[Any], exactly_once: bool = False) -> Handling:
    async def on_error(raw: Any, exc: BaseException) -> None:
        errors.append((raw.offset, type(exc).__name__))

    return Handling("test", handler, on_error, state().retry, exactly_once)


async def test_an_unexpected_error_is_dead_lettered_and_the_message_counts_as_handled() -> None:
    errors: list[Any] = []

    async def broken(raw: Any) -> None:
        raise ValueError("a bug")

    outcome = await handling(broken, errors).handle(Message(7))
    assert isinstance(outcome, Handled)
    assert errors == [(7, "ValueError")]


async def test_a_refused_output_reads_the_message_again_after_a_back_off() -> None:
    errors: list[Any] = []

    async def refused(raw: Any) -> None:
        raise KafkaTimeoutError()

    step = handling(refused, errors)
    first = await step.handle(Message(7))
    second = await step.handle(Message(7))
    assert isinstance(first, ReadAgain) and isinstance(second, ReadAgain)
    assert second.seconds > first.seconds  # backing off
    assert errors == []


async def test_an_output_refused_for_good_is_dead_lettered_naming_it() -> None:
    errors: list[Any] = []

    async def too_large(raw: Any) -> None:
        raise RecordTooLargeError()

    step = handling(too_large, errors)
    outcomes = [await step.handle(Message(7)) for _ in range(6)]
    assert all(isinstance(o, ReadAgain) for o in outcomes[:5])
    assert isinstance(outcomes[5], Handled)
    assert errors == [(7, "RecordTooLargeError")]


@pytest.mark.parametrize("where", ["handler", "dead letter"])
async def test_a_key_service_that_does_not_answer_reads_the_message_again_for_as_long(
    where: str,
) -> None:
    """#46: the HSM wrapping a new booking's key, or sealing a dead letter, is away: nothing
    is refused or dead-lettered unsealed; the message waits, backing off, and goes through
    once the HSM answers."""
    errors: list[Any] = []
    down = [True]

    async def wraps(raw: Any) -> None:
        if where == "handler" and down[0]:
            raise KeyServiceUnavailable("the token failed: DeviceError")
        if where == "dead letter":
            raise ValueError("refused input")

    async def on_error(raw: Any, exc: BaseException) -> None:
        if down[0]:
            raise KeyServiceUnavailable("the token failed: DeviceError")
        errors.append((raw.offset, type(exc).__name__))

    step = Handling("test", wraps, on_error, state().retry, False)
    outcomes = [await step.handle(Message(7)) for _ in range(8)]  # more than permanent tries
    assert all(isinstance(o, ReadAgain) for o in outcomes)
    waits = [o.seconds for o in outcomes if isinstance(o, ReadAgain)]
    assert waits == sorted(waits) and waits[-1] > waits[0]
    assert errors == []
    down[0] = False
    assert isinstance(await step.handle(Message(7)), Handled)
    assert errors == ([] if where == "handler" else [(7, "ValueError")])


async def test_the_handler_runs_with_its_source_and_its_outputs_are_collected() -> None:
    seen: list[Any] = []

    async def handler(raw: Any) -> None:
        seen.append(SOURCE.get())
        UNACKNOWLEDGED.get().append("an output")  # as Output.send does

    outcome = await handling(handler, []).handle(Message(7, headers=[("h", b"v")]))
    assert seen == [TP]
    assert isinstance(outcome, Handled)
    assert outcome.deliveries == ["an output"]
    assert outcome.raw.headers == (("h", b"v"),)
    assert SOURCE.get() is None and UNACKNOWLEDGED.get() is None  # reset after


@dataclass
class Delivery:
    future: asyncio.Future[Any]
    topic: str = "booking.state.v1"
    sent_again: int = 0

    async def again(self) -> None:
        self.sent_again += 1
        self.future = asyncio.get_running_loop().create_future()
        self.future.set_result(None)


def delivered(result: Any = None, error: BaseException | None = None) -> Delivery:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if error is not None:
        future.set_exception(error)
    elif result is not None:
        future.set_result(result)
    return Delivery(future)


def settlement(reading: ReadState, errors: list[Any], generation: int = 1) -> Settlement:
    async def on_error(raw: Any, exc: BaseException) -> None:
        errors.append((raw.offset, type(exc).__name__))

    return Settlement(app(Consumer(), generation), reading, on_error)


def item(offset: int, *deliveries: Delivery) -> Handled:
    message = Message(offset)
    raw = SimpleNamespace(topic=TP[0], partition=TP[1], offset=offset)
    return Handled(raw, message, list(deliveries))  # type: ignore[arg-type]


async def test_only_the_leading_acknowledged_messages_are_done_at_once() -> None:
    reading = state()
    reading.guard.check(TP, 10, 10, 0.0)
    step = settlement(reading, [])
    pending = delivered()  # not acknowledged yet
    batch = [item(10, delivered("ok")), item(11, pending), item(12, delivered("ok"))]
    step.settle_acknowledged(batch)
    assert [i.message.offset for i in batch] == [11, 12]
    assert reading.guard.committable(TP) == 11


async def test_settle_waits_for_the_broker_and_sends_a_refused_output_again() -> None:
    reading = state()
    reading.guard.check(TP, 10, 10, 0.0)
    reading.retry.first = 0.0  # no back-off in the test
    refused = delivered(error=KafkaTimeoutError())
    step = settlement(reading, [])
    await step.settle([item(10, refused)], generation=1)
    assert refused.sent_again == 1
    assert reading.guard.committable(TP) == 11


async def test_an_output_refused_for_good_at_settling_dead_letters_its_input() -> None:
    reading = state()
    reading.guard.check(TP, 10, 10, 0.0)
    reading.retry.first = 0.0
    reading.retry.permanent_attempts = 0
    errors: list[Any] = []
    step = settlement(reading, errors)
    await step.settle([item(10, delivered(error=RecordTooLargeError()))], generation=1)
    assert errors == [(10, "RecordTooLargeError")]
    assert reading.guard.committable(TP) == 11  # dead-lettered: done


async def test_a_rebalance_during_settling_leaves_the_rest_for_whoever_reads_next() -> None:
    reading = state()
    reading.guard.check(TP, 10, 10, 0.0)
    step = settlement(reading, [], generation=2)  # the generation moved on
    await step.settle([item(10, delivered("ok"))], generation=1)
    assert reading.guard.committable(TP) in (None, 10)


@pytest.mark.parametrize("exactly_once", [True, False])
async def test_the_same_refusal_is_read_again_under_both_guarantees(exactly_once: bool) -> None:
    """Under exactly_once the refusal is also noted for the transaction (fencing); a
    retriable one restarts nothing here."""
    errors: list[Any] = []

    async def refused(raw: Any) -> None:
        raise KafkaTimeoutError()

    outcome = await handling(refused, errors, exactly_once).handle(Message(9))
    assert isinstance(outcome, ReadAgain)
