"""Writes who looked at what (``ops.access.v1``): each event acknowledged by every in-sync
replica before the look is answered. A look that cannot be recorded is refused (503): CJI
is not shown unaudited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.access import AccessAction, AccessEvent, AccessOutcome
from schemas.topics import ACCESS
from services.kafka.client.security import stored_producer_options
from services.ops import events
from services.ops.logging import get_logger
from services.settings import Settings

log = get_logger(__name__)
TIMEOUT = 10.0  # s


class AccessLog:
    def __init__(self, settings: Settings, component: str) -> None:
        self.settings = settings
        self.component = component
        self.producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self.producer = AIOKafkaProducer(
            **stored_producer_options(self.settings), request_timeout_ms=int(TIMEOUT * 1000)
        )
        await self.producer.start()

    async def stop(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def record(
        self,
        action: AccessAction,
        subject: str,
        outcome: AccessOutcome,
        resource: str,
        source: str,
        reason: str | None = None,
    ) -> bool:
        """The event written and acknowledged; False when the broker did not take it."""
        event = AccessEvent(
            event_id=str(uuid.uuid4()),
            at=datetime.now(UTC),
            component=self.component,
            action=action,
            subject=subject or "-",
            outcome=outcome,
            reason=reason,
            resource=resource,
            source=source,
        )
        if self.producer is None:
            return False
        try:
            await self.producer.send_and_wait(
                ACCESS.name, event.model_dump_json().encode(), key=event.subject.encode()
            )
        except (KafkaError, OSError, TimeoutError) as exc:
            log.error(events.ACCESS_NOT_RECORDED, action=action.value, error=repr(exc))
            return False
        return True
