"""Each booking's data key (#46), wiring: made when the booking is first stored with
key-encryption keys at hand, sent on ``booking.keys.v1`` before the state it seals, kept
wrapped in the booking's record, and destroyed when the booking retires (a record with no
key, which compaction leaves as the only one: crypto-shredding). The person on
``booking.state.v1`` is sealed with it once, when it comes in clear (a ``booking.opened``),
and the record keeps that same sealed value: the booking service never opens it, its rules
only copy it. Without KEKs nothing here does anything."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.booking_keys import BookingKey, BookingKeyData
from schemas.booking_state import BookingState
from schemas.envelope import KEY_SEPARATOR
from schemas.jail_booking import BookingOpened, JailEvent, Person
from schemas.sealed import SealedMessage, SealedValue
from services.booking.records import BookingRecord
from services.core.clock import Clock
from services.core.field_crypto import Keyring, KeyUnavailable, Tampered, open_person, seal
from services.ops import events
from services.ops.logging import get_logger
from services.streams.output import Output

log = get_logger(__name__)


class BookingKeys:
    def __init__(self, keyring: Keyring | None, topic: Output, clock: Clock) -> None:
        self.keyring = keyring
        self.topic = topic
        self.clock = clock

    async def keyed(self, key: str, record: BookingRecord) -> BookingRecord:
        """``record`` with its data key: made and sent now when it has none (a new booking,
        or one from before KEKs were set)."""
        if self.keyring is None or record.data_keys:
            return record
        made, wrapped = self.keyring.new_key(key)
        made_now = self._message(key, made.kid, BookingKeyData(key=wrapped))
        await self.topic.send(key.encode(), made_now)
        log.debug(events.BOOKING_KEY_MADE, kid=made.kid, kek_id=wrapped.kek_id)
        return record.model_copy(update={"data_keys": (wrapped,)})

    def opened(self, key: str, event: JailEvent) -> JailEvent:
        """``event`` with a person the intake sealed inline opened, for the rules to copy and
        ``sealed`` to seal under the booking's own key. ``KeyUnavailable`` or ``Tampered``
        when it does not open (never a value of it in the message)."""
        if not isinstance(event, BookingOpened) or not isinstance(event.data.person, SealedMessage):
            return event
        if self.keyring is None:
            raise KeyUnavailable("the intake sealed the person and this service has no KEK file")
        try:
            person = Person.model_validate(open_person(event.data.person, key, self.keyring.keks))
        except ValidationError:
            raise Tampered("the person the intake sealed is not a person") from None
        data = event.data.model_copy(update={"person": person})
        return event.model_copy(update={"data": data})

    def sealed(self, key: str, message: BookingState, record: BookingRecord) -> BookingState:
        """The state as it is sent: its person sealed with the booking's data key."""
        person = message.data.person
        if self.keyring is None or not record.data_keys or isinstance(person, SealedValue):
            return message
        data_key = self.keyring.data_key(key, record.data_keys[-1])
        closed = seal(person.model_dump(mode="json"), key, "person", data_key)
        data = message.data.model_copy(update={"person": closed})
        return message.model_copy(update={"data": data})

    async def destroy(self, key: str) -> None:
        """The booking retired: its key replaced by none (and forgotten here)."""
        if self.keyring is None:
            return
        destroyed = self._message(key, "destroyed", BookingKeyData(key=None))
        await self.topic.send(key.encode(), destroyed)
        self.keyring.forget(key)
        log.info(events.BOOKING_KEY_DESTROYED)

    def _message(self, key: str, what: str, data: BookingKeyData) -> BookingKey:
        jurisdiction, booking_id = key.split(KEY_SEPARATOR, 1)
        return BookingKey(
            event_id=f"{key}#key-{what}",
            occurred_at=self.clock.now(),
            jurisdiction=jurisdiction,
            booking_id=booking_id,
            data=data,
        )
