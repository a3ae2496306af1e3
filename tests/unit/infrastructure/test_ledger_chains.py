"""The sealer's chains (#46): each partition goes on from its last seal, takes each record
once, seals when due, and what it writes verifies."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.ledger_seals import LedgerSeal
from services.core import ledger_seal
from services.core.ledger_seal import GENESIS, Entry
from services.ledger.chains import MAX_RECORDS, Chain

SIGNER = Ed25519PrivateKey.generate()
KEYS = {ledger_seal.key_id(SIGNER.public_key()): SIGNER.public_key()}
AT = "2027-03-02T12:00:00+00:00"


def entry(offset: int) -> Entry:
    return Entry(offset, b"us-mn-hennepin/B1", json.dumps({"n": offset}).encode())


def test_a_new_partition_starts_at_genesis_and_seals_when_its_oldest_record_is_due() -> None:
    chain = Chain.after("notice.audit.v1", 3, None)
    assert (chain.head, chain.next_offset) == (GENESIS, None)
    assert not chain.due(now=0.0, every=60)
    chain.add(entry(0), now=10.0)
    chain.add(entry(2), now=50.0)  # offset 1: a transaction marker
    assert not chain.due(now=69.9, every=60)
    assert chain.due(now=70.0, every=60)
    written = chain.seal(AT, SIGNER)
    assert (written.first_offset, written.last_offset, written.count) == (0, 2, 2)
    chain.sealed(written, now=70.0)
    assert (chain.head, chain.next_offset, chain.pending) == (written.head, 3, [])
    assert not chain.due(now=1000.0, every=60)


def test_records_read_again_after_a_seek_are_taken_once() -> None:
    chain = Chain.after("notice.audit.v1", 0, None)
    for offset in (0, 1, 2, 1, 2, 3):
        chain.add(entry(offset), now=0.0)
    assert [e.offset for e in chain.pending] == [0, 1, 2, 3]
    chain.sealed(chain.seal(AT, SIGNER), now=1.0)
    chain.add(entry(3), now=2.0)  # sealed already
    assert chain.pending == []


def test_a_full_seal_is_due_at_once_and_the_rest_waits_its_turn() -> None:
    chain = Chain.after("notice.audit.v1", 0, None)
    for offset in range(MAX_RECORDS + 5):
        chain.add(entry(offset), now=0.0)
    assert chain.due(now=0.0, every=60)
    first = chain.seal(AT, SIGNER)
    chain.sealed(first, now=1.0)
    assert first.count == MAX_RECORDS and len(chain.pending) == 5
    assert not chain.due(now=60.9, every=60) and chain.due(now=61.0, every=60)


@pytest.mark.parametrize("seals_before", [1, 2, 5])
def test_a_chain_taken_over_from_its_last_seal_verifies_end_to_end(seals_before: int) -> None:
    """A sealer restarted (or a partition moved to another) goes on from the last seal on the
    topic: the seals, through their messages, verify the whole log."""
    log = [entry(o) for o in range(seals_before * 3 + 4)]
    chain, written = Chain.after("notice.audit.v1", 0, None), []
    for offset, record in enumerate(log):
        chain.add(record, now=float(offset))
        if len(chain.pending) == 3 or offset == len(log) - 1:
            seal = chain.seal(AT, SIGNER)
            chain.sealed(seal, now=float(offset))
            message = LedgerSeal.model_validate_json(seal.model_dump_json())  # as on the topic
            written.append(message)
            chain = Chain.after("notice.audit.v1", 0, message)  # a new owner, from the topic
    result = ledger_seal.verify({0: log}, {0: written}, KEYS)
    assert result.intact and result.sealed == len(log) and not result.unsealed
