"""What a worker's faust and aiokafka clients do beyond faust's own settings, as one typed
value built from the settings and the broker's quirks: the producer's idempotence, the fetch
wait (Tansu), the input watchdog's interval, exactly-once, and the faust fixes switched off
(fault suite). The settings are plain values; what they mean on a given broker is decided
here (``tuning_of``, ``idempotent_producers``, ``single_record_batches``, ``flavor_problem``).
"""

from __future__ import annotations

from dataclasses import dataclass

from services.kafka.client.tansu_quirks import BrokerQuirks, quirks
from services.settings import ProcessingGuarantee, Settings

# The faust fixes the fault suite can switch off one at a time to prove each still needed
# (services.kafka.patches; gap_guard acts in services.streams.consume).
FIX_SWITCHES = (
    "seek_beginning",
    "read_offset_drop",
    "commit_check",
    "gap_guard",
    "commit_in_step",
    "commit_before_revoke",
    "restart_fenced",
)


@dataclass(frozen=True)
class ClientTuning:
    idempotent: bool = False
    fetch_wait_ms: int | None = None  # None: the client's default
    fetch_wait_ceiling_ms: int | None = None  # None: the wait does not adapt
    watch_interval: float = 1.0
    exactly_once: bool = False
    fixes_off: frozenset[str] = frozenset()


def parse_fixes_off(text: str) -> frozenset[str]:
    """``gap_guard,commit_check`` -> the names; an unknown name is refused."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = names - set(FIX_SWITCHES)
    if unknown:
        raise ValueError(f"unknown {sorted(unknown)}; known: {', '.join(FIX_SWITCHES)}")
    return names


def quirks_of(settings: Settings) -> BrokerQuirks:
    """The broker's workarounds (``tansu_quirks``): none on Apache Kafka."""
    return quirks(settings.broker_flavor.value)


def idempotent_producers(settings: Settings) -> bool:
    """Idempotent producers: as set, else wherever the broker and acks allow them."""
    if settings.producer_idempotence is not None:
        return settings.producer_idempotence
    return quirks_of(settings).idempotence_and_transactions and settings.producer_acks == "all"


def single_record_batches(settings: Settings) -> bool:
    """One record per producer batch: the broker's quirk unless set (measurements)."""
    if settings.one_record_batches is not None:
        return settings.one_record_batches
    return quirks_of(settings).one_record_batches


def tuning_of(settings: Settings) -> ClientTuning:
    """The clients' tuning; an unknown fix name raises ValueError (``parse_fixes_off``)."""
    broker = quirks_of(settings)
    return ClientTuning(
        idempotent=idempotent_producers(settings),
        fetch_wait_ms=broker.fetch_wait_ms,
        fetch_wait_ceiling_ms=broker.fetch_wait_ceiling_ms,
        watch_interval=settings.input_watch_interval,
        exactly_once=settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE,
        fixes_off=parse_fixes_off(settings.faust_fixes_off),
    )


def flavor_problem(settings: Settings) -> str | None:
    """What the settings ask of the broker that it cannot do (Tansu has no idempotent producer
    or transactions), in one line naming the settings; None when it can."""
    if quirks_of(settings).idempotence_and_transactions:
        return None
    unsupported = []
    if settings.processing_guarantee is ProcessingGuarantee.EXACTLY_ONCE:
        unsupported.append("RELEASEWATCH_PROCESSING_GUARANTEE=exactly_once")
    if settings.producer_idempotence is True:
        unsupported.append("RELEASEWATCH_PRODUCER_IDEMPOTENCE=true")
    if not unsupported:
        return None
    return (
        "the embedded broker has no idempotent producer or transactions: "
        f"{', '.join(unsupported)} works on Apache Kafka only"
    )
