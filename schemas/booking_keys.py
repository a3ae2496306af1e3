"""``booking.keys.v1``: each booking's data key, wrapped (#46). The booking service makes the
key when it first meets the booking and seals the person with it on ``booking.state.v1``;
the notification service reads it here to open the person for the agency's notice. When
the booking is retired the key is destroyed: a record with no key, which compaction makes
the only one left, and every copy of the person sealed with it is unreadable for good
(crypto-shredding)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.envelope import Envelope, Payload
from schemas.sealed import WrappedDataKey


class BookingKeyData(Payload):
    key: WrappedDataKey | None = Field(
        description="the data key, wrapped; null once destroyed (the booking retired)"
    )


class BookingKey(Envelope):
    type: Literal["booking.key"] = "booking.key"
    data: BookingKeyData
