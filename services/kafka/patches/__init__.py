"""Every workaround for a defect in faust-streaming or aiokafka, one module per defect, each
opening with the defect, the evidence (upstream issue where one exists, else the failing
test or fault-suite run that shows it) and the versions it applies to. ``apply`` installs
them all, once, from one place: ``services.cli.main`` at process start, before any client
exists. ``internals`` holds what the skeleton reads or sets inside the libraries without a
patch. Tansu's own workarounds are decided in ``services.kafka.client.tansu_quirks``.

- ``seek_beginning``: prefetched messages never read again where nothing is committed
  (faust + aiokafka); evidence: faust-streaming #216, #221; integration (real broker).
- ``read_offset_drop``: re-read messages dropped after a seek back (faust); evidence:
  faust's own fetch loop in a unit test; bench.national kill -9 (2324b87).
- ``commit_check``: commits past unprocessed messages (faust's acked list, head gap);
  evidence: faust's own rule in unit tests; bench.national (2324b87).
- ``handed_over``: a commit before the table's changelog record left faust's buffer (faust);
  evidence: unit.
- ``commit_in_step``: outputs committed without their input's offset (faust, exactly_once);
  evidence: fault suite, unit.
- ``commit_before_revoke``: nothing committed at a rebalance (faust); evidence: fault suite
  seed 3.
- ``restart_fenced``: a fenced producer stops the worker; serial commits (faust); evidence:
  fault suite, brokers.
- ``idempotent_producer``: idempotence only in transactions (faust, a limit); evidence:
  broker log test.
- ``create_unless_exists``: CreateTopics for existing topics under ACLs (faust); evidence:
  test_security.
- ``highwaters_from_broker``: last stable offsets unknown before a fetch (faust + aiokafka);
  evidence: fault suite, EOS.
- ``fetch_wait``: a fetch wait Tansu does not cut short (Tansu; off on Kafka); evidence:
  latency bench.
- ``sequences``: a refused batch's sequence numbers never given back (aiokafka); evidence:
  test_sequences.
- ``compact_json``: faust's orjson output kept with up to 13 times its length allocated
  (faust with orjson 3.13; a cost); evidence: memray in bench.burst (#47), unit.
- ``partition_lookup``: a send's partition set built and its key hashed on every record
  (aiokafka; a cost, not an error); evidence: bench.burst profile (#47), unit.

Re-run on Apache Kafka 4.1.1 with faust-streaming 0.15 (session 23, bench/results/chaos-off/):
``commit_before_revoke`` off, exactly_once, seed 3: 15 alert ids repeated (reproduces);
``commit_in_step`` off, exactly_once, seed 1: 3 alerts and 2 notices lost (reproduces);
``seek_beginning`` off, at_least_once, seed 1: nothing lost (not reproduced by this run, whose
workers all start together; its window is a worker joining a partition nothing was committed
on: kept until a reproducer aimed at it says otherwise). The others are still to re-run.

The fault suite's experiments switch some off (``RELEASEWATCH_FAUST_FIXES_OFF``,
``services.kafka.client.tuning.FIX_SWITCHES``); ``gap_guard`` is not a patch but the agents' guard.
"""

from __future__ import annotations

import os

from services.kafka.client.tuning import parse_fixes_off
from services.kafka.patches import (
    commit_before_revoke,
    commit_check,
    commit_in_step,
    compact_json,
    create_unless_exists,
    fetch_wait,
    handed_over,
    highwaters_from_broker,
    idempotent_producer,
    partition_lookup,
    read_offset_drop,
    restart_fenced,
    seek_beginning,
    sequences,
)

OFF_SETTING = "RELEASEWATCH_FAUST_FIXES_OFF"
_applied = False

# Switchable by the fault suite, in the order installed.
SWITCHABLE = (seek_beginning, read_offset_drop, commit_check, commit_in_step, commit_before_revoke)
ALWAYS = (
    handed_over,
    idempotent_producer,
    create_unless_exists,
    highwaters_from_broker,
    fetch_wait,
    sequences,
    partition_lookup,
    compact_json,
)


def switched_off() -> frozenset[str]:
    """The fixes the fault suite leaves out (``RELEASEWATCH_FAUST_FIXES_OFF``); an unknown name
    raises ValueError naming the setting."""
    try:
        return parse_fixes_off(os.environ.get(OFF_SETTING, ""))
    except ValueError as exc:
        raise ValueError(f"{OFF_SETTING}: {exc}") from None


def apply(off: frozenset[str] = frozenset()) -> None:
    """Install every patch, once per process (applying again changes nothing); ``off`` leaves
    the named ones out (the fault suite's experiments; a worker logs which at its start)."""
    global _applied
    if _applied:
        return
    for patch in SWITCHABLE:
        if patch.NAME not in off:
            patch.apply()
    for always in ALWAYS:
        always.apply()
    restart_fenced.apply(on="restart_fenced" not in off)
    _applied = True
