"""Person data sealed (#46), in the notification service's rules: a booking state whose person
is sealed renders nothing until the booking's data key has come and opened it (in either
order); a key read twice is a duplicate; the key destroyed (the booking retired upstream)
shrinks the record to its stub at once, with nothing personal left."""

from __future__ import annotations

import itertools
import os
from datetime import timedelta
from typing import Any

from schemas.booking_keys import BookingKey, BookingKeyData
from schemas.booking_state import BookingState
from schemas.escalations import EscalationReason
from schemas.sealed import SealedValue, WrappedDataKey
from services.core import field_crypto as fc
from services.core.outcomes import Duplicate
from services.core.policy import Policy
from services.notification import domain as rules
from services.notification import overdue
from services.notification.app import PERSONAL, opened_state, opened_with_key
from services.notification.notices import notice_id_for
from services.notification.records import NotificationRecord
from services.streams.sealing import PersonSeal
from tests.unit.notification.test_booking_copy import flagged_and_due
from tests.unit.scheduling.world import START

H = timedelta(hours=1)
ALL = Policy()
RING = fc.Keyring(fc.LocalKeks({"kek-1": os.urandom(32)}, "kek-1"))


def sealed_state(
    state: BookingState, made: tuple[fc.DataKey, WrappedDataKey] | None = None
) -> tuple[BookingState, WrappedDataKey]:
    """The state as the booking service sends it with KEKs: its person sealed (with a new
    data key, or ``made``)."""
    key, wrapped = made or RING.new_key(state.key)
    person = state.data.person
    assert not isinstance(person, SealedValue)
    closed = fc.seal(person.model_dump(mode="json"), state.key, "person", key)
    data = state.data.model_copy(update={"person": closed})
    return state.model_copy(update={"data": data}), wrapped


def key_message(state: BookingState, wrapped: WrappedDataKey | None) -> BookingKey:
    return BookingKey(
        event_id=f"{state.key}#key-{wrapped.kid if wrapped else 'destroyed'}",
        occurred_at=START,
        jurisdiction=state.jurisdiction,
        booking_id=state.booking_id,
        data=BookingKeyData(key=wrapped),
    )


def opened_with(record: NotificationRecord, wrapped: WrappedDataKey) -> NotificationRecord:
    """What the wiring does with a key before the rules see it."""
    return PersonSeal(RING, PERSONAL).reopened(
        record.jurisdiction + "/" + record.booking_id, record, wrapped
    )


def test_a_sealed_person_holds_the_alert_until_its_key_opens_it() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    state, wrapped = sealed_state(world.states[-1])
    copied = rules.on_booking_state(None, state, ALL, START)
    assert isinstance(copied, rules.Outcome)
    held = rules.on_alert(copied.record, alert, ALL, START)
    assert isinstance(held, rules.Outcome)
    assert held.held == (alert.data.alert_id,) and held.notices == ()

    record = opened_with(held.record, wrapped)
    arrived = rules.on_booking_key(record, key_message(state, wrapped), ALL, START + H)
    assert isinstance(arrived, rules.Outcome)
    [notice] = arrived.notices
    assert notice.data.subject.first_name == "Alexandra"
    assert arrived.record.waiting == {}
    assert [k.kid for k in arrived.record.data_keys] == [wrapped.kid]


def test_a_key_read_before_the_state_is_kept_and_read_again_is_a_duplicate() -> None:
    world = flagged_and_due()
    state, wrapped = sealed_state(world.states[-1])
    first = rules.on_booking_key(None, key_message(state, wrapped), ALL, START)
    assert isinstance(first, rules.Outcome)
    assert first.record.booking is None and first.record.data_keys == (wrapped,)
    again = opened_with(first.record, wrapped)
    assert isinstance(
        rules.on_booking_key(again, key_message(state, wrapped), ALL, START), Duplicate
    )


