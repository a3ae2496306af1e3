"""RELEASEWATCH_ENVIRONMENT=production (#46, CJIS: CJI encrypted in transit): a plaintext
broker listener or a plain-HTTP web server stops the start, naming the setting to change,
unless each is explicitly allowed; development (the default) is as before."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from services import cli
from services.settings import Settings
from tests.support.certs import Authority

SECURE = {
    "security_protocol": "SASL_SSL",
    "sasl_username": "releasewatch-booking",
    "sasl_password": "pw",
}


def test_development_is_as_before() -> None:
    settings = Settings(environment="development")
    assert settings.plaintext_http_problem() is None
    assert settings.web_ssl_context() is None


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({}, "RELEASEWATCH_SECURITY_PROTOCOL=PLAINTEXT"),
        (
            {"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": "p"},
            "RELEASEWATCH_SECURITY_PROTOCOL=SASL_PLAINTEXT",
        ),
        ({**SECURE, "webhook_allow_http": True}, "RELEASEWATCH_WEBHOOK_ALLOW_HTTP=true"),
        (
            {"web_certfile": "/c.pem"},
            "RELEASEWATCH_WEB_CERTFILE and RELEASEWATCH_WEB_KEYFILE go together",
        ),
    ],
)
def test_production_refuses_plaintext_naming_the_setting(values: dict, names: str) -> None:
    with pytest.raises(ValidationError, match=names.replace("(", r"\(")):
        Settings(environment="production", **values)


def test_each_plaintext_is_allowed_only_explicitly() -> None:
    broker = Settings(environment="production", allow_plaintext_broker=True)
    assert broker.security_protocol.value == "PLAINTEXT"
    assert "RELEASEWATCH_ALLOW_PLAINTEXT_HTTP=true" in (broker.plaintext_http_problem() or "")
    both = Settings(
        environment="production", allow_plaintext_broker=True, allow_plaintext_http=True
    )
    assert both.plaintext_http_problem() is None
    secure = Settings(environment="production", **SECURE)
    assert "RELEASEWATCH_WEB_CERTFILE" in (secure.plaintext_http_problem() or "")


def test_a_web_certificate_gives_https_at_tls_1_2_or_later(tmp_path: Path) -> None:
    authority = Authority.create(tmp_path / "ca")
    cert, key = authority.server("intake", ("localhost",))
    settings = Settings(environment="production", web_certfile=cert, web_keyfile=key, **SECURE)
    assert settings.plaintext_http_problem() is None
    context = settings.web_ssl_context()
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_a_service_in_production_over_plain_http_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RELEASEWATCH_ENVIRONMENT", "production")
    monkeypatch.setenv("RELEASEWATCH_ALLOW_PLAINTEXT_BROKER", "true")
    monkeypatch.setenv("RELEASEWATCH_BROKER_URL", "kafka://127.0.0.1:9")
    assert cli.main(["service", "intake"]) == 2
    assert "refuses plain HTTP: set RELEASEWATCH_WEB_CERTFILE" in capsys.readouterr().err
    monkeypatch.setenv("RELEASEWATCH_ALLOW_PLAINTEXT_BROKER", "false")
    assert cli.main(["report"]) == 2  # every command: the broker rule is the settings'
    assert "RELEASEWATCH_SECURITY_PROTOCOL=PLAINTEXT" in capsys.readouterr().err


def in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production, with plaintext allowed: what else a service's start refuses shows."""
    monkeypatch.setenv("RELEASEWATCH_ENVIRONMENT", "production")
    monkeypatch.setenv("RELEASEWATCH_ALLOW_PLAINTEXT_BROKER", "true")
    monkeypatch.setenv("RELEASEWATCH_ALLOW_PLAINTEXT_HTTP", "true")
    monkeypatch.setenv("RELEASEWATCH_BROKER_URL", "kafka://127.0.0.1:9")


def test_the_sealer_in_production_without_a_key_does_not_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    in_production(monkeypatch)
    assert cli.main(["service", "sealer"]) == 2
    assert "needs RELEASEWATCH_LEDGER_SIGNING_KEY" in capsys.readouterr().err


def test_the_board_in_production_needs_a_users_file_and_a_session_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    in_production(monkeypatch)
    assert cli.main(["service", "board"]) == 2
    assert "needs RELEASEWATCH_OIDC_ISSUER or RELEASEWATCH_USERS_FILE" in capsys.readouterr().err
    users = tmp_path / "users.yaml"
    users.write_text("users:\n- slug: jdoe\n  password_argon2: plain\n  totp_secret: x\n")
    monkeypatch.setenv("RELEASEWATCH_USERS_FILE", str(users))
    assert cli.main(["service", "board"]) == 2
    assert "needs RELEASEWATCH_SESSION_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("RELEASEWATCH_SESSION_SECRET", "s" * 32)
    assert cli.main(["service", "board"]) == 2  # the file itself, named by user and field
    assert "users[jdoe].password_argon2" in capsys.readouterr().err
