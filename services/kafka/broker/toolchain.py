"""What the embedded Apache Kafka needs on the machine: Java 17+, and its jars, resolved
from Maven Central through the pinned ``deploy/kafka/pom.xml`` once per pom and cached (the
classpath under ``~/.cache/releasewatch/kafka/<pom hash>/``, the jars in Maven's local
repository)."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from services.kafka.broker.process import BrokerStartError

KAFKA_DIR = Path(__file__).resolve().parents[3] / "deploy" / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG_CONFIG = KAFKA_DIR / "log4j2.xml"
MIN_JAVA = 17


def version() -> str:
    """The Apache Kafka version the pom pins."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not found:
        raise BrokerStartError(f"{POM} pins no <kafka.version>")
    return found.group(1)


def name() -> str:
    return f"Apache Kafka {version()} (KRaft, embedded)"


def find_java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_java_major(result.stderr + result.stdout)


def parse_java_major(version_output: str) -> int | None:
    """17 from 'openjdk version "17.0.15"', 8 from 'java version "1.8.0_392"'."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def missing_toolchain() -> str | None:
    """Why the embedded Apache Kafka cannot run here, or None when it can."""
    java = find_java()
    if java is None:
        return "no `java` on PATH (or JAVA_HOME)"
    major = java_major(java)
    if major is None or major < MIN_JAVA:
        return f"{java} is Java {major or 'of unknown version'}; Apache Kafka 4 needs {MIN_JAVA}+"
    if shutil.which("mvn") is None:
        return "no `mvn` on PATH (Maven fetches the Kafka jars)"
    return None


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    return root / "releasewatch" / "kafka" / digest


def classpath(timeout: float = 900.0) -> str:
    """The broker's classpath, resolved by Maven once per pom and then read from the cache."""
    folder = cache_dir()
    cached = folder / "classpath.txt"
    if _complete(cached):
        return cached.read_text().strip()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one resolve at a time (parallel first starts)
        if _complete(cached):
            return cached.read_text().strip()
        partial = folder / "classpath.txt.partial"
        command = [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:build-classpath",
            f"-Dmdep.outputFile={partial}",
            "-Dmdep.includeScope=runtime",
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerStartError(f"Maven did not resolve {POM} in {timeout:.0f} s") from exc
        if result.returncode != 0 or not partial.exists():
            tail = (result.stdout + result.stderr)[-2000:]
            raise BrokerStartError(f"Maven could not resolve the Kafka jars ({POM}): {tail}")
        partial.replace(cached)
    return cached.read_text().strip()


def _complete(cached: Path) -> bool:
    if not cached.exists():
        return False
    jars = [j for j in cached.read_text().strip().split(os.pathsep) if j]
    return bool(jars) and all(Path(j).exists() for j in jars)


def main() -> int:
    """``python -m services.kafka.broker.toolchain``: check Java and Maven, fetch the jars once."""
    reason = missing_toolchain()
    if reason:
        print(f"embedded Apache Kafka: {reason}", file=sys.stderr)
        return 1
    jars = classpath().split(os.pathsep)
    print(f"{name()}: {len(jars)} jars resolved (classpath cached in {cache_dir()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
