"""The defect ``read_offset_drop`` answers, reproduced on faust's own fetch loop
(``faust.transport.consumer.Consumer._drain_messages``, faust-streaming 0.15.x).

A seek back lowers faust's read offset, but the rest of a batch fetched before the seek is
still being handed out and raises it again; the messages read again after the seek are then
dropped as "below the read offset". Here: a batch 10-13 is being handed out, the agent seeks
back to 5 while it holds 10 (as the gap guard does when it finds a hole), and the broker then
serves 5-13 again. faust as shipped drops 5-12; with the patch's read offsets every re-read
message reaches the agent (repeats are the gap guard's to skip, in offset order).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport import consumer as faust_consumer

from services.kafka.patches import read_offset_drop

TP = ("booking.state.v1", 3)


class Stopped:
    def __init__(self) -> None:
        self.stopped = False

    def is_set(self) -> bool:
        return self.stopped


async def delivered_after_a_seek_back(read_offsets: Any) -> list[int]:
    """The offsets faust hands to the agent: 10-13 fetched, a seek to 5 while 10 is handled,
    then 5-13 fetched again."""
    handed: list[int] = []
    batches = [list(range(10, 14)), list(range(5, 14))]
    stop = Stopped()

    async def getmany(timeout: float):  # one fetched batch per call, as aiokafka's
        if not batches:
            stop.stopped = True
            return
        for offset in batches.pop(0):
            yield TP, SimpleNamespace(offset=offset, topic=TP[0], key=None, value=None)

    async def callback(message: Any) -> None:
        handed.append(message.offset)
        if message.offset == 10 and len(handed) == 1:
            await consumer.seek(TP, 5)  # the agent's seek back, mid-batch

    async def seek(tp: Any, offset: int) -> None:
        consumer._read_offset[tp] = offset  # what Consumer.seek does after aiokafka's seek

    async def wait_first(*coroutines: Any) -> None:
        first, *rest = coroutines
        for other in rest:
            other.close()
        await first

    async def no_sleep(*_: Any) -> None:
        await asyncio.sleep(0)

    async def add_gap(*_: Any) -> None:
        return None

    consumer = SimpleNamespace(
        callback=callback,
        getmany=getmany,
        seek=seek,
        _stopped=stop,
        _read_offset=read_offsets,
        diag=SimpleNamespace(set_flag=lambda f: None, unset_flag=lambda f: None),
        _commit_every=None,
        app=SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True)),
        sleep=no_sleep,
        should_stop=False,
        _add_gap=add_gap,
        wait_first=wait_first,
        suspend_flow=SimpleNamespace(wait=lambda: no_sleep()),
        consumer_stopped_errors=(),
        transport=SimpleNamespace(app=SimpleNamespace(should_stop=False)),
        log=SimpleNamespace(dev=lambda *args, **kwargs: None),
    )
    fetcher = SimpleNamespace(_stopped=Stopped())
    await faust_consumer.Consumer._drain_messages(consumer, fetcher)
    return handed


async def test_faust_as_shipped_drops_the_messages_read_again_after_a_seek_back() -> None:
    handed = await delivered_after_a_seek_back(defaultdict(lambda: None))
    assert handed == [10, 11, 12, 13, 13]  # 5-12 dropped: never handled, a hole for good


async def test_with_the_patch_every_message_read_again_reaches_the_agent() -> None:
    handed = await delivered_after_a_seek_back(read_offset_drop._NoReadOffsets())
    assert handed == [10, 11, 12, 13, *range(5, 14)]
