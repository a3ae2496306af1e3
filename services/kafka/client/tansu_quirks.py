"""Every workaround for Tansu, the fallback broker, decided in one place. None applies on
Apache Kafka: ``quirks("apache")`` switches them all off.

One record per producer batch
    Tansu's ListOffsets is wrong after multi-record batches, and faust's table recovery,
    which reads up to the offsets it answers, then stops early and loses updates.
No standby replicas
    A standby reads the changelog the same way and would be just as wrong.
No idempotent producer and no transactions
    Tansu 0.6 has neither: ``RELEASEWATCH_PRODUCER_IDEMPOTENCE`` and ``exactly_once`` are
    refused on it (``Settings``).
A short, adaptive fetch wait (``FetchWait``, hooked into aiokafka by ``patches.fetch_wait``)
    Apache Kafka answers a waiting Fetch as soon as data arrives; Tansu waits the full time
    (a message published 0.37 s into a 1.5 s wait is read 0.38 s later; with 100 ms,
    10 ms), so readers keep the wait short there. Readers on Apache Kafka keep the
    clients' default wait.

    Tansu 0.6 answers a Fetch when its wait runs out, with what it has gathered by then, and
    finding a partition's fetch position costs it more the longer the partition is. Measured
    here (one partition, 1 kB records, one record per batch): with a 50 ms wait a fetch brings
    ~4,900 records at 50,000 records, 0-1 at 100,000, none at 200,000 and 300,000, however far
    behind the reader is; with 200 ms ~4,900 up to 300,000; with 500 ms ~5,200. A restarted
    scheduling worker recovering a 600,000-record table on a 5 GB broker got one record per
    fetch and was not ready after 300 s, while the broker spent a full core on fetches that
    came back empty.

    A short wait is still what latency needs while a reader is caught up (an idle fetch
    returns only when its wait ends), so the wait adapts: it doubles, up to a ceiling, each
    time a fetch comes back empty for a partition that had data past the fetch position when
    the fetch went out, and halves back towards the floor on each fetch that finds the reader
    caught up. (Data that arrives during the wait does not count: Tansu does not add it to the
    answer, so at the head of a busy partition every answer would look starved; a first
    version that counted it drove the wait to 2 s and notice latency p50 from ~100 to 413 ms.)
    Pure: the aiokafka hook is ``services.kafka.patches.fetch_wait``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerQuirks:
    """What the clients must do differently for one kind of broker."""

    one_record_batches: bool
    standby_replicas: int
    fetch_wait_ms: int | None  # None: the client's default (Apache Kafka answers early)
    fetch_wait_ceiling_ms: int | None  # None: the wait does not adapt
    idempotence_and_transactions: bool
    # RocksDB tables kept across restarts. Not on Tansu: memory only, its changelogs die with
    # it while a worker's local tables would live on.
    local_state: bool = True


APACHE_KAFKA = BrokerQuirks(
    one_record_batches=False,
    standby_replicas=1,
    fetch_wait_ms=None,
    fetch_wait_ceiling_ms=None,
    idempotence_and_transactions=True,
)
TANSU = BrokerQuirks(
    one_record_batches=True,
    standby_replicas=0,
    fetch_wait_ms=50,
    fetch_wait_ceiling_ms=2000,
    idempotence_and_transactions=False,
    local_state=False,
)


def quirks(flavor: str) -> BrokerQuirks:
    """``tansu`` or ``apache`` (``Settings.broker_flavor``)."""
    return TANSU if flavor == "tansu" else APACHE_KAFKA


class FetchWait:
    def __init__(self, floor_ms: int, ceiling_ms: int) -> None:
        if not 0 < floor_ms <= ceiling_ms:
            raise ValueError(f"need 0 < floor <= ceiling, got {floor_ms} and {ceiling_ms}")
        self.floor_ms = floor_ms
        self.ceiling_ms = ceiling_ms
        self.current_ms = floor_ms

    def after_fetch(self, behind: int, starved: int) -> int:
        """The wait for the next fetch, given how the last one went: ``behind`` partitions
        had data past their fetch position, ``starved`` of them came back empty."""
        if starved:
            self.current_ms = min(self.current_ms * 2, self.ceiling_ms)
        elif not behind:
            self.current_ms = max(self.current_ms // 2, self.floor_ms)
        # Behind and served: the wait is long enough for where the reader is; keep it.
        return self.current_ms
