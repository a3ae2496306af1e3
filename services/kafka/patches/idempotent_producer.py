"""Idempotent producers outside transactions (``idempotent_producer``).

Defect (a limit, not a bug): faust enables ``enable_idempotence`` only for its transactional
producers; with ``RELEASEWATCH_PRODUCER_IDEMPOTENCE`` (on by default on Apache Kafka) its
ordinary producer gets it too, as Kafka's Java producer has by default since 3.0.
Reproducer: ``tests/integration/test_booking_service.py`` reads the broker's log: the state's
batches carry a producer id only with this. Applies to: faust-streaming 0.15.x.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

from services.kafka.patches.internals import app_tuning

NAME = "idempotent_producer"

_original_settings_extra = faust_aiokafka.Producer._settings_extra


def _settings_extra(self: Any) -> Mapping[str, Any]:
    extra = dict(_original_settings_extra(self))
    if app_tuning(self.app).idempotent:
        extra.update(enable_idempotence=True, acks="all")
    return extra


def apply() -> None:
    faust_aiokafka.Producer._settings_extra = _settings_extra  # type: ignore[method-assign]
