"""What the sealer holds per partition it seals: the chain's head, the last offset sealed and
the records read since. Pure: records and the clock in, seals out."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.ledger_seals import LedgerSeal
from services.core import ledger_seal
from services.core.ledger_seal import GENESIS, Entry

# Records in one seal at most: with each record's offset and hash (~80 bytes) a seal stays
# far under the broker's 1 MiB message limit.
MAX_RECORDS = 2_000


@dataclass
class Chain:
    topic: str
    partition: int
    head: str = GENESIS
    last_offset: int = -1  # the last offset sealed; -1: none yet
    pending: list[Entry] = field(default_factory=list)
    waiting_since: float | None = None  # when the oldest pending record was read

    @classmethod
    def after(cls, topic: str, partition: int, last: LedgerSeal | None) -> Chain:
        """The chain going on from the last seal written for the partition (None: the first)."""
        if last is None:
            return cls(topic, partition)
        return cls(topic, partition, last.head, last.last_offset)

    @property
    def at(self) -> tuple[str, int]:
        return self.topic, self.partition

    @property
    def next_offset(self) -> int | None:
        return self.last_offset + 1 if self.last_offset >= 0 else None

    def add(self, entry: Entry, now: float) -> None:
        """A record read; one already sealed or already held (read again after a seek) is
        not taken twice."""
        newest = self.pending[-1].offset if self.pending else self.last_offset
        if entry.offset <= newest:
            return
        if not self.pending:
            self.waiting_since = now
        self.pending.append(entry)

    def due(self, now: float, every: float) -> bool:
        if not self.pending or self.waiting_since is None:
            return False
        return len(self.pending) >= MAX_RECORDS or now - self.waiting_since >= every

    def seal(self, sealed_at: str, signer: Ed25519PrivateKey) -> LedgerSeal:
        """The seal of the records pending (at most MAX_RECORDS); ``sealed`` once written."""
        return ledger_seal.seal(
            self.topic,
            self.partition,
            self.pending[:MAX_RECORDS],
            self.head,
            sealed_at,
            signer,
        )

    def sealed(self, written: LedgerSeal, now: float) -> None:
        self.head, self.last_offset = written.head, written.last_offset
        self.pending = self.pending[written.count :]
        self.waiting_since = now if self.pending else None
