"""faust's JSON bytes cut to their length (``compact_json``).

Defect: faust serializes table keys and values, and its own topics' messages, with orjson
when it is installed (``faust.utils.json.dumps``), and orjson 3.13 returns bytes whose
allocation is far larger than their length: 4 KiB for a 40-byte key, 32 KiB for a 3 KB
record, 64 KiB for 5 KB (tracemalloc; ``tests/unit/infrastructure/test_compact_json.py``).
faust keeps such bytes for a while: its RocksDB store's key index holds the last 1,000 keys
read of each table (4 MiB), and a changelog record holds its key and value until the broker
acknowledges it. memray on the notification worker in the ordered burst of 10,000 (#47)
found 13 MiB of them at its peak, for records of a few KB. Here each is copied to bytes of
its own length (a copy of a few KB, well under a microsecond). Applies to: faust-streaming
0.15 with orjson 3.13 (``constraints.txt``); the copy is harmless where orjson sizes its
output exactly.
"""

from __future__ import annotations

from typing import Any

from faust.utils import json as faust_json

NAME = "compact_json"

_original_dumps = faust_json.dumps


def _dumps(obj: Any, *args: Any, **kwargs: Any) -> Any:
    data = _original_dumps(obj, *args, **kwargs)
    return bytes(memoryview(data)) if isinstance(data, bytes) else data


def apply() -> None:
    faust_json.dumps = _dumps
