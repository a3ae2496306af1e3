"""No Docker engine here: the compose file is checked statically against the code."""

from pathlib import Path

import yaml

from services.cli import SERVICES, build_parser
from services.runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_every_service_with_real_commands_and_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(SERVICES) <= set(services)
    parser = build_parser()
    known = {f"RELEASEWATCH_{name.upper()}" for name in Settings.model_fields}
    for name in SERVICES:
        spec = services[name]
        args = parser.parse_args(spec["command"])  # every command exists in the CLI
        assert args.name == name
        assert set(spec["environment"]) <= known, set(spec["environment"]) - known
    assert (ROOT / "deploy" / "Dockerfile").is_file()
