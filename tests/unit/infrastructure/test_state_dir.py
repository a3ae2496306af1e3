"""A worker's local state directory: one slot per worker, tables kept only when trusted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rocksdict import Rdict

from services.streams.app import rocksdb_opens
from services.streams.records import MIB, rocksdb_options
from services.streams.state import IDENTITY, StateDir, claim

ME = {"app": "releasewatch-scheduling", "cluster": "c1", "partitions": 8, "store": "rocksdict"}


def opens(_: Path) -> str | None:
    return None


def with_table(state: StateDir) -> Path:
    table = state.tables / "v1" / "tables" / "scheduling-0.db"
    table.mkdir(parents=True)
    (table / "000001.sst").write_bytes(b"rows")
    return table


def test_each_worker_claims_its_own_slot_and_a_restart_finds_its_own_again(
    tmp_path: Path,
) -> None:
    first = claim(tmp_path, "scheduling", ME)
    second = claim(tmp_path, "scheduling", ME)
    other = claim(tmp_path, "notification", ME)
    assert [first.path.name, second.path.name, other.path.name] == [
        "scheduling-0",
        "scheduling-1",
        "notification-0",
    ]
    first.release()
    assert claim(tmp_path, "scheduling", ME).path.name == "scheduling-0"


def test_a_fresh_slot_has_nothing_to_distrust_and_is_marked_running(tmp_path: Path) -> None:
    state = claim(tmp_path, "scheduling", ME)
    assert state.prepare(opens) is None
    assert state.tables.is_dir()
    assert json.loads((state.path / IDENTITY).read_text()) == {**ME, "clean": False}


def test_tables_left_by_a_clean_stop_are_kept(tmp_path: Path) -> None:
    state = claim(tmp_path, "scheduling", ME)
    state.prepare(opens)
    table = with_table(state)
    state.mark_clean()
    state.release()
    again = claim(tmp_path, "scheduling", ME)
    assert again.prepare(opens) is None
    assert (table / "000001.sst").read_bytes() == b"rows"


@pytest.mark.parametrize(
    ("stored", "clean", "error", "reason"),
    [
        (ME, False, None, "unclean shutdown"),
        ({**ME, "cluster": "c2"}, True, None, "foreign: written for another cluster"),
        ({**ME, "partitions": 4}, True, None, "foreign: written for another partitions"),
        ({**ME, "app": "x", "cluster": "y"}, True, None, "foreign: written for another app, c"),
        (None, True, None, "no identity"),
        (ME, True, "Corruption: bad", "corrupt: tables/v1/tables/scheduling-0.db: Corruption"),
    ],
)
def test_tables_that_cannot_be_trusted_are_emptied_naming_why(
    tmp_path: Path, stored: dict | None, clean: bool, error: str | None, reason: str
) -> None:
    state = claim(tmp_path, "scheduling", ME)
    table = with_table(state)
    if stored is not None:
        (state.path / IDENTITY).write_text(json.dumps({**stored, "clean": clean}))
    said = state.prepare(lambda _: error)
    assert said is not None and said.startswith(reason), said
    assert not table.exists()
    assert state.tables.is_dir()


def test_rocksdb_opens_a_sound_table_and_names_a_corrupt_one(tmp_path: Path) -> None:
    path = tmp_path / "scheduling-0.db"
    db = Rdict(str(path))
    db[b"key"] = b"value"
    db.close()
    assert rocksdb_opens(path) is None
    current = path / "CURRENT"
    current.write_text("MANIFEST-999999\n")  # names a manifest that is not there
    error = rocksdb_opens(path)
    assert error is not None and "MANIFEST-999999" in error, error


@pytest.mark.parametrize(("memory_mb", "partitions"), [(128, 8), (128, 4), (8, 32), (1024, 1)])
def test_a_tables_rocksdb_memory_stays_within_its_budget(memory_mb: int, partitions: int) -> None:
    options = rocksdb_options(memory_mb, partitions)
    per_partition = options["block_cache_size"] + 2 * options["write_buffer_size"]
    assert options["max_write_buffer_number"] == 2
    assert options["driver"] == "rocksdict"
    assert options["write_buffer_size"] >= MIB and options["block_cache_size"] >= MIB
    # Within the budget, or at the floor of 3 MiB a partition when the budget is smaller.
    assert per_partition * partitions <= max(memory_mb * MIB, 3 * MIB * partitions)
    assert (
        per_partition * partitions >= memory_mb * MIB * 0.9
        or memory_mb * MIB < 3 * MIB * partitions
    )
