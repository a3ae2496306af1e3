"""What the intake's edges (the HTTP endpoints, the roster poller) publish with: events on
``jail.booking.v1`` (agencies' requests on ``agency.requests.v1``), acknowledged by every
in-sync replica before the caller says "stored", and refused input kept on ``deadletter.v1``
with the reasons."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.deadletter import FieldError
from schemas.topics import DEADLETTER, JAIL_BOOKING
from services.core.field_crypto import KeyServiceUnavailable, seal_person
from services.kafka.client.security import stored_producer_options
from services.ops.metrics import Metrics
from services.settings import Settings
from services.streams.codec import RawMessage, dead_letter
from services.streams.sealing import keyring_of

# What a broker that cannot take the events raises at the caller, or the HSM that seals the
# person (#46): nothing was stored for sure, the sender sends again
UNAVAILABLE = (KafkaError, OSError, TimeoutError, KeyServiceUnavailable)


class Publisher:
    def __init__(self, settings: Settings, service: str, metrics: Metrics) -> None:
        self.settings = settings
        self.service = service
        self.metrics = metrics
        self.producer: AIOKafkaProducer | None = None
        # What a jail sent and the intake refused names the person: sealed on the dead letter
        ring = keyring_of(settings, service)
        self.keks = ring.keks if ring else None

    async def start(self) -> None:
        # "stored" means the leader and its in-sync followers have it
        self.producer = AIOKafkaProducer(**stored_producer_options(self.settings))
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    @property
    def started(self) -> bool:
        return self.producer is not None

    async def events(
        self, documents: Sequence[dict[str, Any]], timeout: float, topic: str = JAIL_BOOKING.name
    ) -> None:
        """Every event sent and acknowledged within ``timeout``, or one of ``UNAVAILABLE``.
        Given up on, a send may still land later: the caller's input sent again gives the
        same event ids, and the booking service drops the second copy."""
        await asyncio.wait_for(self._send(documents, topic), timeout)

    async def _send(self, documents: Sequence[dict[str, Any]], topic: str) -> None:
        assert self.producer is not None
        deliveries = []
        for document in documents:
            booking = f"{document['jurisdiction']}/{document['booking_id']}"
            value = json.dumps(self.sealed(booking, document)).encode()
            key = booking.encode()
            deliveries.append(await self.producer.send(topic, value, key=key))
        await asyncio.gather(*deliveries)
        self.metrics.messages_out.labels(self.service, topic).inc(len(documents))

    def sealed(self, booking: str, document: dict[str, Any]) -> dict[str, Any]:
        """A ``booking.opened`` with its person sealed inline (#46): jail.booking.v1 is kept
        forever, and the booking service opens it to seal it under the booking's own key."""
        data = document.get("data")
        if self.keks is None or document.get("type") != "booking.opened" or not data:
            return document
        person = seal_person(data["person"], booking, self.keks).model_dump()
        return {**document, "data": {**data, "person": person}}

    async def dead_letter(self, raw: RawMessage, errors: list[FieldError], now: datetime) -> bool:
        """``raw`` kept with the reasons; False when the broker did not take it (the caller's
        answer or log stands anyway)."""
        assert self.producer is not None
        try:
            letter = dead_letter(raw, errors, service=self.service, now=now, keks=self.keks)
            await self.producer.send_and_wait(
                DEADLETTER.name, letter.model_dump_json().encode(), key=raw.key
            )
        except UNAVAILABLE:
            return False
        self.metrics.dead_lettered.labels(self.service, letter.reason.value).inc()
        return True
