"""Commits from the gap guard (``commit_check``).

Defect: faust commits the first run of offsets its agents acked, plus ranges it saw skipped
in a fetch (its "gaps", counted as done). Around seeks back that bookkeeping goes wrong:
after a kill -9 during a large load its acked list held offsets below the commit and the same
offset twice, and the commit of every booking.state partition stopped ~2,000 short of the
end for good (bench.national, 200,000 and 60,000 bookings); its skipped ranges covered
messages read again and not yet processed. And its head-gap rule lets a commit jump one
missing message (``min(acked) - committed > 1``, committed being the next offset to read).
No upstream issue found. Reproducer: faust's own rule in
``tests/unit/infrastructure/test_patches.py`` (the head gap committed; offsets acked twice
committed one at a time). The kill -9 in bench.national with ``BENCH_FIXES_OFF=commit_check``
lost nothing on 9db900a (one run): the gap guard's seeks now rarely leave faust's acked list
in that state, but the rule the patch replaces is still faust's.
The agents' gap guard (``services.streams.gaps.GapGuard``) knows what was handled in order;
the commit is what it says. Without a guard, faust's rule with any head gap refused.
Applies to: faust-streaming 0.15.x, any broker.
"""

from __future__ import annotations

from typing import Any

from faust.transport import consumer as faust_consumer

NAME = "commit_check"

_original_new_offset = faust_consumer.Consumer._new_offset


def _new_offset(self: Any, tp: Any) -> int | None:
    """What the agents' gap guard (``app.commit_guard``, ``GapGuard.committable``) says was
    handled in order, where the app has one: faust's acked list is then cleared, unread.
    Otherwise faust's rule, with its head gap refused: faust lets a commit jump one missing
    message at the head of the acked offsets: its check is ``min(acked) - committed > 1``
    where ``committed`` is the next offset to read, so with committed 10 and acked 11.. it
    commits 12, skipping 10 for good. Nothing is committed until the missing offset is
    processed."""
    guard = getattr(self.app, "commit_guard", None)
    if guard is not None:
        # faust's bookkeeping, left to itself, ends wrong around seeks: offsets below the
        # commit, the same offset twice (a stuck commit), ranges it saw skipped counted as
        # done (a commit past messages never processed). Kept empty, never read.
        self._acked[tp].clear()
        self._acked_index[tp].clear()
        self._gap[tp].clear()
        return guard.committable(tp)
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
    if acked and (committed is None or min(acked) > committed):
        # With no committed offset on record faust would commit whatever it processed,
        # however far past the real commit (seen under kill -9: a partition processed from
        # 5560 after a rebalance, 2931-5559 lost). services.streams.app puts the broker's
        # committed offset on record before processing a partition's first message.
        return None
    return _original_new_offset(self, tp)


def apply() -> None:
    faust_consumer.Consumer._new_offset = _new_offset  # type: ignore[method-assign]
