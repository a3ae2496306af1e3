"""The clients' tuning comes from the settings, typed; an unknown fix name stops the start."""

from __future__ import annotations

import pytest

from services.kafka.client.tuning import FIX_SWITCHES, parse_fixes_off, tuning_of
from services.settings import Settings


def settings(**values: object) -> Settings:
    return Settings.model_validate({"broker_url": "kafka://127.0.0.1:9092", **values})


def test_apache_kafka_keeps_the_clients_defaults() -> None:
    tuning = tuning_of(settings())
    assert (tuning.fetch_wait_ms, tuning.fetch_wait_ceiling_ms) == (None, None)
    assert not tuning.exactly_once and not tuning.fixes_off
    assert tuning.idempotent  # as Kafka's own producer since 3.0


def test_tansu_gets_its_short_adaptive_wait() -> None:
    tuning = tuning_of(settings(broker_flavor="tansu"))
    assert (tuning.fetch_wait_ms, tuning.fetch_wait_ceiling_ms) == (50, 2000)


def test_exactly_once_and_idempotence_reach_the_tuning() -> None:
    tuning = tuning_of(settings(processing_guarantee="exactly_once", producer_idempotence=True))
    assert tuning.exactly_once and tuning.idempotent


@pytest.mark.parametrize("name", FIX_SWITCHES)
def test_each_fix_can_be_switched_off_by_name(name: str) -> None:
    assert tuning_of(settings(faust_fixes_off=f" {name} ,")).fixes_off == {name}


def test_an_unknown_fix_name_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown \\['gap_guards'\\]; known: seek_beginning"):
        tuning_of(settings(faust_fixes_off="gap_guards"))
    assert parse_fixes_off("") == frozenset()
