"""A booking driven through the real topics, as a jail and an agency would drive it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.topics import AGENCY_REQUESTS, JAIL_BOOKING
from tests import factories as f
from tests.support.topics import KafkaHelper, Record

H = timedelta(hours=1)


def now() -> datetime:
    return datetime.now(UTC)


class Booking:
    """One booking driven through the real topics."""

    def __init__(self, kafka: KafkaHelper) -> None:
        self.kafka = kafka
        self.id = f"sch-{uuid.uuid4().hex[:10]}"
        self.key = f"{f.JURISDICTION}/{self.id}"

    async def jail(self, document: dict[str, Any]) -> None:
        await self.kafka.publish(JAIL_BOOKING.name, document)

    async def open(self) -> None:
        booked = (now() - H).isoformat()
        await self.jail(
            f.opened(booking_id=self.id, data={"booked_at": booked}, occurred_at=booked)
        )

    async def schedule(self, at: datetime) -> None:
        await self.jail(f.scheduled(at.isoformat(), booking_id=self.id))

    async def unschedule(self) -> None:
        await self.jail(f.unscheduled(booking_id=self.id))

    async def release(self) -> None:
        await self.jail(f.released(now().isoformat(), booking_id=self.id))

    async def request(
        self, request_id: str = "ice-1", agency: str = "dhs-ice", hours: int | None = None
    ) -> None:
        data: dict[str, Any] = {"request_id": request_id, "agency": agency}
        if hours:
            data["notice_hours"] = hours
        await self.kafka.publish(
            AGENCY_REQUESTS.name,
            f.envelope(
                "notice_request.received", data, booking_id=self.id, occurred_at=now().isoformat()
            ),
        )

    async def withdraw(self, request_id: str = "ice-1") -> None:
        await self.kafka.publish(
            AGENCY_REQUESTS.name,
            f.envelope(
                "notice_request.withdrawn",
                {"request_id": request_id, "reason": "lifted"},
                booking_id=self.id,
                occurred_at=now().isoformat(),
            ),
        )

    def mine(self, record: Record) -> bool:
        return record.key == self.key


def kinds(alerts: list[Record]) -> list[str]:
    return [a.value["data"]["kind"] for a in alerts]


def flagging(
    booking_id: str, release_at: datetime, agency: str = "dhs-ice"
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, document) of a flagged booking: the jail's booking.opened, the agency's
    request, and the jail's release at ``release_at``."""
    booked = (now() - H).isoformat()
    request = {"request_id": "ice-1", "agency": agency}
    received = f.envelope("notice_request.received", request, booking_id=booking_id)
    return [
        (JAIL_BOOKING.name, f.opened(booking_id=booking_id, data={"booked_at": booked})),
        (AGENCY_REQUESTS.name, received),
        (JAIL_BOOKING.name, f.scheduled(release_at.isoformat(), booking_id=booking_id)),
    ]
