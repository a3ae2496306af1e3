"""Configuration through ``RELEASEWATCH_*`` environment variables (SPEC 6)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BrokerFlavor(StrEnum):
    """Which broker we talk to. ``tansu`` switches on the embedded broker's workarounds."""

    APACHE = "apache"
    TANSU = "tansu"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RELEASEWATCH_", extra="ignore")

    broker_url: str | None = Field(
        default=None,
        description="kafka://host:port[;host:port]. When unset, an embedded broker is started.",
    )
    broker_flavor: BrokerFlavor = Field(
        default=BrokerFlavor.APACHE,
        description="apache for Apache Kafka; tansu for the embedded broker (set automatically "
        "when releasewatch starts it).",
    )
    embedded_broker_port: int = Field(
        default=0, ge=0, le=65535, description="port of the embedded broker; 0 picks a free one"
    )
    partitions: int = Field(default=8, ge=1, le=1024, description="partitions of every topic")
    replication_factor: int = Field(default=1, ge=1, le=7)
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    data_dir: Path = Path(".releasewatch")
    web_host: str = Field(default="127.0.0.1", description="interface the web servers bind")
    web_port_base: int = Field(default=6066, ge=1024, le=65000)
    policy_file: Path | None = None
    deadline_scan_interval: float = Field(
        default=0.2, gt=0, le=5, description="how often the deadline timer looks, s"
    )
    session_timeout: float = Field(default=8.0, gt=1, description="consumer session timeout, s")
    heartbeat_interval: float = Field(default=1.0, gt=0)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port,host:port`` for aiokafka, from the faust-style URL."""
        if not self.broker_url:
            raise ValueError("no broker URL: start the embedded broker first")
        return bootstrap_servers(self.broker_url)

    @property
    def single_record_batches(self) -> bool:
        """Tansu's ListOffsets is wrong after multi-record batches; faust table recovery then
        loses updates. One record per batch keeps recovery right. Off for Apache Kafka."""
        return self.broker_flavor is BrokerFlavor.TANSU


def bootstrap_servers(broker_url: str) -> str:
    hosts = []
    for part in broker_url.replace(",", ";").split(";"):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        if part:
            hosts.append(part.rstrip("/"))
    return ",".join(hosts)


def load() -> Settings:
    return Settings()
