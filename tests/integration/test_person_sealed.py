"""Person data sealed at rest (#46, SPEC 9 "CJIS"), on a real broker with the three services
under KEKs (``RELEASEWATCH_KEK_FILE``, as every integration test runs them): the agency's
notice names the person; booking.state.v1 carries the person sealed under the booking's data
key from booking.keys.v1; and the broker's own log segments hold the person's name only in
what the jail sent and what the agency is entitled to. A retired booking's key is destroyed,
and the notification service keeps nothing personal of it."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from schemas.owned_topics import changelog_topic, placement_topic
from schemas.sealed import SealedValue, WrappedDataKey
from schemas.topics import (
    ACCESS,
    AGENCY_REQUESTS,
    BOOKING_KEYS,
    BOOKING_STATE,
    DEADLETTER,
    JAIL_BOOKING,
)
from services.core import field_crypto as fc
from services.core import kek_file
from services.kafka.admin.topics import partition_for
from services.streams.placement import SEALED_HEADER
from tests import factories as f
from tests.integration.conftest import PARTITIONS, service_env, shared_keks
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Watch
from tests.support.workers import run_cli

pytestmark = pytest.mark.integration
H = timedelta(hours=1)
NOTICES = "notices.dhs-ice.v1"
POLICY = """
default:
  notices: all
jurisdictions:
  us-az-maricopa:
    retire_after_days: 0.0001   # 8.6 s after a booking closes, then its stub as long
    forget_after_days: 0.0001
"""
# Where a person's name may rest in clear: what the jail sent, what the agency is sent.
ENTITLED = {JAIL_BOOKING.name, NOTICES}


def now() -> datetime:
    return datetime.now(UTC)


async def flagged(kafka: KafkaHelper, jurisdiction: str, person: dict[str, str]) -> str:
    booking_id = f"ps-{uuid.uuid4().hex[:10]}"
    zone = "America/Phoenix" if jurisdiction == "us-az-maricopa" else "America/Chicago"
    facility = {"id": "f1", "name": "County Jail", "timezone": zone}
    booked = (now() - H).isoformat()
    ids = {"booking_id": booking_id, "jurisdiction": jurisdiction}
    await kafka.publish(
        JAIL_BOOKING.name,
        f.opened(
            occurred_at=booked,
            data={"facility": facility, "person": person, "booked_at": booked},
            **ids,
        ),
    )
    await kafka.publish(
        AGENCY_REQUESTS.name,
        f.envelope(
            "notice_request.received",
            {"request_id": "ice-1", "agency": "dhs-ice"},
            occurred_at=now().isoformat(),
            **ids,
        ),
    )
    await kafka.publish(
        JAIL_BOOKING.name, f.scheduled((now() + 10 * H).isoformat(), occurred_at=booked, **ids)
    )
    return f"{jurisdiction}/{booking_id}"


def someone() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        "person_id": f"pid-{tag}",
        "first_name": f"Zofia{tag}",
        "last_name": f"Quell{tag}",
        "date_of_birth": "1987-11-23",
    }


def stored_for(record: Any, key: str) -> bool:
    """A table's changelog record of ``key`` (faust writes the key as JSON), not a tombstone."""
    return record.key == json.dumps(key) and bool(record.value)


def segments_of(broker: Any) -> Path:
    """Where the broker keeps its log segments: the embedded Apache Kafka's data dir (the
    suite's broker in CI). Tansu keeps them in memory: nothing to read there."""
    if broker.flavor != "apache":
        pytest.skip(f"{broker.flavor} keeps no log segment files to read")
    data_dir: Path = broker.data_dir  # an Apache broker without one is a failure, not a skip
    assert data_dir.is_dir(), data_dir
    return data_dir


def topics_holding(data_dir: Path, text: str) -> set[str]:
    """Every topic one of whose log segments (as the broker wrote them) holds ``text``."""
    return {segment.parent.name.rsplit("-", 1)[0] for segment in files_holding(data_dir, text)}


