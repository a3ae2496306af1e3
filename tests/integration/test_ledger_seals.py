"""The ledger's seals (#46) on a real Apache Kafka: the sealer seals what the services wrote
(a repeat of an at-least-once worker included) across a kill -9 and a restart without a false
alarm, and ``releasewatch report --verify`` names the record an admin changed or removed by
rewriting the topic, from the auditor's copy of the seals and from the topic's."""

from __future__ import annotations

import json
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from schemas.topics import ACCESS, ACCESS_SEALS, AUDIT, AUDIT_SEALS
from services.core.ledger_seal import Entry, verify
from services.kafka.broker.apache import EmbeddedKafka
from services.ledger import keys
from services.ledger.verify import read_ledger, read_seals
from tests.integration.conftest import ARTIFACTS, own_kafka, service_env
from tests.support.poll import until
from tests.support.workers import Worker, run_cli

# As many as `make run` has: the sealer takes all of them (and the access log's) at once, and
# reading each one's last seal in turn once outlasted the group's session (#46).
SEALED_PARTITIONS = 8


def record(number: int) -> tuple[bytes, bytes]:
    key = f"us-mn-hennepin/seal-{number % 7}".encode()
    value = {"type": "notice.audit", "event_id": f"audit-{number}", "data": {"step": "issued"}}
    return key, json.dumps(value).encode()


