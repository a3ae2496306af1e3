"""A bare faust relay, for ``bench.batched``: what faust's own reading costs per message,
with no releasewatch code. One agent reads the jail events and writes each message's bytes
to another topic through faust's producer (as the services' outputs do), either one event
at a time (``each``: ``stream.events()``, as the services read) or in faust's batches
(``take``: ``stream.take_events(500, within=0.05)``). Plain faust-streaming, memory store,
no web server. After COUNT messages it writes its figures (rate from its first message,
CPU its process used per message) to RESULT as JSON and runs on until stopped.

    python -m bench.tools.faust_relay BROKER_URL each|take COUNT RESULT
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust

from bench.harness import PARTITIONS
from schemas.topics import JAIL_BOOKING
from services.streams.app import MAX_POLL_RECORDS

OUT = "bench.faust-out"


class Progress:
    def __init__(self, count: int, result: Path) -> None:
        self.count, self.result = count, result
        self.seen = 0
        self.started = self.cpu = 0.0

    def add(self, messages: int) -> None:
        if not self.seen:
            self.started, self.cpu = time.perf_counter(), time.process_time()
        before, self.seen = self.seen, self.seen + messages
        if before < self.count <= self.seen:
            seconds = time.perf_counter() - self.started
            used = time.process_time() - self.cpu
            figures = {
                "messages": self.seen,
                "seconds": seconds,
                "per_second": self.seen / seconds,
                "cpu_us_per_message": used / self.seen * 1e6,
            }
            self.result.write_text(json.dumps(figures))


def build(url: str, mode: str, progress: Progress, folder: str) -> faust.App:
    app = faust.App(
        f"bench-faust-{mode}",
        broker=url,
        store="memory://",
        datadir=folder,
        autodiscover=False,
        topic_partitions=PARTITIONS,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=MAX_POLL_RECORDS,  # as the services poll
        web_enabled=False,
        worker_redirect_stdouts=False,
    )
    source = app.topic(
        JAIL_BOOKING.name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def send(events: Sequence[Any]) -> None:
        for event in events:  # straight to faust's producer, as services.streams.output
            message = event.message
            await app.producer.send(OUT, message.key, message.value, None, None, None)

    if mode == "each":

        @app.agent(source)
        async def each(stream: Any) -> None:
            async for event in stream.events():
                await send([event])
                progress.add(1)

    else:

        @app.agent(source)
        async def take(stream: Any) -> None:
            async for events in stream.take_events(MAX_POLL_RECORDS, within=0.05):
                await send(events)
                progress.add(len(events))

    return app


def main(url: str, mode: str, count: int, result: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        app = build(url, mode, Progress(count, result), folder)
        worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
        worker.execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
