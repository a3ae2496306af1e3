"""Which embedded broker runs when no broker URL is given: Apache Kafka, or Tansu as fallback.

``RELEASEWATCH_EMBEDDED_BROKER=kafka`` (the default) starts Apache Kafka; where Java 17+ or
Maven is missing, Tansu starts instead and one line on stderr says why and how to get Kafka.
``tansu`` asks for Tansu outright.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from services.kafka.broker.apache import EmbeddedKafka
from services.kafka.broker.process import BrokerStartError
from services.kafka.broker.tansu import TansuBroker
from services.kafka.broker.toolchain import missing_toolchain

EmbeddedBroker = EmbeddedKafka | TansuBroker

HOW_TO_GET_KAFKA = (
    "install Java 17+ and Maven (`apt-get install openjdk-17-jre-headless maven`; "
    "`make run` and `make test` do it)"
)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def choose(wanted: str, say: Callable[[str], None] = _say) -> str:
    """``kafka`` or ``tansu``: what will run for ``wanted``, saying so when it falls back."""
    if wanted == "tansu":
        return "tansu"
    reason = missing_toolchain()
    if reason is None:
        return "kafka"
    say(
        f"releasewatch: the embedded Apache Kafka cannot run: {reason}; "
        f"using the embedded Tansu broker instead (memory only). For Apache Kafka, "
        f"{HOW_TO_GET_KAFKA}."
    )
    return "tansu"


def embedded_broker(
    wanted: str,
    data_dir: Path,
    nodes: int = 1,
    port: int = 0,
    say: Callable[[str], None] = _say,
) -> EmbeddedBroker:
    """An embedded broker, not yet started. Kafka keeps its data in ``data_dir/kafka`` (one
    node) or ``data_dir/kafka-3-nodes``: a cluster's nodes share one cluster id, so the two
    never share a folder. Tansu keeps none and logs to ``data_dir/broker.log``."""
    if choose(wanted, say) == "kafka":
        folder = data_dir / ("kafka" if nodes == 1 else f"kafka-{nodes}-nodes")
        return EmbeddedKafka(folder, nodes=nodes, port=port)
    if nodes != 1:
        raise BrokerStartError(
            f"the Tansu broker runs one node only; --nodes {nodes} needs Apache Kafka: "
            f"{HOW_TO_GET_KAFKA}"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    return TansuBroker(port=port, log_file=data_dir / "broker.log")
