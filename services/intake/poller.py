"""``releasewatch intake roster``: a jail's roster read every few minutes, its changes published
(#45). The rules are ``services.intake.roster``; this is the loop around them.

Each round: read the roster (a file, or a URL over HTTP(S)); if it is the one applied last,
nothing; else compare it with the snapshot, keep each malformed row on ``deadletter.v1`` (key:
the jurisdiction; value: the row; the line number in the reason), publish the changes with
``acks=all``, and only then save the snapshot (written whole, then renamed: a crash leaves the
old one, and the next round sends the same events again, duplicates by id). A held roster is
logged as an error and kept on ``deadletter.v1`` for the operators (``releasewatch watch``, the
board); nothing of it is applied until a roster looks normal again or an operator runs one
round with ``--accept-shrink``. Under ACLs it logs in as the intake's principal.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from schemas.deadletter import FieldError, RejectReason
from services.core import registry_files
from services.core.clock import Clock, SystemClock
from services.intake import roster, roster_changes
from services.intake.publisher import UNAVAILABLE, Publisher
from services.intake.roster import Mapping
from services.intake.roster_changes import Applied, Held, Snapshot
from services.ops import events
from services.ops.logging import get_logger
from services.ops.metrics import Metrics
from services.settings import Settings
from services.streams.codec import RawMessage

log = get_logger(__name__)
SERVICE = "intake"
PUBLISH_TIMEOUT_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 30.0


class RosterSetupError(ValueError):
    """The mapping or the snapshot cannot be used; the message names the file and field."""


def load_mapping(path: Path, jurisdiction: str) -> Mapping:
    """The roster's layout at ``path``, for ``jurisdiction``; a problem names the field."""
    text = registry_files.read_text(path, RosterSetupError)
    mapping = registry_files.parse(text, str(path), Mapping, "columns", RosterSetupError)
    return mapping.model_copy(update={"jurisdiction": jurisdiction})


def load_snapshot(path: Path) -> Snapshot:
    """The last roster applied (none yet: empty); a damaged file stops the poller, naming it,
    rather than announcing everyone again."""
    try:
        return Snapshot.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return Snapshot()
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RosterSetupError(
            f"{path}: the roster snapshot cannot be read ({exc}); restore it, or remove it to "
            "start over (every listed booking is then announced again: duplicates for those "
            "already opened)"
        ) from None


def save_snapshot(path: Path, snapshot: Snapshot) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("w") as out:
        json.dump(snapshot.to_json(), out)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)


@dataclass(frozen=True)
class Source:
    """Where the roster is: a file path, or an http(s) URL."""

    location: str

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    async def read(self) -> str:
        if not self.is_url:
            return await asyncio.to_thread(Path(self.location).read_text)
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(self.location) as answer,
        ):
            answer.raise_for_status()
            return await answer.text()


@dataclass(frozen=True)
class Round:
    """What one round did, for the log and the caller."""

    outcome: str  # unchanged | applied | held | unavailable | not_published
    events: int = 0
    problems: int = 0
    inferred_releases: int = 0


class Poller:
    def __init__(
        self,
        settings: Settings,
        mapping: Mapping,
        source: Source,
        snapshot_path: Path,
        clock: Clock | None = None,
    ) -> None:
        self.mapping = mapping
        self.source = source
        self.snapshot_path = snapshot_path
        self.clock = clock or SystemClock()
        self.publisher = Publisher(settings, SERVICE, Metrics(SERVICE))
        self.last_seen = ""  # the digest of the last roster looked at (applied or held)

    async def round(self, accept_shrink: bool = False) -> Round:
        where = {"jurisdiction": self.mapping.jurisdiction, "facility": self.mapping.facility.id}
        try:
            text = await self.source.read()
        except (OSError, aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            log.warning(events.ROSTER_UNAVAILABLE, **where, error=f"{type(exc).__name__}: {exc}")
            return Round("unavailable")
        snapshot = load_snapshot(self.snapshot_path)
        digest = roster_changes.digest(text)
        if roster_changes.unchanged(snapshot, text) or (
            digest == self.last_seen and not accept_shrink
        ):
            return Round("unchanged")
        self.last_seen = digest
        reading = roster.read(text, self.mapping)
        now = self.clock.now()
        for problem in reading.problems:
            error = FieldError(
                path=f"line {problem.line}", reason=RejectReason.SCHEMA, message=problem.message
            )
            await self.publisher.dead_letter(self.row(problem), [error], now)
        result = roster_changes.compare(reading, snapshot, self.mapping, now, digest, accept_shrink)
        if isinstance(result, Held):
            return await self.held(result, text, where)
        return await self.apply(result, len(reading.problems), where)

    def row(self, problem: roster.RowProblem) -> RawMessage:
        source = f"roster:{self.source.location}"
        key = self.mapping.jurisdiction.encode()
        return RawMessage(source, -1, problem.line, key, problem.text.encode())

    async def held(self, held: Held, text: str, where: dict[str, str]) -> Round:
        log.error(
            events.ROSTER_HELD,
            **where,
            reason=held.reason,
            listed=held.listed,
            last_listed=held.last_listed,
        )
        error = FieldError(path="", reason=RejectReason.INCONSISTENT, message=held.reason)
        raw = RawMessage(
            f"roster:{self.source.location}",
            -1,
            0,
            self.mapping.jurisdiction.encode(),
            text.encode(),
        )
        await self.publisher.dead_letter(raw, [error], self.clock.now())
        return Round("held")

    async def apply(self, result: Applied, problems: int, where: dict[str, str]) -> Round:
        try:
            await self.publisher.events(result.events, PUBLISH_TIMEOUT_SECONDS)
        except UNAVAILABLE as exc:
            self.last_seen = ""  # try this roster again next round
            log.warning(events.ROSTER_NOT_PUBLISHED, **where, error=type(exc).__name__)
            return Round("not_published")
        save_snapshot(self.snapshot_path, result.snapshot)
        if result.reappeared:
            log.warning(events.ROSTER_REAPPEARED, **where, bookings=list(result.reappeared))
        log.info(
            events.ROSTER_APPLIED,
            **where,
            events=len(result.events),
            problems=problems,
            inferred_releases=result.inferred_releases,
            listed=len(result.snapshot.bookings),
        )
        return Round("applied", len(result.events), problems, result.inferred_releases)

    async def run(self, every: float, once: bool, accept_shrink: bool) -> Round:
        await self.publisher.start()
        try:
            outcome = await self.round(accept_shrink)
            while not once:
                await asyncio.sleep(every)
                outcome = await self.round()
            return outcome
        finally:
            await self.publisher.stop()


def parse_every(text: str) -> float:
    """``30s``, ``5m``, ``1h`` (or plain seconds) as seconds, at least 10."""
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text)
    except (ValueError, IndexError):
        raise ValueError(f"--every {text!r}: a duration such as 30s, 5m or 1h") from None
    if seconds < 10:
        raise ValueError(f"--every {text!r}: at least 10s")
    return seconds
