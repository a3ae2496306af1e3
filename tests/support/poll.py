"""Waiting for exactly the thing asserted, with a deadline: never a bare sleep."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Condition = Callable[[], object | Awaitable[object]]


async def until(condition: Condition, timeout: float, what: str, every: float = 0.2) -> float:
    """Poll ``condition`` (a function, or a coroutine function) until it is true; return
    when it became true (perf_counter). A plain function runs in a thread, so one that reads
    a file or a URL does not hold up the event loop. Fails naming ``what``."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if inspect.iscoroutinefunction(condition):
            result = await condition()
        else:
            result = await asyncio.to_thread(condition)
        if result:
            return time.perf_counter()
        await asyncio.sleep(every)
    raise TimeoutError(f"not within {timeout:.0f}s: {what}")


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> float:
    """``until`` for a test without an event loop of its own."""
    return asyncio.run(until(condition, timeout, what, every=0.1))
