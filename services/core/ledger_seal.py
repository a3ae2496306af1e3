"""A tamper-evident compliance ledger (#46): every record of ``notice.audit.v1`` bound, in
offset order, into a hash chain per partition, and the chain's head signed (Ed25519) in
*seals*. Pure: records, seals and keys in; seals and findings out.

Like a Certificate Transparency log (RFC 9162) the proof lives beside the log, not in its
records: a sealer reads each partition as it is and seals it, so records written twice by an
at-least-once worker after a kill, or by two services to one partition, are simply sealed as
they stand (no false alarm), while anything done to the log afterwards shows:

- entry ``e_n = SHA-256("releasewatch-ledger-entry/1" | key | value)`` (lengths prefixed),
  chain ``h_n = SHA-256(h_{n-1} | offset_n | e_n)``, ``h_0`` 32 zero bytes: the content and
  its place are both bound, and a record found at another offset is recognised as moved;
- a seal covers the records from ``first_offset`` to ``last_offset``: their count, the head
  before and after, the time, the signing key's id and its Ed25519 signature over the
  canonical JSON of everything else; ``entries`` (each offset and entry hash) travel with the
  seal, which lets the verifier name the exact record (without them, only the window);
- seals chain too: a seal's ``previous_head`` is the head of the seal before it (or of any
  seal before it: two sealers that sealed the same stretch fork the chain harmlessly, while a
  seal taken out leaves the next one hanging).

``verify`` recomputes everything and names, per partition, the first record altered, removed,
inserted or reordered (by offset), a seal that does not verify, or a gap between seals.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from schemas.ledger_seals import LedgerSeal

GENESIS = "00" * 32
DOMAIN = b"releasewatch-ledger-entry/1"


@dataclass(frozen=True)
class Entry:
    """One ledger record as read: where, and its bytes."""

    offset: int
    key: bytes | None
    value: bytes | None


def entry_hash(entry: Entry) -> str:
    digest = hashlib.sha256(DOMAIN)
    for part in (entry.key, entry.value):
        if part is None:
            digest.update(b"\xff" * 4)
        else:
            digest.update(len(part).to_bytes(4, "big") + part)
    return digest.hexdigest()


def chain(head: str, hashes: Iterable[tuple[int, str]]) -> str:
    """The head after each (offset, entry hash) in turn."""
    for offset, entry in hashes:
        step = bytes.fromhex(head) + offset.to_bytes(8, "big", signed=True) + bytes.fromhex(entry)
        head = hashlib.sha256(step).hexdigest()
    return head


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signed_bytes(sealed: LedgerSeal) -> bytes:
    """What the signature covers: every field but the signature and the entries (the entries
    are bound through the head they chain to)."""
    body = sealed.model_dump(mode="json", exclude={"signature", "entries"})
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def seal(
    topic: str,
    partition: int,
    entries: Sequence[Entry],
    previous_head: str,
    sealed_at: str,
    signer: Ed25519PrivateKey,
) -> LedgerSeal:
    """The signed seal of ``entries`` (in offset order, not empty) after ``previous_head``."""
    hashes = [(e.offset, entry_hash(e)) for e in entries]
    unsigned = LedgerSeal(
        topic=topic,
        partition=partition,
        first_offset=entries[0].offset,
        last_offset=entries[-1].offset,
        count=len(entries),
        previous_head=previous_head,
        head=chain(previous_head, hashes),
        sealed_at=sealed_at,
        key_id=key_id(signer.public_key()),
        signature="",
        entries=hashes,
    )
    signature = signer.sign(signed_bytes(unsigned))
    return unsigned.model_copy(update={"signature": base64.b64encode(signature).decode()})


def signature_holds(sealed: LedgerSeal, keys: dict[str, Ed25519PublicKey]) -> bool:
    public = keys.get(sealed.key_id)
    if public is None:
        return False
    try:
        public.verify(base64.b64decode(sealed.signature), signed_bytes(sealed))
    except (InvalidSignature, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Finding:
    partition: int
    offset: int | None  # the first record concerned, when one can be named
    what: str  # altered | removed | inserted | reordered | bad_seal | seal_gap
    detail: str

    def line(self) -> str:
        at = f"offset {self.offset}" if self.offset is not None else "-"
        return f"partition {self.partition} {at}: {self.what}: {self.detail}"


@dataclass(frozen=True)
class Verdict:
    findings: tuple[Finding, ...]
    records: int  # read
    sealed: int  # of those, covered by a seal
    unsealed: dict[int, int]  # per partition: records after its last seal (not yet sealed)

    @property
    def intact(self) -> bool:
        return not self.findings


def verify(
    records: Mapping[int, Sequence[Entry]],
    seals: Mapping[int, Sequence[LedgerSeal]],
    keys: dict[str, Ed25519PublicKey],
) -> Verdict:
    """Each partition's records (offset order) against its seals (in the order written)."""
    findings: list[Finding] = []
    sealed = 0
    unsealed: dict[int, int] = {}
    for partition in sorted(set(records) | set(seals)):
        found, covered, after = _partition(
            partition, records.get(partition, ()), seals.get(partition, ()), keys
        )
        findings += found[:1]  # the first: what comes after it follows from it
        sealed += covered
        if after:
            unsealed[partition] = after
    total = sum(len(r) for r in records.values())
    return Verdict(tuple(findings), total, sealed, unsealed)