async def publish(
    bootstrap: str, records: list[tuple[bytes, bytes]], topic: str = AUDIT.name
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def all_sealed(
    bootstrap: str, public: Path, count: int, topic: str = AUDIT.name, seals: str = AUDIT_SEALS.name
) -> None:
    options = {"bootstrap_servers": bootstrap}
    trusted = keys.load_public_keys([public])

    async def sealed() -> bool:
        found = verify(await read_ledger(options, topic), await read_seals(options, seals), trusted)
        assert found.intact, [f.line() for f in found.findings]  # never a false alarm
        return found.records == count and found.sealed == count

    await until(sealed, 60, f"{count} ledger records sealed", every=0.5)


async def rewrite(bootstrap: str, ledger: dict[int, list[Entry]]) -> None:
    """What an admin with write access can do: delete the topic, create it again and write
    the records back (offsets from 0 again), each on its partition."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([AUDIT.name])

        async def created() -> bool:
            try:
                await admin.create_topics([NewTopic(AUDIT.name, SEALED_PARTITIONS, 1)])
            except TopicAlreadyExistsError:  # the deletion is not through yet
                return False
            return True

        await until(created, 60, "the ledger topic created again", every=0.5)
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for partition, entries in ledger.items():
            for entry in entries:
                await producer.send_and_wait(
                    AUDIT.name, entry.value, key=entry.key, partition=partition
                )
    finally:
        await producer.stop()


async def test_the_sealer_survives_a_kill_and_verify_names_a_rewritten_record(
    tmp_path: Path,
) -> None:
    with own_kafka(tmp_path, "ledger-seals") as cluster:
        await sealed_then_rewritten(cluster, tmp_path)


async def sealed_then_rewritten(cluster: EmbeddedKafka, tmp_path: Path) -> None:
    bootstrap = cluster.bootstrap
    key_file = tmp_path / "signing-key.pem"
    env = service_env(
        cluster,
        tmp_path / "sealer",
        RELEASEWATCH_LEDGER_SIGNING_KEY=str(key_file),
        RELEASEWATCH_LEDGER_SEAL_EVERY="0.5",
        RELEASEWATCH_PARTITIONS=str(SEALED_PARTITIONS),
    )
    made = run_cli(env, "ledger", "key", "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    public = tmp_path / "signing-key.pub.pem"
    assert public.exists() and oct(key_file.stat().st_mode)[-3:] == "600"
    (ARTIFACTS / "ledger-seals-sealer.log").unlink(missing_ok=True)
    sealer = Worker("sealer", env, ARTIFACTS / "ledger-seals-sealer.log").start()
    try:
        await until(lambda: sealer.get("/ready")[0] == 200, 90, "the sealer's /ready")
        first = [record(n) for n in range(30)]
        await publish(bootstrap, [*first, first[4]])  # a worker's repeat after a kill
        await all_sealed(bootstrap, public, 31)
        sealer.kill()  # kill -9: it goes on from the last seal on the topic
        await publish(bootstrap, [record(n) for n in range(30, 50)])
        sealer.start()
        await publish(bootstrap, [record(n) for n in range(50, 60)])
        await all_sealed(bootstrap, public, 61)
        looks = [(b"jdoe", b'{"type": "access.event", "action": "view"}')] * 3
        await publish(bootstrap, looks, ACCESS.name)  # who looked: sealed the same way
        # and the key's making, recorded as a change by `ledger key` (#46)
        await all_sealed(bootstrap, public, 4, ACCESS.name, ACCESS_SEALS.name)
    finally:
        sealer.stop()
    log = sealer.log_text()
    assert "ledger_sealed" in log
    assert log.count('"ledger_sealing"') == 2, "one assignment per start, no rebalance loop"
    assert "Heartbeat failed" not in log

    checked = run_cli(env, "report", "--verify", "--public-key", str(public))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "notice.audit.v1: 61 records, 61 sealed" in checked.stdout
    # the key's making and 3 looks sealed, and this reader's own look, recorded before it read
    # (the sealer stopped)
    assert "ops.access.v1: 5 records, 4 sealed" in checked.stdout
    assert checked.stdout.count("intact") == 2
    looks = await read_ledger({"bootstrap_servers": bootstrap}, ACCESS.name)
    cli_looks = [json.loads(e.value or b"{}") for p in looks.values() for e in p]
    assert any(  # the reader recorded who looked, as the board does (#46)
        look.get("component") == "cli" and look.get("resource") == "report --verify"
        for look in cli_looks
    ), cli_looks
    [change] = [look for look in cli_looks if look.get("action") == "change"]
    assert change["resource"].startswith("ledger key: ") and str(key_file) in change["resource"]
    copy = tmp_path / "auditor-seals.jsonl"
    exported = run_cli(env, "ledger", "seals", "--out", str(copy))
    assert exported.returncode == 0, exported.stderr
    again = run_cli(env, "ledger", "seals", "--out", str(copy))
    assert again.stdout.startswith("0 new seal(s)"), again.stdout

    ledger = await read_ledger({"bootstrap_servers": bootstrap})
    partition = max(ledger, key=lambda p: len(ledger[p]))
    entries = ledger[partition]
    assert len(entries) >= 3 and [e.offset for e in entries] == list(range(len(entries)))

    changed = [*entries[:1], Entry(1, entries[1].key, b'{"type": "notice.audit"}'), *entries[2:]]
    await rewrite(bootstrap, {**ledger, partition: changed})
    found = run_cli(env, "report", "--verify", "--seals", str(copy), "--public-key", str(public))
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"TAMPERED: partition {partition} offset 1: altered" in found.stdout, found.stdout
    from_topic = run_cli(env, "report", "--verify", "--public-key", str(public))
    assert from_topic.returncode == 1 and f"partition {partition} offset" in from_topic.stdout
    assert "altered" in from_topic.stdout, from_topic.stdout

    removed = [Entry(o, e.key, e.value) for o, e in enumerate(entries[:1] + entries[2:])]
    await rewrite(bootstrap, {**ledger, partition: removed})
    found = run_cli(env, "report", "--verify", "--seals", str(copy), "--public-key", str(public))
    assert found.returncode == 1, found.stdout + found.stderr
    assert f"TAMPERED: partition {partition} offset 1: removed" in found.stdout, found.stdout

    untrusted = tmp_path / "other.pem"
    assert run_cli(env, "ledger", "key", "--out", str(untrusted)).returncode == 0
    await rewrite(bootstrap, ledger)  # as it was: only the key is wrong now
    forged = run_cli(env, "report", "--verify", "--public-key", str(untrusted))
    assert forged.returncode == 1 and "bad_seal" in forged.stdout, forged.stdout
