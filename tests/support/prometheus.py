"""A real Prometheus (Debian's ``prometheus`` package, installed by ``make test``) on loopback,
scraping given workers with the project's alerting rules. Every process started is stopped."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from services.kafka.broker.process import die_with_parent_preexec, free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"


class Prometheus:
    def __init__(self, folder: Path, targets: list[str], interval: str = "1s") -> None:
        binary = shutil.which("prometheus")
        assert binary, "prometheus is missing: `make test` installs Debian's prometheus package"
        self.port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": interval, "evaluation_interval": interval},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [
                        {"job_name": "releasewatch", "static_configs": [{"targets": targets}]}
                    ],
                }
            )
        )
        self.log_path = folder / "prometheus.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent_preexec,
        )

    def api(self, path: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())["data"]
        except OSError:
            return None

    def alerts(self, state: str = "firing") -> list[dict[str, Any]]:
        data = self.api("alerts") or {"alerts": []}
        return [a for a in data["alerts"] if a["state"] == state]

    def targets_up(self) -> int:
        data = self.api("targets") or {"activeTargets": []}
        return sum(1 for t in data["activeTargets"] if t["health"] == "up")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()
