"""Re-read messages delivered (``read_offset_drop``).

Defect: faust keeps, per partition, the offset it last handed out and drops any message below
it. A seek back (the gap guard's, or faust's own after recovery) lowers that offset, but a
batch fetched before the seek is still being handed out and raises it again, so the re-read
messages are dropped, and on the next seek the same happens. No upstream issue found.
Reproducer: ``tests/unit/infrastructure/test_read_offset_drop.py`` drives faust's own fetch
loop (``Consumer._drain_messages``): a seek back to 5 while 10 of a batch 10-13 is handled,
then 5-13 served again; faust as shipped hands out 10-13 and 13, and drops 5-12 for good.
First seen under a kill -9 during a load of 60,000 bookings (bench.national, 2324b87: the
guard waited on all 8 booking.state partitions for ~1,200 messages each that never came).
On 9db900a the same bench with ``BENCH_FIXES_OFF=read_offset_drop`` lost nothing in three
runs (caught up 19-23 s, as with the patch): the race needs a seek while a batch is being
handed out, which the pipeline's seeks now rarely meet; the loop above still has it.
Reading the offset as "unknown" turns the drop off, and with it faust's gap filling;
repeats are delivered, and the gap guard skips or holds them, in offset order.
Applies to: faust-streaming 0.15.x, any broker.
"""

from __future__ import annotations

from typing import Any

from faust.transport import consumer as faust_consumer

NAME = "read_offset_drop"


class _NoReadOffsets(dict):
    """faust's read offsets, always read as unknown: no message is dropped as below it."""

    def __getitem__(self, key: Any) -> None:
        return None


_original_consumer_init = faust_consumer.Consumer.__init__


def _consumer_init(self: Any, *args: Any, **kwargs: Any) -> None:
    _original_consumer_init(self, *args, **kwargs)
    self._read_offset = _NoReadOffsets()


def apply() -> None:
    faust_consumer.Consumer.__init__ = _consumer_init  # type: ignore[method-assign]
