"""The fault suite's broker mode (`make chaos MODE=brokers`): on the three-node cluster
(replication factor 3, min ISR 2, acks=all), kill -9 one broker during the paced replay and
start it again, taking turns: the broker leading most partitions of the busy topics, then the
active controller (the KRaft quorum's leader). The workers are never killed or restarted:
they must ride through each failover on their own. A broker is killed only once every
partition is back in sync, so two are never down together (that would stop every write,
min ISR 2, which is a stop, not a loss)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter

from aiokafka import AIOKafkaConsumer

from bench.chaos_verdict import Fault
from services.kafka.broker.apache import EmbeddedKafka
from tests.support.poll import until

BUSY_TOPICS = ("jail.booking.v1", "booking.state.v1", "notice.alerts.v1")
BETWEEN = (12.0, 20.0)  # s from one broker back in sync to the next kill
DOWN_FOR = (4.0, 10.0)  # s a killed broker stays down


async def _metadata(bootstrap: str) -> tuple[dict[int, int], bool]:
    """(partitions of the busy topics each broker leads, every partition fully in sync)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
    finally:
        await consumer.stop()
    leads: Counter[int] = Counter()
    in_sync = True
    for topic in cluster.topics():
        for partition in cluster._partitions.get(topic, {}).values():
            if topic in BUSY_TOPICS and partition.leader >= 0:
                leads[partition.leader] += 1
            in_sync &= set(partition.isr) == set(partition.replicas)
    return dict(leads), in_sync


async def inject_broker_faults(
    broker: EmbeddedKafka,
    faults: list[Fault],
    started: float,
    stop: asyncio.Event,
    seed: int,
) -> None:
    rng = random.Random(seed + 11)
    target = "leader"
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(*BETWEEN))
        if stop.is_set():
            break

        async def in_sync() -> bool:
            return (await _metadata(broker.bootstrap))[1]

        await until(in_sync, 180, "every partition back in sync", every=1.0)
        if target == "leader":
            leads, _ = await _metadata(broker.bootstrap)
            node = max(leads, key=lambda n: leads[n]) if leads else 1
        else:
            node = broker.quorum_leader() or 1
        pid = broker.nodes[node - 1].process.pid if broker.nodes[node - 1].process else 0
        fault = Fault(time.perf_counter() - started, f"broker ({target})", node, pid)
        broker.kill_node(node)
        faults.append(fault)
        await asyncio.sleep(rng.uniform(*DOWN_FOR))
        await asyncio.to_thread(broker.start_node, node, 120.0)
        fault.ready_again = time.perf_counter() - started
        target = "controller" if target == "leader" else "leader"