def _partition(
    partition: int,
    log: Sequence[Entry],
    seals: Sequence[LedgerSeal],
    keys: dict[str, Ed25519PublicKey],
) -> tuple[list[Finding], int, int]:
    by_offset = {e.offset: entry_hash(e) for e in log}
    # what every seal and the whole log hold: a record found elsewhere was moved, not forged
    known = Contents({h for s in seals for _, h in s.entries}, set(by_offset.values()))
    # Every head a seal has vouched for, with the last offset it covers. A seal goes on from
    # one of them: two sealers that both sealed the same stretch (one paused past its group's
    # session, then resumed) fork the chain, and both branches vouch for the same records.
    heads: dict[str, int] = {GENESIS: -1}
    covered: set[int] = set()
    for sealed in seals:
        if not signature_holds(sealed, keys):
            return [Finding(partition, None, "bad_seal", _seal_name(sealed, "signature"))], 0, 0
        before = heads.get(sealed.previous_head)
        if before is None or sealed.first_offset <= before:
            return [Finding(partition, None, "seal_gap", _seal_name(sealed, "chain"))], 0, 0
        window = [
            (o, h)
            for o, h in sorted(by_offset.items())
            if sealed.first_offset <= o <= sealed.last_offset
        ]
        found = _window(partition, sealed, window, known)
        if found:
            return [found], len(covered), 0
        heads[sealed.head] = sealed.last_offset
        covered.update(o for o, _ in window)
    last = max(heads.values())
    return [], len(covered), sum(1 for o in by_offset if o > last)


@dataclass(frozen=True)
class Contents:
    sealed: set[str]  # entry hashes in any seal of the partition
    logged: set[str]  # entry hashes in the partition as read


def _window(
    partition: int, sealed: LedgerSeal, window: list[tuple[int, str]], known: Contents
) -> Finding | None:
    if chain(sealed.previous_head, window) == sealed.head and len(window) == sealed.count:
        return None
    if not sealed.entries:  # the seal from the topic: the window, not the record
        return Finding(
            partition,
            sealed.first_offset,
            "altered",
            f"the records at offsets {sealed.first_offset}..{sealed.last_offset} are not those "
            f"sealed at {sealed.sealed_at} ({len(window)} now, {sealed.count} sealed); the "
            "auditor's copy of the seals names the record",
        )
    now, then = dict(window), dict(sealed.entries)
    at = f"sealed at {sealed.sealed_at}"
    for offset in sorted(set(now) | set(then)):
        if offset not in now:
            return Finding(partition, offset, "removed", f"the record {at} is gone")
        if offset not in then:
            return Finding(partition, offset, "inserted", "not among the records sealed")
        if now[offset] == then[offset]:
            continue
        here_sealed_elsewhere = now[offset] in known.sealed
        sealed_here_still_there = then[offset] in known.logged
        if here_sealed_elsewhere and sealed_here_still_there:
            return Finding(partition, offset, "reordered", f"a record {at}, at another offset")
        if here_sealed_elsewhere:
            return Finding(
                partition, offset, "removed", f"the record {at} is gone; later ones moved up"
            )
        if sealed_here_still_there:
            return Finding(partition, offset, "inserted", f"before the record {at}")
        return Finding(partition, offset, "altered", f"not the record {at}")
    return Finding(partition, sealed.first_offset, "bad_seal", _seal_name(sealed, "head"))


def _seal_name(sealed: LedgerSeal, part: str) -> str:
    return (
        f"the seal of offsets {sealed.first_offset}..{sealed.last_offset} "
        f"({sealed.sealed_at}) fails its {part} check"
    )
