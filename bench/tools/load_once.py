"""One scheduling worker loads N bookings (one in ten flagged) from a backlog on the embedded
broker: prints events/s, peak resident memory and the watchdog's seeks, one JSON line. For
A/B runs of a client setting from two worktrees, alternated (the machine is noisy):

    cd <worktree> && PYTHONPATH=. .venv/bin/python bench/tools/load_once.py 40000 TAG
"""

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.firing import armed_now
from bench.harness import embedded
from bench.national import PARTITIONS, population, publish, worker_env
from services.kafka.admin.topics import ensure_topics
from tests.support.workers import Worker, all_ready, total


async def main(n, tag):
    with embedded() as broker, tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / f"load-{tag}.log"
        await ensure_topics(broker.bootstrap, PARTITIONS)
        env = worker_env(broker.url, Path(folder) / "scheduling")
        w = Worker("scheduling", env, log).start()
        try:
            await all_ready([w])
            load = population(0, n - n // 10, n // 10)
            started = time.perf_counter()
            await publish(broker.bootstrap, load)
            rss = []
            while True:
                rss.append(w.rss_bytes())
                if armed_now(w) >= n // 10 and total(w.metrics(), "releasewatch_consumer_lag") == 0:
                    break
                if time.perf_counter() - started > 1800:
                    break
                await asyncio.sleep(5)
            took = time.perf_counter() - started
            store = total(w.metrics(), "releasewatch_store_memory_bytes")
        finally:
            w.stop()
        text = log.read_text()
    print(
        json.dumps(
            {
                "tag": tag,
                "n": n,
                "seconds": round(took, 1),
                "events": len(load),
                "per_s": round(len(load) / took),
                "rss_max_mib": max(rss) >> 20,
                "rss_end_mib": rss[-1] >> 20,
                "store_mib": int(store) >> 20,
                "stall_seeks": text.count("input_stalled_seek_back"),
                "gap_seeks": text.count("input_gap_seek_back"),
            }
        )
    )


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
