"""The producers linger a few milliseconds, so that a worker's outputs travel in a few
produce requests instead of one each (py-spy on a booking worker working off a backlog with
no linger: 17 % of its main thread went on produce requests and their socket writes, each
carrying a record or two). A send someone waits for must not linger: ``send_now`` closes the
batches buffered so far and wakes the client's sender, as aiokafka itself does before a
transaction commits (``MessageAccumulator.flush_for_commit``), without waiting. The next
send to one of those partitions waits until the sender has taken the closed batch, as after a
full one."""

from __future__ import annotations

from typing import Any

# How long a produce batch waits for more records before it goes (faust's default: 0).
PRODUCER_LINGER = 0.005  # seconds


def send_now(producer: Any) -> None:
    """Send what faust's ``producer`` (and its transaction producers) buffered, now."""
    clients = [getattr(producer, "_producer", None)]
    clients += list((getattr(producer, "_transaction_producers", None) or {}).values())
    for client in clients:
        accumulator = getattr(client, "_message_accumulator", None)
        if accumulator is not None:
            _close_batches(accumulator)


def _close_batches(accumulator: Any) -> None:
    """aiokafka 0.14: a batch whose builder is closed is ready at once (its linger ends);
    the sender waits on ``_waiter_future`` for data or a linger to end."""
    for batches in accumulator._batches.values():
        for batch in batches:
            batch._builder.close()
    waiter = accumulator._waiter_future
    if not waiter.done():
        waiter.set_result(None)
