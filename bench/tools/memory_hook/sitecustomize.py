"""Where a worker's memory goes during a burst (#47): put this directory first on PYTHONPATH
and name a service and a folder; that service's workers then, every few seconds, either

- ``BENCH_MEMORY_HOOK=trim``: note their resident memory, hand freed memory back to the
  system (glibc's ``malloc_trim``) and note it again (``<folder>/trim-<pid>.rss``: time,
  MiB before, MiB after), telling memory in use from memory freed but kept; or
- ``BENCH_MEMORY_HOOK=tracemalloc``: dump a tracemalloc snapshot of the Python heap
  (``<folder>/<pid>-<n>.snap``; ``BENCH_MEMORY_FRAMES`` frames each, 1 unless told), to
  compare with ``tracemalloc.Snapshot.load`` (several times slower while tracing); or
- ``BENCH_MEMORY_HOOK=memray``: record every allocation, native ones too (RocksDB's, the
  clients'), with memray (``<folder>/memray-<pid>.bin``; read it with ``python -m memray
  summary|tree|flamegraph``: what was held at the high-water mark, by where it was allocated).

    BENCH_MEMORY_HOOK=trim BENCH_MEMORY_SERVICE=notification BENCH_MEMORY_OUT=/tmp/mem \\
    PYTHONPATH=bench/tools/memory_hook .venv/bin/python -m bench.burst 10000 --mode ordered

Used for the figures under "Session 31" in bench/README.md; never loaded otherwise.
"""

import ctypes
import os
import sys
import threading
import time
import tracemalloc

EVERY = 3.0  # seconds


def _rss_mib() -> float:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _trim(folder: str) -> None:
    libc = ctypes.CDLL("libc.so.6")
    with open(f"{folder}/trim-{os.getpid()}.rss", "a") as out:
        while True:
            time.sleep(EVERY)
            before = _rss_mib()
            libc.malloc_trim(0)
            out.write(f"{time.time():.1f} {before:.0f} {_rss_mib():.0f}\n")
            out.flush()


def _snapshots(folder: str) -> None:
    number = 0
    while True:
        time.sleep(EVERY)
        tracemalloc.take_snapshot().dump(f"{folder}/{os.getpid()}-{number:03d}.snap")
        number += 1


def _install() -> None:
    hook, folder = os.environ.get("BENCH_MEMORY_HOOK"), os.environ.get("BENCH_MEMORY_OUT")
    service = os.environ.get("BENCH_MEMORY_SERVICE", "notification")
    if not hook or not folder or "service" not in sys.argv or service not in sys.argv:
        return
    os.makedirs(folder, exist_ok=True)
    if hook == "memray":
        import atexit

        import memray

        # BENCH_MEMORY_AGGREGATE=1: memray's aggregated file (what is held, not every
        # allocation): small enough for a long burst, and read as fast.
        aggregate = os.environ.get("BENCH_MEMORY_AGGREGATE") == "1"
        form = (
            memray.FileFormat.AGGREGATED_ALLOCATIONS
            if aggregate
            else memray.FileFormat.ALL_ALLOCATIONS
        )
        tracker = memray.Tracker(
            f"{folder}/memray-{os.getpid()}.bin", native_traces=True, file_format=form
        )
        tracker.__enter__()
        atexit.register(tracker.__exit__, None, None, None)
        return
    if hook == "tracemalloc":
        tracemalloc.start(int(os.environ.get("BENCH_MEMORY_FRAMES", "1")))
        target = _snapshots
    else:
        target = _trim
    threading.Thread(target=target, args=(folder,), daemon=True, name="memory-hook").start()


_install()