@pytest.fixture
async def sealed_stack(start_service: Any, tmp_path: Path) -> None:
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    for name in ("booking", "scheduling", "notification"):
        start_service(name, RELEASEWATCH_POLICY_FILE=str(policy))


async def test_only_the_agency_notice_names_the_person_and_the_log_segments_agree(
    sealed_stack: None, kafka: KafkaHelper, broker: Any
) -> None:
    person = someone()
    notices = await kafka.watch(NOTICES)
    states = await kafka.watch(BOOKING_STATE.name)
    keys = await kafka.watch(BOOKING_KEYS.name)
    changelog = await kafka.watch(changelog_topic("notification", "notices"))
    key = await flagged(kafka, "us-mn-hennepin", person)

    [notice] = await notices.wait_for_unique(lambda r: r.key == key, 1, 90, "event_id", "notice")
    subject = notice.value["data"]["subject"]
    assert (subject["first_name"], subject["last_name"]) == (
        person["first_name"],
        person["last_name"],
    )
    assert subject["date_of_birth"] == person["date_of_birth"]

    [made] = await keys.wait_for_unique(lambda r: r.key == key, 1, 30, "event_id", "key")
    kid = made.value["data"]["key"]["kid"]
    sent = await states.wait_for_unique(lambda r: r.key == key, 2, 30, "event_id", "state")
    for state in sent:
        sealed = state.value["data"]["person"]
        assert sealed["sealed"] == "A256GCM" and sealed["kid"] == kid, sealed
    # The notification service's stored record: sealed too (its copy, the notice it resends)
    await changelog.wait_for(lambda r: stored_for(r, key) and bool(r.value["notices"]), 1, 30)
    for record in changelog.matching(lambda r: stored_for(r, key)):
        assert person["last_name"] not in str(record.value)

    data_dir = segments_of(broker)
    for clear in (person["last_name"], person["first_name"], person["person_id"]):
        holding = topics_holding(data_dir, clear)
        assert holding - ENTITLED == set(), (clear, holding)
        assert NOTICES in holding and JAIL_BOOKING.name in holding


async def test_a_retired_bookings_key_is_destroyed_and_nothing_personal_is_kept(
    sealed_stack: None, kafka: KafkaHelper
) -> None:
    keys = await kafka.watch(BOOKING_KEYS.name)
    changelog = await kafka.watch(changelog_topic("notification", "notices"))
    notices = await kafka.watch(NOTICES)
    key = await flagged(kafka, "us-az-maricopa", someone())
    await notices.wait_for_unique(lambda r: r.key == key, 1, 90, "event_id", "notice")
    jurisdiction, booking_id = key.split("/")
    await kafka.publish(
        JAIL_BOOKING.name,
        f.envelope(
            "inmate.released",
            {"released_at": now().isoformat(), "release_type": "sentence_complete"},
            booking_id=booking_id,
            jurisdiction=jurisdiction,
            occurred_at=now().isoformat(),
        ),
    )
    # 8.6 s after the release the booking retires: its key replaced by none ...
    destroyed = await keys.wait_for(
        lambda r: r.key == key and r.value["data"]["key"] is None, 1, 90
    )
    assert {r.value["event_id"] for r in destroyed} == {f"{key}#key-destroyed"}
    # ... and the notification service's record shrinks to a stub with no key, no person
    stubs = await changelog.wait_for(
        lambda r: stored_for(r, key) and r.value.get("retired") is True, 1, 60
    )
    assert all(r.value["data_keys"] == [] and r.value["booking"] is None for r in stubs)


def files_holding(data_dir: Path, text: str, topics: set[str] | None = None) -> list[Path]:
    """Every log segment (live, or renamed for deletion) holding ``text``, of ``topics``."""
    needle = text.encode()
    return [
        segment
        for segment in data_dir.rglob("*.log*")
        if segment.is_file()
        and (topics is None or segment.parent.name.rsplit("-", 1)[0] in topics)
        and needle in segment.read_bytes()
    ]


