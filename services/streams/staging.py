"""Records stored once their outputs are acknowledged, a batch at a time (at_least_once).

A decision's outputs (alerts, notices, copies, escalations) are sent without waiting, and the
record saying they went out is staged: the next messages of the batch read it (``staged`` in
``RecordTable.get``), but it is written to the table, and so to its changelog, only once the
broker has acknowledged every output sent before it. A batch's outputs are therefore on their
way together, one wait for all of them instead of one broker round trip each, and a kill -9
at any point still finds either the outputs on the broker or the record not saying so (its
input is read again, and the same ids are sent again: a repeat, never a loss).

A staged write is one of its input's unacknowledged outputs (``StagedWrite``): the input's
offset is committed only once it is written and its changelog record acknowledged. When an
output was refused, the write waits with it (and so does every later write of that booking
in the batch, which was decided on top of it); the settlement sends the output again and then
writes, in the order handled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faust.streams import current_event

from services.kafka.patches import internals
from services.streams.output import UNACKNOWLEDGED, Unacknowledged


class OutputCancelled(Exception):
    """An output's send was cancelled (the producer stopping): not on the broker."""


class StagedWrite:
    """A record waiting for its input's outputs: written (``store``) once the broker has them
    all, its changelog record then joining the same input's ``deliveries``."""

    def __init__(
        self,
        key: str,
        topic: Callable[[], str],
        store: Callable[[], None],
        deliveries: list[Unacknowledged],
    ) -> None:
        self.key = key
        self.topic_of = topic
        self.store = store
        self.deliveries = deliveries
        self.outputs = list(deliveries)  # what the input sent before deciding to store
        # faust's tables write to the partition of the current event (its RocksDB database
        # and changelog partition): the input's, not the batch's last one.
        self.event = current_event()
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def topic(self) -> str:
        return self.topic_of()

    def refusal(self) -> BaseException | None:
        """Why the broker refused one of the outputs, once each is done (None: it has all)."""
        for output in self.outputs:
            future: Any = output.future
            if future.cancelled():
                return OutputCancelled(output.topic)
            error = future.exception()
            if error is not None:
                return error
        return None

    def write(self) -> None:
        token = UNACKNOWLEDGED.set(self.deliveries)
        before = current_event()
        if self.event is not None:
            internals.set_current_event(self.event)
        try:
            self.store()
        finally:
            UNACKNOWLEDGED.reset(token)
            if before is not None:
                internals.set_current_event(before)
        if self.future.done():
            self.future = asyncio.get_running_loop().create_future()
        self.future.set_result(None)

    def refuse(self, error: BaseException) -> None:
        self.future.set_exception(error)

    async def again(self) -> None:
        """The settlement's retry, after it sent the refused outputs again: written once the
        broker has them all this time."""
        await asyncio.gather(*(output.future for output in self.outputs), return_exceptions=True)
        error = self.refusal()
        if error is None:
            self.write()
        else:
            self.future = asyncio.get_running_loop().create_future()
            self.refuse(error)


class Staging:
    """The writes staged by the batch in hand, and what its next messages read of them."""

    def __init__(self, topic: str | Callable[[], str]) -> None:
        # the table's changelog, named in a refusal's log line
        self.topic: Callable[[], str] = topic if callable(topic) else lambda: topic
        self.records: dict[str, Any] = {}  # key -> the latest staged record (None: forgotten)
        self.waiting: list[StagedWrite] = []

    def stage(self, key: str, record: Any, store: Callable[[], None]) -> None:
        """Store ``record`` (None: forget the booking) with ``store`` once the outputs the
        input in hand sent so far are acknowledged; outside a handler (nothing to wait for,
        no offset to hold), at once."""
        deliveries = UNACKNOWLEDGED.get()
        if deliveries is None:
            store()
            return
        write = StagedWrite(key, self.topic, store, deliveries)
        deliveries.append(write)
        self.records[key] = record
        self.waiting.append(write)

    async def flush(self, current: bool) -> None:
        """The batch is handled: write what the broker acknowledged the outputs of, in the
        order staged. Not ``current`` (the partitions may have moved): nothing is written;
        the inputs are read again from the committed offset, by whichever worker has them."""
        waiting, self.waiting = self.waiting, []
        self.records.clear()
        if not current:
            for write in waiting:
                write.future.cancel()
            return
        futures = [output.future for write in waiting for output in write.outputs]
        await asyncio.gather(*futures, return_exceptions=True)
        blocked: dict[str, BaseException] = {}
        for write in waiting:
            error = blocked.get(write.key) or write.refusal()
            if error is None:
                write.write()
            else:  # and every later write of the booking: decided on top of this one
                blocked[write.key] = error
                write.refuse(error)
