"""The fault suite's check of the ledger's seals (#46): two sealers, killed with the other
workers, must have sealed every ledger record the run wrote, and the verifier must find
nothing: restarts, rebalances and at-least-once repeats raise no false alarm."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from services.core.ledger_seal import verify
from services.ledger import keys
from services.ledger.verify import read_ledger, read_seals
from tests.support.poll import until


def signing_key(folder: Path) -> Path:
    """One key for every sealer of the run (as one Kubernetes Secret would be)."""
    path = folder / "ledger-signing-key.pem"
    keys.write_new(path)
    return path


async def ledger_sealed(bootstrap: str, key: Path, timeout: float = 180.0) -> dict[str, Any]:
    """Waits until every ledger record is sealed (or a finding, or ``timeout``); the figures."""
    options = {"bootstrap_servers": bootstrap}
    trusted = keys.load_public_keys([key])
    last: dict[str, Any] = {}

    async def sealed() -> bool:
        seals = await read_seals(options)
        verdict = verify(await read_ledger(options), seals, trusted)
        last.update(
            ledger_records=verdict.records,
            ledger_sealed=verdict.sealed,
            ledger_seals=sum(len(s) for s in seals.values()),
            ledger_findings=[finding.line() for finding in verdict.findings],
        )
        return bool(verdict.findings) or verdict.records == verdict.sealed

    with contextlib.suppress(TimeoutError):
        await until(sealed, timeout, "every ledger record sealed", every=3.0)
    last["ledger_passed"] = not last["ledger_findings"] and (
        last["ledger_records"] == last["ledger_sealed"]
    )
    print(
        f"  ledger: {last['ledger_records']:,} records, {last['ledger_sealed']:,} sealed in "
        f"{last['ledger_seals']:,} seals by sealers killed with the rest; findings: "
        f"{last['ledger_findings'] or 'none'}"
    )
    return last
