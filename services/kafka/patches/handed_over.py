"""Table writes handed to the client before a commit (``handed_over``).

Defect: a table write is synchronous: faust puts its changelog record in its producer buffer
and a background task hands it to the client. faust's commit flushes that buffer with
``flush_atmost``, which returns as soon as one hand-over takes longer than 0.1 s, so an offset
could be committed while its event's changelog record was still in the buffer (a kill -9 then
lost the state change, its input never read again). No upstream issue found. Reproducer:
``tests/unit/infrastructure/test_commit_in_step.py`` (faust's own flush gives up with table
writes still buffered). Here the buffer counts its hand-overs; ``commit_in_step`` waits on
them. Applies to: faust-streaming 0.15.x, any broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from faust.transport.producer import ProducerBuffer

_original_send_pending = ProducerBuffer._send_pending


async def _send_pending_counted(self: Any, fut: Any) -> None:
    """faust's hand-over of one buffered message to the client, counted (``handed_over``)."""
    self.handing += 1
    try:
        await _original_send_pending(self, fut)
    finally:
        self.handing -= 1
        self.handed += 1
        _handed_signal(self).set()


def _handed_signal(buffer: Any) -> asyncio.Event:
    signal: asyncio.Event | None = buffer.__dict__.get("handed_signal")
    if signal is None:
        signal = buffer.__dict__["handed_signal"] = asyncio.Event()
    return signal


async def handed_over(buffer: Any) -> None:
    """Every message faust's producer ``buffer`` holds now has reached the client (the buffer
    is first in, first out: wait until as many more have been handed over)."""
    target = buffer.handed + buffer.handing + buffer.size
    signal = _handed_signal(buffer)
    while buffer.handed < target and not buffer.should_stop:
        signal.clear()
        with contextlib.suppress(TimeoutError):  # look at should_stop now and then
            await asyncio.wait_for(signal.wait(), 1.0)


def apply() -> None:
    ProducerBuffer.handed = ProducerBuffer.handing = 0  # type: ignore[attr-defined]
    ProducerBuffer._send_pending = _send_pending_counted  # type: ignore[method-assign]