async def test_once_compacted_no_segment_holds_a_retired_bookings_key(
    sealed_stack: None, kafka: KafkaHelper, broker: Any
) -> None:
    """Crypto-shredding on the broker's disk: before, the wrapped key sits in the segments of
    booking.keys.v1 and both changelogs, and opens the person sealed on booking.state.v1;
    after the booking retires and those topics are compacted, no segment of any topic holds
    it, while the sealed person is still there, unreadable."""
    data_dir = segments_of(broker)
    person = someone()
    keys = await kafka.watch(BOOKING_KEYS.name)
    states = await kafka.watch(BOOKING_STATE.name)
    changelog = await kafka.watch(changelog_topic("notification", "notices"))
    key = await flagged(kafka, "us-az-maricopa", person)
    [made] = await keys.wait_for_unique(lambda r: r.key == key, 1, 90, "event_id", "key")
    wrapped = WrappedDataKey.model_validate(made.value["data"]["key"])
    [state, *_] = await states.wait_for_unique(lambda r: r.key == key, 2, 30, "event_id")
    sealed = SealedValue.model_validate(state.value["data"]["person"])
    keks = kek_file.load(shared_keks())
    opened = fc.open_sealed(sealed, key, "person", fc.unwrap(key, wrapped, keks))
    assert opened["last_name"] == person["last_name"]  # before: the key on disk opens it
    stores = {
        BOOKING_KEYS.name,
        changelog_topic("booking", "bookings"),
        changelog_topic("notification", "notices"),
    }

    def held_by_the_stores() -> bool:  # the changelogs are written beside the outputs
        holding = topics_holding(data_dir, wrapped.wrapped)
        assert holding <= stores, holding  # nowhere else, ever
        return holding == stores

    await until(held_by_the_stores, 30, "the wrapped key in booking.keys.v1 and both changelogs")

    jurisdiction, booking_id = key.split("/")
    await kafka.publish(
        JAIL_BOOKING.name,
        f.released(now().isoformat(), booking_id=booking_id, jurisdiction=jurisdiction),
    )
    await keys.wait_for(lambda r: r.key == key and r.value["data"]["key"] is None, 1, 90)
    await changelog.wait_for(lambda r: stored_for(r, key) and r.value["retired"] is True, 1, 60)

    compact_now = {
        "segment_ms": "100",
        "min_compaction_lag_ms": "0",
        "min_cleanable_dirty_ratio": "0.01",
        "file_delete_delay_ms": "100",
    }
    async with contextlib.AsyncExitStack() as configs:
        for topic in stores:
            await configs.enter_async_context(kafka.topic_config(topic, **compact_now))

        async def rolled_and_cleaned() -> bool:
            """A record after each store's segment is old enough rolls it; the cleaner
            (every 15 s at most) compacts the rolled ones."""
            for topic in stores:
                if topic == BOOKING_KEYS.name:  # a key destroyed, of no booking: a no-op
                    filler = json.dumps(
                        {
                            **made.value,
                            "event_id": "zz/filler#key-destroyed",
                            "jurisdiction": "zz",
                            "booking_id": "filler",
                            "data": {"key": None},
                        }
                    ).encode()
                    await kafka.producer.send_and_wait(
                        topic, key=b"zz/filler", value=filler, partition=made.partition
                    )
                else:  # a table's tombstone of no booking
                    await kafka.producer.send_and_wait(
                        topic, key=b'"zz/filler"', value=None, partition=made.partition
                    )
            return not files_holding(data_dir, wrapped.wrapped)

        await until(rolled_and_cleaned, 90, "the retired booking's key compacted away", every=1)
    assert files_holding(data_dir, sealed.ciphertext, {BOOKING_STATE.name})  # still there


