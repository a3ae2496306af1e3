"""What the broker itself stored: Apache Kafka's ``DumpLogSegments`` on one partition of an
embedded broker's data dir, each record batch's header with its records."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from services.kafka.broker.toolchain import classpath, find_java


@dataclass
class Batch:
    header: str  # "baseOffset: ... producerId: ... isTransactional: ... isControl: ..."
    records: list[str] = field(default_factory=list)  # "| offset: ... key: ... payload: ..."

    @property
    def transactional(self) -> bool:
        return "isTransactional: true" in self.header

    @property
    def control(self) -> bool:  # a transaction's commit or abort marker
        return "isControl: true" in self.header

    @property
    def producer_id(self) -> int:
        """The idempotent or transactional producer's id; -1 from a producer that is neither."""
        return int(self.header.split("producerId: ", 1)[1].split()[0])


def batches(data_dir: Path, topic: str, partition: int) -> list[Batch]:
    """Every batch of ``topic``'s ``partition`` as the broker wrote it (a live segment reads
    fine). Blocks on a JVM for a few seconds: call it in a thread."""
    [folder] = list(data_dir.rglob(f"{topic}-{partition}"))
    segments = sorted(folder.glob("*.log"))
    java = find_java()
    assert java and segments, (java, folder)
    command = [java, "-cp", classpath(), "kafka.tools.DumpLogSegments", "--print-data-log"]
    command += ["--files", ",".join(str(segment) for segment in segments)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout
    found: list[Batch] = []
    for line in out.splitlines():
        if line.startswith("baseOffset:"):
            found.append(Batch(line))
        elif line.startswith("| offset:") and found:
            found[-1].records.append(line)
    return found
