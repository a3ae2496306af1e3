"""RocksDB tables on local disk (RELEASEWATCH_STORE=rocksdb, the default): a worker stopped
cleanly finds its tables again; one killed with kill -9 distrusts them and rebuilds from the
changelog. Either way the deadline armed before the restart fires after it."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.topics import NOTICE_ALERTS, RELEASE_SCHEDULE
from tests.support.bookings import Booking, now
from tests.support.poll import until
from tests.support.topics import KafkaHelper
from tests.support.workers import Worker, all_ready, log_events, total

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
S = timedelta(seconds=1)


def said_since(worker: Worker, event: str, since: float) -> list[dict[str, Any]]:
    return [fields for stamp, fields in log_events(worker.log_path, event) if stamp >= since]


async def test_local_tables_survive_a_clean_restart_and_are_rebuilt_after_a_kill(
    start_service: Any, kafka: KafkaHelper
) -> None:
    start_service("booking")
    worker = start_service("scheduling")
    await all_ready([worker])
    schedules = await kafka.watch(RELEASE_SCHEDULE.name)
    alerts = await kafka.watch(NOTICE_ALERTS.name)
    booking = Booking(kafka)
    await booking.open()
    await booking.request()
    # Due in 45 s: both restarts take about 12 s here (the alert is checked to come after).
    await booking.schedule(now() + 48 * H + 45 * S)
    await schedules.wait_for_unique(
        lambda r: booking.mine(r) and r.value["data"]["status"] == "scheduled", 1, 60
    )
    await until(lambda: log_events(worker.log_path, "deadline_armed"), 30, "the deadline armed")
    slot = worker_slot(worker)
    # Each partition's database was opened with the memory budget (RELEASEWATCH_STORE_CACHE_MB,
    # 128 MiB over 4 partitions), not faust's 3 x 64 MiB write buffers and 2 GiB cache.
    [options, *_] = sorted(slot.rglob("OPTIONS-*"))
    assert "write_buffer_size=4194304" in options.read_text()
    assert "max_write_buffer_number=2" in options.read_text()
    # What the databases hold in memory is on /metrics (the record above is in a memtable).
    held = total(worker.metrics(), "releasewatch_store_memory_bytes", service="scheduling")
    assert 0 < held <= 128 * 2**20, held

    worker.stop()  # SIGTERM: faust flushes, commits, then the slot is marked clean
    assert json.loads((slot / "identity.json").read_text())["clean"] is True
    restarted = time.time()
    worker.start()
    await all_ready([worker])
    [kept] = said_since(worker, "local_state_kept", restarted)
    assert kept["path"] == str(slot)
    assert kept["tables"] >= 1  # its partitions' RocksDB tables, found again
    assert not said_since(worker, "local_state_rebuilt", restarted)

    worker.kill()  # kill -9: the tables may hold writes their changelog never got
    assert json.loads((slot / "identity.json").read_text())["clean"] is False
    killed = time.time()
    worker.start()
    await all_ready([worker])
    [rebuilt] = said_since(worker, "local_state_rebuilt", killed)
    assert rebuilt["reason"].startswith("unclean shutdown"), rebuilt

    # Rebuilt from the changelog, the deadline armed before both restarts still fires.
    [alert] = await alerts.wait_for_unique(booking.mine, 1, 120, "event_id", "alert")
    assert alert.value["data"]["kind"] == "notice_due"
    assert alert.timestamp > killed, "the deadline fell due before the restarts were done"


def worker_slot(worker: Worker) -> Path:
    """The first worker of a service on its data dir takes slot 0."""
    return Path(worker.env["RELEASEWATCH_DATA_DIR"]) / "state" / f"{worker.name}-0"
