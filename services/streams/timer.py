"""The timer half of durable deadlines (the index itself is pure: ``services.core.deadlines``).

After every rebalance it rebuilds the index from the recovered table, then hands each due
booking to its partition's agent as a tick, publishing first what is owed when the service
gives it a fast path (``FireEarly``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.core.deadlines import DeadlineIndex
from services.ops import events

# The timer's fast path: given the keys just fallen due, publish what is owed now and
# return, per key, the ids of the outputs the broker acknowledged.
FireEarly = Callable[[list[str]], Awaitable[dict[str, tuple[str, ...]]]]


def install_deadline_timer(
    app: Any,
    index: DeadlineIndex,
    table: Any,
    ticks: Any,
    clock: Any,
    interval: float,
    log: Any,
    fire_early: FireEarly | None = None,
) -> None:
    """The timer half of durable deadlines: after every rebalance, rebuild the index from the
    table once it has recovered; then hand each due booking to its partition's agent as a
    tick (``DeadlineTick``) on the service's own ticks topic. The agent decides from state.

    With ``fire_early``, the timer first publishes what is owed itself (acknowledged by the
    broker) and the tick names it, so the agent only records it: a burst of deadlines then
    waits for one round of acknowledgements, not for one agent step each.
    Also publishes the armed count and the deadline lag as metrics."""
    from schemas.ticks import DeadlineTick

    app.metrics.watch_deadlines(lambda: len(index), lambda: index.oldest_overdue(clock.now()))

    in_progress: set[asyncio.Task[None]] = set()

    @app.timer(interval=interval)
    async def fire_due_deadlines() -> None:
        recovered = app.tables.recovery.completed.is_set()
        if app.rebalancing or not recovered:
            return
        # Every rebalance may move partitions: rebuild from the table once it has recovered.
        generation = app.rebalancing_count * 1_000_000 + app.consumer_generation_id
        if index.generation != generation:
            started = time.perf_counter()
            index.rebuild(table.armed(), generation)
            log.info(
                events.DEADLINES_REBUILT,
                armed=len(index),
                generation=generation,
                seconds=round(time.perf_counter() - started, 3),
            )
        now = clock.now()
        due = index.take_due(now)
        if not due:
            return
        # Published in the background: the next scan does not wait for this one's
        # acknowledgements (a burst of 10,000 deadlines in one second otherwise waits a scan
        # behind each round of them). What is in flight is not handed out again while it is
        # published nor for ``resend_after`` after, so two rounds never carry the same one.
        task = asyncio.ensure_future(publish_due(due, now))
        in_progress.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(in_progress.discard)

    async def publish_due(due: list[tuple[str, datetime]], now: datetime) -> None:
        keys = [key for key, _ in due]
        index.publishing(keys)
        try:
            if fire_early is not None:
                fresh = [key for key, _ in due if index.published(key) is None]
                for key, ids in (await fire_early(fresh)).items():
                    index.note_published(key, ids)
            await ticks.send_all(
                [
                    (
                        key.encode(),
                        DeadlineTick(
                            key=key,
                            due_at=due_at,
                            sent_at=now,
                            published=index.published(key) or (),
                        ),
                    )
                    for key, due_at in due
                ],
                trace_of=table.trace_of,
                step=f"{app.metrics.service} deadline",
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # handed out again after resend_after
            log.error(events.DEADLINES_NOT_PUBLISHED, due=len(due), error=type(exc).__name__)
        finally:
            index.sent(keys, clock.now())