async def test_a_key_rotation_is_recorded_as_a_change(broker: Any, tmp_path: Path) -> None:
    """CJIS: a change of keys is an audit event, on ops.access.v1 with the CJIS fields."""
    looks = Watch(broker.bootstrap, ACCESS.name)
    async with looks:
        path = tmp_path / "kek.json"
        done = run_cli(service_env(broker, tmp_path), "keys", "rotate", "--file", str(path))
        assert done.returncode == 0, done.stderr
        [kek_id] = kek_file.load(path).keys
        [change] = await looks.wait_for(
            lambda r: (r.value or {}).get("resource", "").startswith(f"keys rotate: {kek_id}"),
            1,
            30,
        )
    event = change.value
    assert (event["action"], event["outcome"], event["component"]) == ("change", "success", "cli")
    assert event["subject"] and event["at"] and event["source"]
    assert str(path) in event["resource"]


async def test_what_a_jail_sent_is_sealed_where_releasewatch_keeps_a_copy(
    start_service: Any, kafka: KafkaHelper, broker: Any, tmp_path: Path
) -> None:
    """A message on the wrong partition is placed, sealed, and decided once it comes back
    opened; a refused one is dead-lettered sealed, and `releasewatch deadletters open` shows it
    as it was sent to whoever holds the KEK file, recorded on ops.access.v1 first. Neither the
    placement topic nor deadletter.v1 holds a name on the broker's disk."""
    start_service("booking")
    placed_topic = placement_topic("booking", JAIL_BOOKING).name
    placed = await kafka.watch(placed_topic)
    letters = await kafka.watch(DEADLETTER.name)
    states = await kafka.watch(BOOKING_STATE.name)
    looks = await kafka.watch(ACCESS.name)
    moved, refused = someone(), {**someone(), "date_of_birth": "1987-02-30"}
    booked = (now() - H).isoformat()
    documents = [
        f.opened(
            booking_id=f"ps-{uuid.uuid4().hex[:10]}",
            occurred_at=booked,
            data={"person": p, "booked_at": booked},
        )
        for p in (moved, refused)
    ]
    key = f"{documents[0]['jurisdiction']}/{documents[0]['booking_id']}"
    away = (partition_for(key, PARTITIONS) + 1) % PARTITIONS  # as librdkafka's CRC32 may
    await kafka.producer.send_and_wait(
        JAIL_BOOKING.name, key=key.encode(), value=f.wire(documents[0]), partition=away
    )
    partition, offset = await kafka.publish(JAIL_BOOKING.name, documents[1])

    [copy] = await placed.wait_for(lambda r: r.key == key, 1, 60, "the placed copy")
    assert dict(copy.headers)[SEALED_HEADER] == b"A256GCM"
    assert moved["last_name"].encode() not in (copy.raw_value or b"")
    [state] = await states.wait_for(lambda r: r.key == key, 1, 60, "the placed booking's state")
    assert state.value["data"]["person"]["sealed"] == "A256GCM"  # decided, once opened

    letter_id = f"{JAIL_BOOKING.name}:{partition}:{offset}"
    [letter] = await letters.wait_for(lambda r: r.value["deadletter_id"] == letter_id, 1, 60)
    assert letter.value["value"]["sealed"] == "A256GCM"
    for clear in (refused["last_name"], refused["first_name"], refused["date_of_birth"]):
        assert clear not in (letter.raw_value or b"").decode()

    data_dir = segments_of(broker)
    for person in (moved, refused):
        for clear in (person["last_name"], person["first_name"], person["person_id"]):
            assert topics_holding(data_dir, clear) == {JAIL_BOOKING.name}, clear

    env = service_env(broker, tmp_path)
    shown = run_cli(env, "deadletters", "open", letter_id)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == documents[1]
    await looks.wait_for(lambda r: r.value["resource"] == f"deadletters open {letter_id}", 1, 30)
    without = run_cli(
        {**env, "RELEASEWATCH_KEK_FILE": str(tmp_path / "none.json")},
        "deadletters",
        "open",
        letter_id,
    )
    assert without.returncode == 2 and "KEK" in without.stderr, without.stderr
