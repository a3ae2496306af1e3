"""Starting and stopping aiokafka clients so that none is left open on any path."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, TypeVar


class Client(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


C = TypeVar("C", bound=Client)


@contextlib.asynccontextmanager
async def running(client: C) -> AsyncIterator[C]:
    """``async with running(AIOKafkaConsumer(...)) as consumer:`` started, and stopped on
    every way out, a failed start included (aiokafka leaves a half-started client open,
    and Python then complains of an "Unclosed AIOKafkaConsumer" at exit)."""
    try:
        await client.start()
    except BaseException:
        with contextlib.suppress(Exception):
            await client.stop()
        raise
    try:
        yield client
    finally:
        await client.stop()
