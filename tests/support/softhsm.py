"""SoftHSM 2 tokens for the PKCS#11 KEK tests (#46): a real PKCS#11 module (Debian's
softhsm2, installed by the Makefile), its tokens in a directory of the test's own. SoftHSM reads
its configuration once per process, when the module is first loaded: a process keeps one
directory (``SOFTHSM2_CONF``), and its tests tell their tokens apart by label."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
PIN = "246810"


@dataclass(frozen=True)
class Token:
    label: str
    conf: Path
    pin_file: Path

    def uri(self, current: str, pin_value: bool = False) -> str:
        pin = f"pin-value={PIN}" if pin_value else f"pin-source=file:{self.pin_file}"
        return f"pkcs11:token={self.label};object={current}?module-path={MODULE}&{pin}"

    @property
    def env(self) -> dict[str, str]:
        """What a service process needs to find the token."""
        return {"SOFTHSM2_CONF": str(self.conf)}


def softhsm_dir(folder: Path) -> Path:
    """A token directory and its configuration under ``folder``; the configuration file."""
    tokens = folder / "tokens"
    tokens.mkdir(parents=True, exist_ok=True)
    conf = folder / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    return conf


def new_token(conf: Path, label: str | None = None) -> Token:
    """A token initialised with a user PIN (and no key: ``keys rotate`` or ``make_key``)."""
    label = label or f"rw-{uuid.uuid4().hex[:8]}"
    command = ["softhsm2-util", "--init-token", "--free", "--label", label]
    subprocess.run(
        [*command, "--so-pin", "13579111", "--pin", PIN],
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        check=True,
        capture_output=True,
        timeout=30,
    )
    pin_file = conf.parent / f"{label}.pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    return Token(label, conf, pin_file)
