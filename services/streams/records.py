"""RecordTable: one pydantic record per booking key in a changelog-backed faust table, whose
``next_due`` arms the service's DeadlineIndex. Writing a record re-arms (or disarms) its
booking, so the table and the index never disagree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import faust
from pydantic import BaseModel

from services.core.deadlines import DeadlineIndex, armed_in, due_of_raw, due_of_stored
from services.ops import tracing
from services.streams.output import UNACKNOWLEDGED
from services.streams.sealing import PersonSeal
from services.streams.staging import Staging

M = TypeVar("M", bound=BaseModel)
TRACE_FIELD = "_traceparent"


MIB = 2**20


def rocksdb_options(memory_mb: int, partitions: int) -> dict[str, Any]:
    """RocksDB settings for one table whose memory is ``memory_mb`` in all. faust opens one
    database per partition with a 2 GiB block cache and 3 x 64 MiB write buffers each (up to
    18 GiB for eight partitions): here a quarter of the budget goes to write buffers (two per
    partition, at least 1 MiB) and the rest to the block cache."""
    share = memory_mb * MIB // partitions
    buffer = max(share // 8, MIB)
    return {
        "driver": "rocksdict",
        "write_buffer_size": buffer,
        "max_write_buffer_number": 2,
        "block_cache_size": max(share - 2 * buffer, MIB),
    }


# What RocksDB holds in memory for one database: its share of the ``memory_mb`` budget.
ROCKSDB_MEMORY = (
    "rocksdb.block-cache-usage",
    "rocksdb.cur-size-all-mem-tables",
    "rocksdb.estimate-table-readers-mem",
)


def rocksdb_memory_bytes(table: Any) -> int:
    """What the table's RocksDB databases hold in memory now (0 for the memory store).
    faust's RocksDB store keeps one database per partition it has opened, in ``_dbs``."""
    databases = getattr(table.data, "_dbs", None) or {}
    return sum(
        db.property_int_value(name) or 0
        for db in list(databases.values())
        for name in ROCKSDB_MEMORY
    )


@dataclass
class ChangelogWrite:
    """A table write's changelog record on its way to the broker. Sent again, it carries the
    key's value at that moment (or its tombstone), so a later write of the same key that
    went through is never overtaken by an older value."""

    table: Any
    send: Callable[..., Any]  # the table's own send_changelog
    partition: int | None
    key: Any
    future: Awaitable[Any]

    @property
    def topic(self) -> str:
        return str(self.table.changelog_topic.get_topic_name())

    async def again(self) -> None:
        value = self.table.get(self.key)
        if value is None:
            self.future = self.send(self.partition, self.key, None, value_serializer="raw")
        else:
            self.future = self.send(self.partition, self.key, value)


class RecordTable(Generic[M]):
    def __init__(
        self,
        app: faust.App,
        name: str,
        model: type[M],
        partitions: int,
        index: DeadlineIndex,
        options: dict[str, Any] | None = None,
        sealing: PersonSeal | None = None,
    ) -> None:
        self.table = app.Table(
            name, default=None, key_type=str, partitions=partitions, options=options
        )
        self.model = model
        self.index = index
        # Written once their outputs are acknowledged; a refusal names the changelog.
        self.staging = Staging(lambda: str(self.table.changelog_topic.get_topic_name()))
        self.sealing = sealing  # person data sealed as written, opened as read
        # Each write's changelog record joins the input message's unacknowledged outputs:
        # one the broker refused would leave the table ahead of its changelog, and a
        # rebuild (a new disk, a restart under exactly_once) would lose the write.
        send = self.table.send_changelog

        def send_changelog(partition: int | None, key: Any, *args: Any, **kwargs: Any) -> Any:
            future = send(partition, key, *args, **kwargs)
            unacknowledged = UNACKNOWLEDGED.get()
            if unacknowledged is not None:
                unacknowledged.append(ChangelogWrite(self.table, send, partition, key, future))
            return future

        self.table.send_changelog = send_changelog  # type: ignore[method-assign]

    def get(self, key: str) -> M | None:
        """The booking's record: the one staged for it while its batch waits for the broker
        (what the deadline timer reads meanwhile), else the stored one."""
        staged = self.staging.records
        if key in staged:
            return staged[key]
        stored = self.table.get(key)
        if not stored:
            return None
        if self.sealing is not None and self.sealing.opens:
            stored = self.sealing.opened(key, stored)
        return self.model.model_validate(stored)

    def put(self, key: str, record: M, trace: str | None = None) -> bool:
        """Store and re-arm; True when this armed a new deadline for the booking. With
        tracing on, the stored value also keeps the ``traceparent`` of the step that decided
        it (``trace``, else the current one), which the deadline's step continues (the
        record's model ignores it)."""
        value = record.model_dump(mode="json")
        if self.sealing is not None:
            value = self.sealing.sealed(key, value)
        trace = trace or tracing.traceparent()
        if trace:
            value[TRACE_FIELD] = trace
        self.table[key] = value
        due: datetime | None = getattr(record, "next_due", None)
        if due is None:  # nothing owed: maybe the booking's retirement
            retire: datetime | None = getattr(record, "retire_at", None)
            self.index.set(key, retire, retiring=retire is not None)
            return False
        newly = self.index.due_of(key) != due
        self.index.set(key, due)
        return newly

    def delete(self, key: str) -> None:
        """Forget the booking: the changelog gets a tombstone, compaction drops the rest."""
        self.table.pop(key, None)
        self.index.set(key, None)

    def trace_of(self, key: bytes) -> str | None:
        """The ``traceparent`` of the step that last wrote the record of ``key`` (as the
        outputs key it), or None. With tracing off there is no span to continue: the record
        is not read (a burst of deadlines would decode each one for nothing)."""
        if not tracing.enabled():
            return None
        stored = self.table.get(key.decode())
        return stored.get(TRACE_FIELD) if isinstance(stored, dict) else None

    def memory_bytes(self) -> int:
        return rocksdb_memory_bytes(self.table)

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.table.items())

    def armed(self) -> list[tuple[str, datetime | None, bool]]:
        """(key, due, retiring) of every record of this worker's partitions, for the deadline
        index. From RocksDB, each record's stored bytes are read for its two times only
        (``due_of_raw``), and decoded only when they do not say plainly."""
        store: Any = self.table.data
        if getattr(store, "_dbs", None) is None:  # the memory store holds decoded records
            return armed_in(self.table.items())
        armed = []
        for key, value in store._iteritems():
            due = due_of_raw(value)
            if due is None:
                due = due_of_stored(store._decode_value(value))
            armed.append((store._decode_key(key), *due))
        return armed