def test_without_its_key_the_copy_stays_sealed_and_nothing_is_rendered() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    state, _ = sealed_state(world.states[-1])
    other_key = RING.new_key(state.key)[1]  # a key, but not the one that sealed it
    copied = rules.on_booking_state(None, state, ALL, START)
    assert isinstance(copied, rules.Outcome)
    record = opened_with(copied.record, other_key)
    assert isinstance(record.booking and record.booking.person, SealedValue)
    held = rules.on_alert(record, alert, ALL, START)
    assert isinstance(held, rules.Outcome) and held.notices == ()


def test_the_key_destroyed_leaves_a_stub_with_nothing_personal() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    state = world.states[-1]
    record = world.notification_record()
    issued = rules.on_alert(record, alert, ALL, START)
    assert isinstance(issued, rules.Outcome) and issued.notices
    gone = rules.on_booking_key(issued.record, key_message(state, None), ALL, START + H)
    assert isinstance(gone, rules.Outcome) and gone.retired
    stub = gone.record
    assert stub.retired and stub.booking is None and stub.data_keys == ()
    assert "Alexandra" not in stub.model_dump_json()
    assert set(stub.issued) == set(issued.record.notices)
    assert isinstance(rules.on_booking_key(stub, key_message(state, None), ALL, START), Duplicate)
    assert isinstance(rules.on_booking_key(None, key_message(state, None), ALL, START), Duplicate)


def test_the_stored_record_holds_no_name_and_reads_back_whole() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    state, wrapped = sealed_state(world.states[-1])
    key = state.key
    seal = PersonSeal(RING, PERSONAL)
    record = rules.on_booking_key(None, key_message(state, wrapped), ALL, START)
    assert isinstance(record, rules.Outcome)
    copied = rules.on_booking_state(record.record, state, ALL, START)
    assert isinstance(copied, rules.Outcome)
    assert isinstance(copied.record.booking and copied.record.booking.person, SealedValue)
    opened = seal.opened(key, copied.record.model_dump(mode="json"))  # as the table reads it
    opened = NotificationRecord.model_validate(opened)
    issued = rules.on_alert(opened, alert, ALL, START)
    assert isinstance(issued, rules.Outcome) and issued.notices
    stored = seal.sealed(key, issued.record.model_dump(mode="json"))
    text = str(stored)
    for clear in ("Alexandra", "1990"):
        assert clear not in text, clear
    back = NotificationRecord.model_validate(seal.opened(key, stored))
    assert back == issued.record


class Table:
    """What the service's table does with a record: sealed as stored, opened as read."""

    def __init__(self) -> None:
        self.seal = PersonSeal(RING, PERSONAL)
        self.stored: dict[str, Any] = {}

    def get(self, key: str) -> NotificationRecord | None:
        value = self.stored.get(key)
        return NotificationRecord.model_validate(self.seal.opened(key, value)) if value else None

    def put(self, key: str, record: NotificationRecord) -> None:
        self.stored[key] = self.seal.sealed(key, record.model_dump(mode="json"))


def test_in_any_order_of_alert_states_and_key_the_notice_comes_once_and_rests_sealed() -> None:
    world = flagged_and_due()
    [alert] = world.alerts
    data_key = RING.new_key(world.states[0].key)
    states = [sealed_state(state, data_key)[0] for state in world.states]
    booking = states[0].key
    made = key_message(states[0], data_key[1])
    seal = PersonSeal(RING, PERSONAL)
    orders = 0
    for order in itertools.permutations(["alert", *range(len(states)), "key"]):
        table, notices = Table(), []
        for step in order:
            record = table.get(booking)
            if step == "alert":
                decided = rules.on_alert(record, alert, ALL, START)
            elif step == "key":
                decided = rules.on_booking_key(
                    opened_with_key(seal, made, record), made, ALL, START
                )
            else:
                message = opened_state(seal, states[int(step)], record)
                decided = rules.on_booking_state(record, message, ALL, START)
            if isinstance(decided, rules.Outcome):
                notices.extend(decided.notices)
                table.put(booking, decided.record)
        assert [n.data.subject.last_name for n in notices] == ["Quintanilla"], order
        assert "Quintanilla" not in str(table.stored), order
        orders += 1
    assert orders == 24


