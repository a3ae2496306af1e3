"""The ledger's seals (#46): a hash chain per partition, its heads signed with Ed25519, and a
verifier that names the first record altered, removed, inserted or reordered, by offset."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from schemas.ledger_seals import LedgerSeal as Seal
from services.core import ledger_seal
from services.core.ledger_seal import GENESIS, Entry

SIGNER = Ed25519PrivateKey.generate()
KEYS = {ledger_seal.key_id(SIGNER.public_key()): SIGNER.public_key()}
AT = "2027-03-02T12:00:00+00:00"


def records(count: int, start: int = 0) -> list[Entry]:
    return [
        Entry(o, f"us-mn-hennepin/B{o}".encode(), json.dumps({"step": "issued", "n": o}).encode())
        for o in range(start, start + count)
    ]


def sealed(log: list[Entry], size: int = 4) -> list[Seal]:
    seals, head = [], GENESIS
    for first in range(0, len(log), size):
        window = log[first : first + size]
        seals.append(ledger_seal.seal("notice.audit.v1", 0, window, head, AT, SIGNER))
        head = seals[-1].head
    return seals


def verdict(log: list[Entry], seals: list[Seal]) -> ledger_seal.Verdict:
    return ledger_seal.verify({0: log}, {0: seals}, KEYS)


def test_an_untouched_log_verifies_and_the_tail_is_reported_unsealed() -> None:
    log = records(10)
    result = verdict(log, sealed(log[:8]))
    assert result.intact and (result.records, result.sealed) == (10, 8)
    assert result.unsealed == {0: 2}


def only(result: ledger_seal.Verdict) -> tuple[int | None, str]:
    assert not result.intact
    [finding] = result.findings
    return finding.offset, finding.what


def test_an_altered_record_is_named_by_offset() -> None:
    log = records(10)
    seals = sealed(log)
    log[5] = Entry(5, log[5].key, log[5].value.replace(b"issued", b"suppressed"))  # type: ignore[union-attr]
    assert only(verdict(log, seals)) == (5, "altered")


def test_a_removed_record_is_named_even_though_the_later_ones_moved_up() -> None:
    log = records(10)
    seals = sealed(log)
    rewritten = [Entry(o, e.key, e.value) for o, e in enumerate(log[:3] + log[4:])]
    assert only(verdict(rewritten, seals)) == (3, "removed")


def test_an_inserted_record_is_named() -> None:
    log = records(10)
    seals = sealed(log)
    forged = Entry(0, b"us-mn-hennepin/X", b'{"step": "acknowledged"}')
    rewritten = [Entry(o, e.key, e.value) for o, e in enumerate([*log[:6], forged, *log[6:]])]
    assert only(verdict(rewritten, seals)) == (6, "inserted")


def test_two_records_swapped_are_named_as_reordered() -> None:
    log = records(10)
    seals = sealed(log)
    swapped = list(log)
    swapped[1], swapped[2] = Entry(1, log[2].key, log[2].value), Entry(2, log[1].key, log[1].value)
    assert only(verdict(swapped, seals)) == (1, "reordered")


def test_a_truncated_log_is_named_at_the_first_missing_offset() -> None:
    log = records(10)
    assert only(verdict(log[:6], sealed(log))) == (6, "removed")


def test_a_forged_or_unknown_seal_fails_its_signature() -> None:
    log = records(8)
    seals = sealed(log)
    forged = seals[1].model_copy(update={"count": 3})
    assert only(verdict(log, [seals[0], forged]))[1] == "bad_seal"
    stranger = Ed25519PrivateKey.generate()
    other = [ledger_seal.seal("notice.audit.v1", 0, log, GENESIS, AT, stranger)]
    assert only(verdict(log, other))[1] == "bad_seal"


def test_a_seal_removed_from_the_middle_breaks_the_seals_chain() -> None:
    log = records(12)
    seals = sealed(log)
    assert only(verdict(log, [seals[0], seals[2]]))[1] == "seal_gap"


def test_two_sealers_that_sealed_the_same_stretch_fork_harmlessly() -> None:
    """A sealer paused past its group's session seals what its successor sealed too: both
    seals go on from the same head and vouch for the same records; no finding."""
    log = records(12)
    seals = sealed(log)
    twin = ledger_seal.seal("notice.audit.v1", 0, log[4:6], seals[0].head, AT, SIGNER)
    result = verdict(log, [seals[0], twin, seals[1], seals[2]])
    assert result.intact and result.sealed == 12 and not result.unsealed
    # the twin's branch, alone, still verifies what it covers
    assert verdict(log, [seals[0], twin]).unsealed == {0: 6}


def test_a_seal_that_goes_back_over_its_own_head_is_a_gap() -> None:
    log = records(8)
    seals = sealed(log)
    again = ledger_seal.seal("notice.audit.v1", 0, log[2:6], seals[0].head, AT, SIGNER)
    assert only(verdict(log, [seals[0], again]))[1] == "seal_gap"


def test_a_seal_without_its_entries_names_the_window_with_them_the_record() -> None:
    log = records(8)
    seals = sealed(log)
    bare = [s.model_copy(update={"entries": []}) for s in seals]  # a seal without its entries
    kept = [Seal.model_validate_json(s.model_dump_json()) for s in seals]  # as written
    log[6] = Entry(6, log[6].key, b"{}")
    assert only(verdict(log, bare)) == (4, "altered")  # the window 4..7
    assert "4..7" in verdict(log, bare).findings[0].detail
    assert only(verdict(log, kept)) == (6, "altered")


def test_records_written_twice_are_sealed_as_they_stand() -> None:
    """An at-least-once worker killed after sending repeats a record: the log holds both, the
    sealer seals both, and nothing is reported (no false alarm after restarts)."""
    log = records(5)
    log.insert(3, Entry(3, log[2].key, log[2].value))
    log = [Entry(o, e.key, e.value) for o, e in enumerate(log)]
    assert verdict(log, sealed(log)).intact


@given(st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=7), st.data())
def test_any_single_change_to_a_sealed_log_is_found(
    count: int, size: int, data: st.DataObject
) -> None:
    log = records(count)
    seals = sealed(log, size)
    assert verdict(log, seals).intact
    victim = data.draw(st.integers(min_value=0, max_value=count - 1))
    change = data.draw(st.sampled_from(["alter", "remove"]))
    if change == "alter":
        log[victim] = Entry(victim, log[victim].key, b"tampered")
    else:
        log = [Entry(o, e.key, e.value) for o, e in enumerate(log[:victim] + log[victim + 1 :])]
    result = verdict(log, seals)
    assert not result.intact
    assert result.findings[0].offset is not None and result.findings[0].offset <= victim


def test_a_key_id_names_its_public_key_and_no_other() -> None:
    other = Ed25519PrivateKey.generate().public_key()
    assert ledger_seal.key_id(SIGNER.public_key()) in KEYS
    assert ledger_seal.key_id(other) not in KEYS and len(ledger_seal.key_id(other)) == 16
