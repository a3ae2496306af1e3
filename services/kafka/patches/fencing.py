"""Under exactly_once, a worker whose transaction can no longer commit restarts in place.

Each input partition has its transactional producer (``{app id}-{topic group}-{partition}``).
When another worker takes the partition, its producer fences this one: the broker refuses
whatever this one still sends, and its open transaction is aborted. A worker learns it has
lost a partition at its next rebalance, but when the group coordinator itself moves (a broker
killed) a worker can go on handling a partition another worker already holds, and a
transaction left open past the broker's transaction timeout is aborted the same way. faust
has no answer for it: the next send raised "Can't send messages while not in transaction"
and the whole worker stopped (fault suite, exactly_once, three brokers, broker kills: both
notification workers stopped within a minute, c942248).

What the aborted transaction held (outputs, table writes, the input offsets) is gone from the
broker's committed view, but the worker's own tables still hold its writes. So the worker does
what a ``kill -9`` and a restart would, a path the fault suite proves loses nothing: it logs
``transaction_fenced`` and replaces itself (``os.execve``, same process id and command
line). Its local state is still marked running, so the new worker rebuilds it from the
changelogs' committed records and reads its inputs again from the last committed offsets.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NoReturn

from aiokafka.errors import (
    IllegalOperation,
    InvalidProducerEpoch,
    InvalidTxnState,
    ProducerFenced,
)
from aiokafka.producer.transaction_manager import TransactionState

from services.ops import events
from services.ops.logging import get_logger

log = get_logger(__name__)

# How many times this worker has replaced itself (carried through execve).
RESTARTS_ENV = "RELEASEWATCH_FENCED_RESTARTS"
# A transaction that can no longer commit: fenced by a newer producer or timed out (fatal),
# or an offset write to it refused, e.g. by the group's ACLs (abortable: faust has no
# abort-and-redo either). A record the broker refuses leaves the transaction usable.
BROKEN_STATES = frozenset({TransactionState.FATAL_ERROR, TransactionState.ABORTABLE_ERROR})
BROKEN_ERRORS = (IllegalOperation, ProducerFenced, InvalidProducerEpoch, InvalidTxnState)


def broken(exc: BaseException, producer: Any = None) -> bool:
    """Whether ``exc``, raised by a transactional send or commit of ``producer`` (an
    aiokafka producer, when known), means the transaction can no longer commit."""
    manager = getattr(producer, "_txn_manager", None)
    if manager is not None and manager.state in BROKEN_STATES:
        return True
    seen: BaseException | None = exc
    while seen is not None:  # faust wraps the client's errors (ProducerSendError)
        if isinstance(seen, BROKEN_ERRORS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def restart_fenced(transactional_id: str, exc: BaseException) -> NoReturn:
    """Replace this worker by a new one, as a kill -9 and a restart would."""
    log.error(events.TRANSACTION_FENCED, **_restart_fields(transactional_id, exc))
    _replace_self()


# Records the broker refused inside a transaction, by transactional id (``note_refused``).
_refused: dict[str, BaseException] = {}


def note_refused(transactional_id: str, future: Any) -> None:
    """Done-callback of a transactional send: remember a refused record. aiokafka would
    commit the transaction without it (the record simply missing: lost, its input's offset
    committed)."""
    exc = _failure(future)
    if exc is not None:
        _refused.setdefault(transactional_id, exc)


def _failure(future: Any) -> BaseException | None:
    """Why a done delivery future failed (None: delivered, or cancelled)."""
    return None if future.cancelled() else future.exception()


def restart_if_refused(transactional_id: str | None = None, producer: Any = None) -> None:
    """Replace the worker if a record of the transaction ``transactional_id`` (of any, when
    None) was refused (``note_refused``): that transaction can never commit. Called before
    each commit, and by a handler that saw an output refused (at once, rather than after its
    retries, which could not help). A refusal by a fence restarts as ``transaction_fenced``;
    ``producer``: the transaction's, when known, for ``broken``."""
    for tid, exc in _refused.items():
        if transactional_id is None or tid == transactional_id:
            if broken(exc, producer):
                restart_fenced(tid, exc)
            restart_refused(tid, exc)


def restart_refused(transactional_id: str, exc: BaseException) -> NoReturn:
    """A transaction holding a refused record must not commit: replace this worker, which
    aborts it (the new producer takes the transactional id) and reads the inputs again from
    the last commit with a fresh producer, as after a fence. The inputs whose outputs the
    broker refused for good are counted for the new worker (``refused_before``)."""
    log.error(events.TRANSACTION_OUTPUT_REFUSED, **_restart_fields(transactional_id, exc))
    counts = refused_before()
    for position, error in _refused_inputs.items():
        times, _ = counts.get(position, (0, error))
        counts[position] = (times + 1, error)
    _replace_self({REFUSED_ENV: _encode(counts)})


# An input message: topic, partition, offset.
Input = tuple[str, int, int]
# Inputs whose outputs the broker refused for good in this worker's transactions, with the
# error's name; carried through the restart as counts (``REFUSED_ENV``).
_refused_inputs: dict[Input, str] = {}
REFUSED_ENV = "RELEASEWATCH_REFUSED_INPUTS"
KEPT = 100  # inputs carried through a restart at most (the latest)
# Restarts on an input's output refused for good, after which the input is dead-lettered
# naming the error instead of handled (fewer than at_least_once's 5 attempts: each one here
# costs a restart, and a refusal for good is a topic's setting or an ACL).
RESTARTS_BEFORE_GIVING_UP = 3


def note_refused_input(position: Input, future: Any) -> None:
    """Done-callback of an output of input ``position``: remember a refusal for good (a
    retriable one is tried until it goes through; a fence is not the input's doing)."""
    exc = _failure(future)
    if exc is not None:
        refused_input(position, exc)


def refused_input(position: Input, exc: BaseException) -> None:
    """The broker refused an output of input ``position`` (one the handler waited for)."""
    if not getattr(exc, "retriable", False) and not broken(exc):
        _refused_inputs.setdefault(position, type(exc).__name__)


def refused_before() -> dict[Input, tuple[int, str]]:
    """Per input, how many of this process's earlier workers restarted on an output of it the
    broker refused for good, and the error's name (``restart_refused``)."""
    try:
        rows = json.loads(os.environ.get(REFUSED_ENV) or "[]")
        return {
            (topic, partition, offset): (times, error)
            for topic, partition, offset, times, error in rows
        }
    except (TypeError, ValueError):
        return {}


def _encode(counts: dict[Input, tuple[int, str]]) -> str:
    rows = [[*position, times, error] for position, (times, error) in counts.items()]
    return json.dumps(rows[-KEPT:], separators=(",", ":"))


def _restarts() -> int:
    """This restart's number, counting from the process's start."""
    return int(os.environ.get(RESTARTS_ENV, "0")) + 1


def _restart_fields(transactional_id: str, exc: BaseException) -> dict[str, Any]:
    return {
        "transactional_id": transactional_id,
        "error": type(exc).__name__,
        "restarts": _restarts(),
    }


def _replace_self(carried: dict[str, str] | None = None) -> NoReturn:
    restarts = _restarts()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    environment = {**os.environ, **(carried or {}), RESTARTS_ENV: str(restarts)}
    os.execve(sys.executable, sys.orig_argv, environment)