def test_a_record_whose_key_this_service_cannot_unwrap_is_stored_never_refused() -> None:
    """A KEK missing from this service's file: what came sealed stays sealed, the record is
    still stored (its alert held, said in the log), nothing raises."""
    world = flagged_and_due()
    state, _ = sealed_state(world.states[-1])
    elsewhere = fc.Keyring(fc.LocalKeks({"kek-other": os.urandom(32)}, "kek-other"))
    _, foreign = elsewhere.new_key(state.key)
    record = NotificationRecord(
        jurisdiction=state.jurisdiction, booking_id=state.booking_id, data_keys=(foreign,)
    )
    copied = rules.on_booking_state(record, state, ALL, START)
    assert isinstance(copied, rules.Outcome)
    seal = PersonSeal(RING, PERSONAL)
    stored = seal.sealed(state.key, copied.record.model_dump(mode="json"))
    assert stored["booking"]["person"]["sealed"] == "A256GCM"
    assert NotificationRecord.model_validate(seal.opened(state.key, stored)) == copied.record


def test_an_alert_held_an_ack_timeout_is_escalated_once_saying_why() -> None:
    """Nothing may silently keep a notice back: an alert whose booking state or data key never
    came is escalated to jail staff when its notice could no longer have been acknowledged
    in time, once, naming what is missing (#46)."""
    world = flagged_and_due()
    [alert] = world.alerts
    state, _ = sealed_state(world.states[-1])
    copied = rules.on_booking_state(None, state, ALL, START)
    assert isinstance(copied, rules.Outcome)
    held = rules.on_alert(copied.record, alert, ALL, START)
    assert isinstance(held, rules.Outcome) and held.held
    due = START + ALL.ack_timeout
    assert held.record.next_due == due
    early = overdue.on_tick(held.record, ALL, due - timedelta(seconds=1))
    assert isinstance(early, rules.Outcome) and early.escalations == ()
    late = overdue.on_tick(early.record, ALL, due)
    assert isinstance(late, rules.Outcome)
    [escalation] = late.escalations
    assert escalation.data.reason == EscalationReason.NOT_ACKNOWLEDGED
    assert escalation.data.notice_id == notice_id_for(alert.data.alert_id)
    assert escalation.event_id.endswith("|held|escalation")
    assert "data key has not come" in escalation.data.detail
    assert "Alexandra" not in escalation.model_dump_json()
    assert late.record.next_due is None and alert.data.alert_id in late.record.waiting
    again = overdue.on_tick(late.record, ALL, due + H)
    assert isinstance(again, rules.Outcome) and again.escalations == ()


def test_an_alert_without_its_booking_state_says_so_and_one_rendered_in_time_is_not_escalated() -> (
    None
):
    world = flagged_and_due()
    [alert] = world.alerts
    held = rules.on_alert(None, alert, ALL, START)
    assert isinstance(held, rules.Outcome)
    late = overdue.on_tick(held.record, ALL, START + ALL.ack_timeout)
    assert isinstance(late, rules.Outcome)
    [escalation] = late.escalations
    assert "booking state (revision" in escalation.data.detail

    rendered = rules.on_booking_state(held.record, world.states[-1], ALL, START + H / 2)
    assert isinstance(rendered, rules.Outcome) and rendered.notices
    assert rendered.record.held_due == {}
    assert (
        rendered.record.next_due
        == rendered.record.notices[notice_id_for(alert.data.alert_id)].due_at
    )


def test_a_record_already_sealed_is_stored_without_touching_a_key() -> None:
    """The booking service keeps the person sealed in memory (its rules only copy it): storing
    such a record seals nothing again and needs no key at all."""
    world = flagged_and_due()
    state, wrapped = sealed_state(world.states[-1])
    ring = fc.Keyring(fc.LocalKeks({}, "none"))  # could unwrap nothing
    seal = PersonSeal(ring, ("state.person",), opens=False)
    value = {"state": state.data.model_dump(mode="json"), "data_keys": [wrapped.model_dump()]}
    assert seal.sealed(state.key, value) is value
