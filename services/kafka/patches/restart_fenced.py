"""A fenced transaction replaces the worker (``restart_fenced``; the rules in ``fencing``).

Defect: faust stops the whole worker when a send or commit finds its partition's
transactional producer fenced ("Can't send messages while not in transaction"): after the
group coordinator moved, a worker kept handling partitions another worker had taken (fault
suite, exactly_once, three brokers, c942248: both notification workers stopped, 1,365 of
1,366 notices lost). The worker now replaces itself, as a kill -9 and a restart would. So it
does before committing a transaction that holds a record the broker refused: aiokafka would
commit it without the record (the agency's topic refusing, ``test_exactly_once``).
No upstream issue found. Reproducer: ``tests/integration/test_exactly_once.py`` with
``RELEASEWATCH_FAUST_FIXES_OFF=restart_fenced``: re-run on 9db900a, after the test fences the
notification worker the next booking's notice never came (120 s). The fault suite
(MODE=brokers, exactly_once, seed 1) with it off lost nothing on 9db900a: its four broker
kills fenced no worker that run.
Also here: the partitions' transactions committed side by side (faust commits them one after
another: a worker's eight took seconds under load).
Applies to: faust-streaming 0.15.x with aiokafka 0.14, any broker.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

import services.kafka.patches.fencing as fencing
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)
NAME = "restart_fenced"
enabled = True  # switched off: the fault suite's experiments

_original_producer_send = faust_aiokafka.Producer.send


async def _commit_transactions_together(
    self: Any,
    tid_to_offset_map: Mapping[str, Mapping[Any, int]],
    group_id: str,
    start_new_transaction: bool = True,
) -> None:
    """faust's ``commit_transactions``, the partitions' transactions side by side (each is
    its own producer): one after another, a worker's eight took seconds under load."""

    async def commit(transactional_id: str, offsets: Mapping[Any, int]) -> None:
        async with self._trn_locks[transactional_id]:
            producer = self._transaction_producers.get(transactional_id)
            if producer is None:
                log.warning(events.TRANSACTION_UNKNOWN, transactional_id=transactional_id)
                return
            try:
                if enabled:  # a transaction missing a refused record: never
                    await producer.flush()
                    fencing.restart_if_refused(transactional_id, producer)
                await producer.send_offsets_to_transaction(offsets, group_id)
                await producer.commit_transaction()
                if start_new_transaction:
                    await producer.begin_transaction()
            except Exception as exc:
                if enabled and fencing.broken(exc, producer):
                    fencing.restart_fenced(transactional_id, exc)
                raise

    await asyncio.gather(*(commit(tid, offsets) for tid, offsets in tid_to_offset_map.items()))


async def _send_or_restart_fenced(
    self: Any,
    topic: str,
    key: bytes | None,
    value: bytes | None,
    partition: int | None,
    timestamp: float | None,
    headers: Any,
    *,
    transactional_id: str | None = None,
) -> Any:
    """faust's send; one refused because its transaction can no longer commit (fenced, timed
    out) replaces the worker (``fencing``) instead of stopping it. A transactional record the
    broker refuses later is noted, so its transaction is never committed (``commit`` above)."""
    try:
        future = await _original_producer_send(
            self,
            topic,
            key,
            value,
            partition,
            timestamp,
            headers,
            transactional_id=transactional_id,
        )
        if enabled and transactional_id and hasattr(future, "add_done_callback"):
            future.add_done_callback(functools.partial(fencing.note_refused, transactional_id))
        return future
    except Exception as exc:
        producer = self._transaction_producers.get(transactional_id) if transactional_id else None
        if enabled and transactional_id and fencing.broken(exc, producer):
            fencing.restart_fenced(transactional_id, exc)
        raise


def apply(on: bool = True) -> None:
    """The side-by-side commits always; the restart only with ``on``."""
    global enabled
    enabled = on
    faust_aiokafka.Producer.commit_transactions = _commit_transactions_together  # type: ignore[method-assign]
    faust_aiokafka.Producer.send = _send_or_restart_fenced  # type: ignore[method-assign]
