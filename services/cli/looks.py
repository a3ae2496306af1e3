"""The CLI's readers record who looked (#46): ``report``, ``trace``, ``watch`` and ``tail``
write one event to ``ops.access.v1`` before they show anything (the OS user, the command, the
host), as the board does for each look. A look that cannot be recorded shows nothing."""

from __future__ import annotations

import asyncio
import getpass
import socket

from schemas.access import AccessAction, AccessOutcome
from schemas.topics import ACCESS
from services.cli.failures import RunFailure
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
