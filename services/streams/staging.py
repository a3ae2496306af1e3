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
output was refused, the write waits with it; the settlement sends the output again and then
writes, or dead-letters the input. A later message of the same booking in the batch is
decided on the stored record only (``ready``): the earlier writes of its booking are made
first, or, one refused, it is read again after a back-off (``EarlierOutputRefused``), so no
record is ever decided on top of a write that may never be made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka.errors import KafkaError
from faust.streams import current_event

from services.kafka.patches import internals
from services.streams.output import UNACKNOWLEDGED, Unacknowledged


class OutputCancelled(Exception):
    """An output's send was cancelled (the producer stopping): not on the broker."""


class EarlierOutputRefused(KafkaError):
    """An output of an earlier message of the same booking was refused: this message is read
    again once the settlement has sent it again (or given its input up)."""

    retriable = True


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
        self.written = False
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
        self.written = True
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

    async def ready(self, key: str) -> None:
        """Before a message of ``key`` is decided: the batch's writes of it staged so far made,
        once the broker has their outputs. One refused raises ``EarlierOutputRefused``: the
        message waits and is read again, as when its own output is refused."""
        if key not in self.records:
            return
        mine = [write for write in self.waiting if write.key == key and not write.written]
        await asyncio.gather(
            *(output.future for write in mine for output in write.outputs), return_exceptions=True
        )
        for write in mine:
            error = write.refusal() or (write.future.done() and write.future.exception())
            if error:
                if not write.future.done():
                    write.refuse(error)
                raise EarlierOutputRefused(f"{type(error).__name__} on {write.topic}")
            write.write()
        del self.records[key]

    async def flush(self, current: bool) -> None:
        """The batch is handled: write what the broker acknowledged the outputs of, in the
        order staged. Not ``current`` (the partitions may have moved): nothing is written;
        the inputs are read again from the committed offset, by whichever worker has them."""
        waiting = [write for write in self.waiting if not write.future.done()]
        self.waiting = []
        if not current:
            self.records.clear()
            for write in waiting:
                write.future.cancel()
            return
        futures = [output.future for write in waiting for output in write.outputs]
        # Meanwhile the deadline timer still reads the staged records: read from the table,
        # a deadline just recorded as fired would fire again.
        await asyncio.gather(*futures, return_exceptions=True)
        for write in waiting:  # one write per booking here: ``ready`` made the earlier ones
            error = write.refusal()
            if error is None:
                write.write()
            else:
                write.refuse(error)
        self.records.clear()
