"""The CLI's readers record who looked (#46): ``report``, ``trace``, ``watch`` and ``tail``
write one event to ``ops.access.v1`` before they show anything (the OS user, the command, the
host), as the board does for each look. A look that cannot be recorded shows nothing.

Changes of keys and users (``keys rotate``, ``users add``, ``ledger key``) are recorded the
same way once made (CJIS 5.4.1.1: changes of permissions and keys are audit events); one that
cannot be recorded is undone. Without a broker URL only development lets it stand,
unrecorded, and says so."""

from __future__ import annotations

import asyncio
import getpass
import socket
import sys
from collections.abc import Callable

from schemas.access import AccessAction, AccessOutcome
from schemas.topics import ACCESS
from services.cli.failures import RunFailure, UsageError, talking_to_broker
from services.kafka.admin.topics import ensure_topics
from services.kafka.client.security import client_options
from services.people.audit import AccessLog
from services.settings import Settings


def record_look(settings: Settings, command: str, action: AccessAction = AccessAction.VIEW) -> None:
    """Call inside ``talking_to_broker``: a refused login is told as such. ``action``: a look,
    or a change (``acls apply``)."""

    async def write() -> bool:
        await ensure_topics(  # created where this login may (development); else already there
            client_options(settings),
            settings.partitions,
            settings.replication_factor,
            [ACCESS],
            min_insync_replicas=settings.min_insync_replicas,
        )
        looks = AccessLog(settings, "cli")
        await looks.start()
        try:
            return await looks.record(
                action,
                getpass.getuser(),
                AccessOutcome.SUCCESS,
                command,
                socket.gethostname(),
            )
        finally:
            await looks.stop()

    if not asyncio.run(write()):
        raise RunFailure(
            f"{ACCESS.name} did not take the record of this look; nothing is shown (every look "
            "at CJI is recorded: docs/sign-in.md)"
        )


def record_change(settings: Settings, change: str, undo: Callable[[], None]) -> None:
    """``change``, made already, recorded on ``ops.access.v1``; ``undo`` when it cannot be."""
    if settings.broker_url is None:
        if settings.environment == "production":
            undo()
            raise UsageError(
                f"{change}: undone. RELEASEWATCH_ENVIRONMENT=production records every change of "
                f"keys and users on {ACCESS.name}: set RELEASEWATCH_BROKER_URL"
            )
        print(
            f"not recorded on {ACCESS.name} (no RELEASEWATCH_BROKER_URL; development)",
            file=sys.stderr,
        )
        return
    try:
        with talking_to_broker(settings, f"{change}: undone, not recorded on"):
            record_look(settings, change, AccessAction.CHANGE)
    except RunFailure:
        undo()
        raise
