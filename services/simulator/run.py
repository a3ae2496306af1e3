"""Publish the simulator's traffic to the broker at a steady rate (``releasewatch simulate``)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaProducer

from services.core.clock import SystemClock
from services.kafka.client.clients import running
from services.kafka.client.security import client_options, producer_options
from services.ops import events
from services.ops.logging import get_logger
from services.settings import Settings
from services.simulator.generator import JailSimulator, SimulatorConfig

log = get_logger(__name__)


async def publish(
    settings: Settings, rate: float, count: int | None, config: SimulatorConfig
) -> int:
    clock = SystemClock()
    simulator = JailSimulator(config, clock.now)
    producer = AIOKafkaProducer(
        **client_options(settings), **producer_options(settings), linger_ms=5
    )
    sent = 0
    started = time.monotonic()
    async with running(producer):
        for outgoing in simulator.events():
            if count is not None and sent >= count:
                break
            await producer.send(outgoing.topic, key=outgoing.key, value=outgoing.value)
            sent += 1
            if sent % 500 == 0:
                log.info(events.SIMULATOR_PROGRESS, sent=sent)
            # Pace to the rate: sleep until this event's slot.
            delay = started + sent / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await producer.flush()
    log.info(events.SIMULATOR_DONE, sent=sent, seconds=round(time.monotonic() - started, 1))
    return sent


def run_simulator(
    settings: Settings,
    rate: float,
    count: int | None,
    seed: int | None,
    demo: bool = False,
    flag_rate: float | None = None,
) -> int:
    config = SimulatorConfig(seed=seed, demo=demo)
    if flag_rate is not None:
        config.flag_rate = flag_rate
    try:
        asyncio.run(publish(settings, rate, count, config))
    except KeyboardInterrupt:
        return 0
    return 0
