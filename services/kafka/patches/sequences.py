"""A batch the broker refused gives its sequence numbers back (aiokafka's idempotent and
transactional producers).

Such a producer numbers each partition's records, and the broker appends a batch only if it
starts where the last one it appended ended. aiokafka numbers a batch as it sends it and never
takes the numbers back, so after the broker refused a batch for good (larger than the topic's
``max.message.bytes``, a missing ACL) it refused every later batch of that partition with
``OutOfOrderSequenceNumber``, until the producer was replaced. Under at_least_once with
``RELEASEWATCH_PRODUCER_IDEMPOTENCE`` that dead-lettered each later input writing to the
partition (its outputs refused five times). Java's producer moves its sequences back after a
failed batch (``TransactionManager.adjustSequencesDueToFailedBatch``); aiokafka keeps at most
one batch of a partition in flight, so no later batch is numbered yet and setting the
partition's next number back to the refused batch's first does the same.

Only refusals that leave the broker's numbering where it was: not the sequence and producer
errors themselves, nor a failed request (the batch may have been appended).
"""

from __future__ import annotations

from typing import Any

from aiokafka.errors import (
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.producer.sender import SendProduceReqHandler

# The broker's numbering may have moved, or the producer is done with.
NUMBERING_ERRORS = (
    DuplicateSequenceNumber,
    InvalidProducerEpoch,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

_library_handle_response = SendProduceReqHandler.handle_response


def _handle_response(self: Any, response: Any) -> None:
    """aiokafka's handling of a produce response, then each batch it failed for good gives
    back its sequence numbers."""
    _library_handle_response(self, response)
    manager = self._sender._txn_manager
    if manager is None:  # not idempotent: no numbering
        return
    for tp, batch in self._batches.items():
        if batch in self._to_reenqueue or not batch.future.done():
            continue
        exc = None if batch.future.cancelled() else batch.future.exception()
        if exc is not None and not isinstance(exc, NUMBERING_ERRORS):
            manager._sequence_numbers[tp] -= batch.record_count


def apply() -> None:
    """Install the fix (once per process; applying it again changes nothing)."""
    SendProduceReqHandler.handle_response = _handle_response
