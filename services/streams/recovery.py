"""Table recovery on changelogs that end with transaction markers.

Under exactly_once every transaction ends with a marker on each changelog partition it wrote
to. A marker takes an offset, and no consumer is ever handed it. faust's table recovery
waits to be handed the record at a changelog partition's last offset (its highwater).
Inside transactions it looks for markers only after two 5 s spells with nothing read
(``detect_aborted_tx``): each recovery under exactly_once took 10 s or more, a restarted or
fenced worker's too. Outside them it never looks: an installation restarted with
at_least_once after running exactly_once never finished its recovery (the worker logged "No
event received for active tp ...-changelog" every 5 s and never became ready).

``RecoveryWatch`` asks the broker instead. A partition whose recovery has stood still since
the last look, short of its highwater, is probed (``HoleProbe``, reading as the recovery's
own consumer does: committed records under exactly_once, all of them otherwise). When the
offsets left hold no record the recovery would be handed, only markers (and, read
committed, aborted records), the partition is recovered and faust is told so. When a record
is there, it is on its way and nothing is changed. When that was the last partition left,
the recovery ends at once (``end_recovery``): faust's loop would see it only at its next 5 s
timeout, and the worker would report itself not ready until then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from services.kafka.client.holes import HoleProbe
from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

LOOK_EVERY = 1.0  # seconds between looks; faust's own check comes every 5 s


def standing_still(
    highwaters: Mapping[Any, int | None],
    offsets: Mapping[Any, int | None],
    last_look: Mapping[Any, int | None],
) -> list[Any]:
    """The partitions short of their highwater whose recovered offset is the one seen at the
    last look (faust's highwater is the last offset, its offset the last one recovered, -1
    for none). A partition still moving is left to faust."""
    return [
        tp
        for tp, highwater in highwaters.items()
        if highwater is not None
        and offsets.get(tp) is not None
        and offsets[tp] < highwater  # type: ignore[operator]
        and tp in last_look
        and last_look[tp] == offsets[tp]
    ]


def watch_recovery(app: Any, client: dict[str, Any], isolation_level: str) -> RecoveryWatch:
    """Look every ``LOOK_EVERY`` seconds from the worker's first assignment on (faust starts
    its timers only once the first recovery is over, too late for this). ``client``: the
    settings' client options; ``isolation_level``: the worker consumer's."""
    watch = RecoveryWatch(app, client, isolation_level)
    looking: list[Any] = []

    @app.on_partitions_assigned.connect
    async def start_looking(sender: Any, assigned: Any, **_: Any) -> None:
        if not looking:  # stopped with the app (mode cancels the futures it was given)
            looking.append(app.add_future(watch.keep_looking()))

    return watch


def end_recovery(recovery: Any) -> None:
    """End faust's recovery as its own loop does once nothing is left to read
    (``_maybe_signal_recovery_end`` in ``Recovery._slurp_changelogs``): what it buffered is
    applied, the app leaves recovery, and the waiting rebalance goes on. That loop looks only
    when a changelog record comes or after 5 s without one, and none comes after markers."""
    recovery.flush_buffers()
    recovery._set_recovery_ended()
    recovery.signal_recovery_end.set()


class RecoveryWatch:
    def __init__(self, app: Any, client: dict[str, Any], isolation_level: str) -> None:
        self.app = app
        self.client = client  # for the probe's consumer, made on first need
        self.isolation_level = isolation_level
        self.last_look: dict[Any, int | None] = {}
        self.probe: HoleProbe | None = None

    async def keep_looking(self) -> None:
        while not self.app.should_stop:
            await asyncio.sleep(LOOK_EVERY)
            await self.look()

    async def look(self) -> None:
        """One look. A failed one is logged and tried again next time: an exception here
        would stop the whole worker (mode stops a service whose future raised)."""
        recovery = self.app.tables.recovery
        try:
            if not recovery.in_recovery:
                self.last_look.clear()
                if self.probe is not None:  # its consumer is not kept between recoveries
                    probe, self.probe = self.probe, None
                    await probe.close()
                return
            for tp in standing_still(
                recovery.active_highwaters, recovery.active_offsets, self.last_look
            ):
                await self._ask(recovery, tp)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(events.RECOVERY_WATCH_FAILED, error=type(exc).__name__)
        self.last_look.clear()
        self.last_look.update(dict(recovery.active_offsets))

    async def _ask(self, recovery: Any, tp: Any) -> None:
        """Recover ``tp`` if the broker has no record left after its recovered offset."""
        if self.probe is None:
            self.probe = HoleProbe(self.client, isolation_level=self.isolation_level)
        offsets = recovery.active_offsets
        recovered, highwater = offsets[tp], recovery.active_highwaters[tp]
        start, end = recovered + 1, highwater + 1
        if await self.probe.holds_records(tp.topic, tp.partition, start, end):
            return  # a record is on its way
        if offsets[tp] != recovered:  # it moved while the broker was asked
            return
        offsets[tp] = highwater
        over = not recovery.need_recovery()
        log.info(
            events.RECOVERY_PAST_MARKERS,
            topic=tp.topic,
            partition=tp.partition,
            recovered_to=recovered,
            markers=end - start,
            recovery_over=over,
        )
        if over:
            end_recovery(recovery)
