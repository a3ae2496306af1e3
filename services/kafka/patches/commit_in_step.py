"""A commit in step with the agent under exactly_once (``commit_in_step``).

Defect: faust commits each partition's transaction from a timer while the agent goes on: the
offsets are taken first, and whatever the agent sends meanwhile joins the transaction
committed with them. An event's alert could then be committed without its offset; a kill -9
before the next commit read the event again, and a ``read_committed`` reader saw the alert
twice (fault suite, exactly_once: the same tick's alert from two transactions). Sends during
a commit were also refused ("not in transaction"); switched off in the fault suite (seed 1)
faust's producer buffer crashed in all three services and 2 alerts were lost. No upstream
issue found. Reproducer: ``tests/unit/infrastructure/test_commit_in_step.py`` and the fault
suite under exactly_once with ``RELEASEWATCH_FAUST_FIXES_OFF=commit_in_step``.
With ``ServiceApp.commit_barrier`` the agent holds a lock for each message and the commit
takes it from choosing its offsets to the end of the transactions; every commit first waits
until the table writes before it reached the client (``handed_over``).
Applies to: faust-streaming 0.15.x, any broker.
"""

from __future__ import annotations

import contextlib
from typing import Any

from faust.transport import consumer as faust_consumer

from services.kafka.patches.handed_over import handed_over

NAME = "commit_in_step"

_original_commit_tps = faust_consumer.Consumer._commit_tps


async def _commit_tps_in_step(self: Any, tps: Any, start_new_transaction: bool) -> bool:
    """faust's commit, once the table writes before it reached the client; with the app's
    ``commit_barrier`` (exactly_once), while no message is being handled: the offsets taken
    cover every output in the transactions committed with them."""
    barrier = getattr(self.app, "commit_barrier", None)
    async with barrier if barrier is not None else contextlib.nullcontext():
        await handed_over(self.app.producer.buffer)
        committed: bool = await _original_commit_tps(self, tps, start_new_transaction)
        return committed


def apply() -> None:
    faust_consumer.Consumer._commit_tps = _commit_tps_in_step  # type: ignore[method-assign]
