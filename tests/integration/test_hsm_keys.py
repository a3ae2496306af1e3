"""The KEKs on a PKCS#11 token (#46, "a KMS interface for production"), on a real broker with
a real module (SoftHSM 2): the operator makes the key with `releasewatch keys rotate`; the
three services run with RELEASEWATCH_KEK_PKCS11 and no key file; each booking's data key is
wrapped inside the token (its record names the token's key), the person is sealed on
booking.state.v1, and the agency's notice names the person: the notification service unwrapped
the key on the token too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from schemas.topics import BOOKING_KEYS, BOOKING_STATE
from services.kafka.broker.embedded import EmbeddedBroker
from tests.integration.conftest import service_env
from tests.integration.test_person_sealed import NOTICES, flagged, someone
from tests.support.softhsm import MODULE, new_token, softhsm_dir
from tests.support.topics import KafkaHelper
from tests.support.workers import run_cli

pytestmark = pytest.mark.integration


async def test_the_services_seal_under_a_key_that_never_leaves_the_token(
    broker: EmbeddedBroker, start_service: Any, kafka: KafkaHelper, tmp_path: Path
) -> None:
    if not MODULE.is_file():
        pytest.fail(f"{MODULE} is missing: `make integration` installs Debian's softhsm2")
    token = new_token(softhsm_dir(tmp_path / "hsm"))
    hsm = {
        "RELEASEWATCH_KEK_PKCS11": token.uri("kek-county-1"),
        "RELEASEWATCH_KEK_FILE": None,
        **token.env,
    }
    rotated = run_cli(service_env(broker, tmp_path / "cli", **hsm), "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "kek-county-1 made on token" in rotated.stdout

    for name in ("booking", "scheduling", "notification"):
        start_service(name, **hsm)
    person = someone()
    notices = await kafka.watch(NOTICES)
    states = await kafka.watch(BOOKING_STATE.name)
    keys = await kafka.watch(BOOKING_KEYS.name)
    key = await flagged(kafka, "us-mn-hennepin", person)

    [made] = await keys.wait_for_unique(lambda r: r.key == key, 1, 90, "event_id", "key")
    wrapped = made.value["data"]["key"]
    assert wrapped["kek_id"] == "kek-county-1", wrapped
    [state, *_] = await states.wait_for_unique(lambda r: r.key == key, 2, 30, "event_id")
    sealed = state.value["data"]["person"]
    assert sealed["sealed"] == "A256GCM" and sealed["kid"] == wrapped["kid"], sealed
    assert person["last_name"] not in str(state.value)

    [notice] = await notices.wait_for_unique(lambda r: r.key == key, 1, 90, "event_id", "notice")
    subject = notice.value["data"]["subject"]
    assert (subject["first_name"], subject["last_name"]) == (
        person["first_name"],
        person["last_name"],
    )
