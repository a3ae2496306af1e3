"""``compact_json``: what faust serializes holds no more memory than its length."""

import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from faust.serializers import codecs
from faust.utils import json as faust_json

from services.kafka.patches import compact_json


def held_per_item(make: Callable[[int], Any], count: int = 200) -> float:
    """Bytes still allocated per item made and kept, as tracemalloc counts them."""
    tracemalloc.start()
    try:
        kept = [make(n) for n in range(count)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept
    return held / count


def record(size: int) -> Callable[[int], dict[str, Any]]:
    return lambda n: {"key": f"ca-alameda/2027-{n:06d}", "notes": "x" * size}


@pytest.mark.parametrize("size", [0, 500, 3000, 20000])
def test_faust_json_is_the_same_and_holds_about_its_length(size: int) -> None:
    compact_json.apply()
    objects = [record(size)(n) for n in range(200)]
    assert [faust_json.dumps(o) for o in objects] == [
        compact_json._original_dumps(o) for o in objects
    ]
    encoded = faust_json.dumps(objects[0])
    held = held_per_item(lambda n: faust_json.dumps(objects[n]))
    assert held < len(encoded) + 200


def test_the_defect_orjson_keeps_far_more_than_the_length() -> None:
    """Why the patch exists (orjson 3.13): were this to fail, orjson sizes its output exactly
    and the patch may go."""
    objects = [record(3000)(n) for n in range(200)]
    held = held_per_item(lambda n: compact_json._original_dumps(objects[n]))
    assert held > 2 * len(compact_json._original_dumps(objects[0]))


def test_table_keys_and_values_go_through_it() -> None:
    compact_json.apply()
    key = "ca-alameda/2027-000123"
    held = held_per_item(lambda n: codecs.dumps("json", f"{key}-{n}"))
    assert held < 200  # a key of ~30 bytes, not 4 KiB
    assert codecs.loads("json", codecs.dumps("json", {"k": key})) == {"k": key}


def test_installed_with_the_other_patches() -> None:
    from services.kafka import patches

    assert compact_json in patches.ALWAYS
    patches.apply()
    assert faust_json.dumps is compact_json._dumps
