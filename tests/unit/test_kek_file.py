"""The key-encryption keys in a file (#46): `keys rotate` makes the file for its owner only and
adds a current KEK each time, keeping the old ones to unwrap what they wrapped; `keys list`
shows ids and dates, never a secret; a bad file stops a service naming the setting; production
refuses to start booking or notification without one."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from services import cli
from services.cli.checks import check_service
from services.cli.failures import UsageError
from services.core import field_crypto as fc
from services.core import kek_file
from services.settings import Settings

BOOKING = "us-mn-hennepin/2027-000123"


def test_rotate_makes_the_file_for_its_owner_then_adds_a_current_kek(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys" / "kek.json"
    assert cli.main(["keys", "rotate", "--file", str(path)]) == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = kek_file.load(path)
    _, wrapped = fc.new_data_key(BOOKING, first)
    assert cli.main(["keys", "rotate", "--file", str(path)]) == 0
    second = kek_file.load(path)
    assert second.current != first.current and set(second.keys) == {first.current, second.current}
    fc.unwrap(BOOKING, wrapped, second)  # the old KEK still unwraps what it wrapped
    capsys.readouterr()
    assert cli.main(["keys", "list", "--file", str(path)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and listed[1].endswith("current") and second.current in listed[1]
    secrets = json.loads(path.read_text())["keys"]
    assert not any(entry["secret"] in "\n".join(listed) for entry in secrets.values())


def test_if_missing_leaves_a_file_that_is_there(tmp_path: Path) -> None:
    path = tmp_path / "kek.json"
    assert cli.main(["keys", "rotate", "--file", str(path), "--if-missing"]) == 0
    before = path.read_text()
    assert cli.main(["keys", "rotate", "--file", str(path), "--if-missing"]) == 0
    assert path.read_text() == before


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "cannot be read"),
        ("{}", "holds no keys"),
        ('{"current": "a", "keys": {"a": {"secret": "***"}}}', "no base64 secret"),
        (
            json.dumps(
                {"current": "a", "keys": {"a": {"secret": base64.b64encode(b"x" * 16).decode()}}}
            ),
            "16 bytes, not 32",
        ),
        (
            json.dumps(
                {
                    "current": "b",
                    "keys": {"a": {"secret": base64.b64encode(b"k" * 32).decode()}},
                }
            ),
            "current key 'b' is not among its keys",
        ),
    ],
)
def test_a_bad_file_stops_the_service_naming_the_setting(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "kek.json"
    path.write_text(content)
    with pytest.raises(kek_file.KekFileError, match=f"RELEASEWATCH_KEK_FILE: .*{problem}"):
        kek_file.load(path)
    for service in ("booking", "notification"):
        with pytest.raises(UsageError, match="RELEASEWATCH_KEK_FILE"):
            check_service(Settings(kek_file=path), service)


def test_a_missing_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="RELEASEWATCH_KEK_FILE"):
        check_service(Settings(kek_file=tmp_path / "absent.json"), "booking")


@pytest.mark.parametrize("service", ["booking", "notification"])
def test_production_needs_the_file_for_the_services_that_hold_persons(service: str) -> None:
    production = Settings(
        environment="production", allow_plaintext_broker=True, allow_plaintext_http=True
    )
    with pytest.raises(UsageError, match="production needs RELEASEWATCH_KEK_FILE"):
        check_service(production, service)
    check_service(Settings(), service)  # development: in clear, said at start


def test_scheduling_never_needs_it() -> None:
    production = Settings(
        environment="production", allow_plaintext_broker=True, allow_plaintext_http=True
    )
    check_service(production, "scheduling")


def test_in_production_a_change_that_cannot_be_recorded_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every change of keys is an audit event on ops.access.v1 (CJIS); with no broker to
    record it on, production leaves the file as it was and says why."""
    monkeypatch.delenv("RELEASEWATCH_BROKER_URL", raising=False)
    for name, value in {
        "RELEASEWATCH_ENVIRONMENT": "production",
        "RELEASEWATCH_ALLOW_PLAINTEXT_BROKER": "true",
        "RELEASEWATCH_ALLOW_PLAINTEXT_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "kek.json"
    assert cli.main(["keys", "rotate", "--file", str(path)]) == 2
    assert not path.exists()
    kek_file.rotate(path)
    before = path.read_bytes()
    assert cli.main(["keys", "rotate", "--file", str(path)]) == 2
    assert path.read_bytes() == before
    assert "undone" in capsys.readouterr().err


def test_in_development_without_a_broker_the_change_stands_unrecorded_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RELEASEWATCH_BROKER_URL", raising=False)
    monkeypatch.delenv("RELEASEWATCH_ENVIRONMENT", raising=False)
    path = tmp_path / "kek.json"
    assert cli.main(["keys", "rotate", "--file", str(path)]) == 0
    assert path.exists() and "not recorded on ops.access.v1" in capsys.readouterr().err
