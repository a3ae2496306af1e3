"""Which refused batches give their sequence numbers back (``patches.sequences``); the
broker's side is in tests/integration/test_sequences.py."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import (
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    KafkaError,
    MessageSizeTooLargeError,
    NotEnoughReplicasError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAuthorizationFailedError,
    UnknownProducerId,
)

from services.kafka.patches import sequences

TP = TopicPartition("booking.state.v1", 3)
SENT = 12  # the partition's next number once the batch of 5 was sent


class Batch:
    record_count = 5

    def __init__(self, outcome: KafkaError | str | None) -> None:
        self.future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if isinstance(outcome, KafkaError):
            self.future.set_exception(outcome)
        elif outcome == "cancelled":
            self.future.cancel()
        elif outcome == "taken":
            self.future.set_result("metadata")


def handler(batch: Batch, retried: bool = False) -> Any:
    numbers: defaultdict[TopicPartition, int] = defaultdict(int, {TP: SENT})
    manager = SimpleNamespace(_sequence_numbers=numbers)
    return SimpleNamespace(
        _sender=SimpleNamespace(_txn_manager=manager),
        _batches={TP: batch},
        _to_reenqueue=[batch] if retried else [],
    )


def next_number(outcome: Any, retried: bool = False) -> int:
    h = handler(Batch(outcome), retried)
    original = sequences._library_handle_response
    sequences._library_handle_response = lambda self, response: None
    try:
        sequences._handle_response(h, response=None)
    finally:
        sequences._library_handle_response = original
    return int(h._sender._txn_manager._sequence_numbers[TP])


@pytest.mark.parametrize(
    "refusal",
    [MessageSizeTooLargeError(), TopicAuthorizationFailedError("booking.state.v1"), KafkaError()],
)
async def test_a_batch_refused_for_good_gives_its_numbers_back(refusal: KafkaError) -> None:
    assert next_number(refusal) == SENT - 5


@pytest.mark.parametrize(
    "refusal",
    [
        OutOfOrderSequenceNumber(),
        DuplicateSequenceNumber(),
        InvalidProducerEpoch(),
        ProducerFenced(),
        UnknownProducerId(),
    ],
)
async def test_a_numbering_or_producer_error_keeps_the_numbers(refusal: KafkaError) -> None:
    assert next_number(refusal) == SENT


@pytest.mark.parametrize("outcome", ["taken", None, "cancelled"])
async def test_a_batch_taken_waiting_or_cancelled_keeps_the_numbers(outcome: Any) -> None:
    assert next_number(outcome) == SENT


async def test_a_batch_sent_again_keeps_its_numbers() -> None:
    assert next_number(NotEnoughReplicasError(), retried=True) == SENT
