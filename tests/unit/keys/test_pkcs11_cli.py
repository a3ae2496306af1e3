"""`releasewatch keys` on a PKCS#11 token (#46), as an operator runs it: the first rotation
makes the key the URI names, a later one makes a new key and says how to make it current, the
listing marks the current one and never prints a secret; a wrong PIN and an absent key stop
with exit 2 naming the setting; a rotation production cannot record is undone on the token.
Each command is its own process, so it sees the tokens made for it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.processes import without_settings
from tests.support.softhsm import PIN, Token, new_token
from tests.support.workers import run_cli


def env_for(token: Token, uri: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **without_settings(),
        **token.env,
        "RELEASEWATCH_KEK_PKCS11": uri,
        "RELEASEWATCH_DATA_DIR": str(tmp_path),
        **extra,
    }


def test_keys_rotate_and_list_on_a_new_token(hsm_token: Token, tmp_path: Path) -> None:
    token = new_token(hsm_token.conf)  # seen by the commands' own processes
    env = env_for(token, token.uri("kek-first"), tmp_path)

    absent = run_cli(env, "keys", "list")
    assert absent.returncode == 2
    assert "RELEASEWATCH_KEK_PKCS11" in absent.stderr and "kek-first" in absent.stderr

    first = run_cli(env, "keys", "rotate")
    assert first.returncode == 0, first.stderr
    assert f"kek-first made on token {token.label}; it is current" in first.stdout

    second = run_cli(env, "keys", "rotate")
    assert second.returncode == 0, second.stderr
    [made] = re.findall(r"(kek-\d{8}-[0-9a-f]{4}) made on token", second.stdout)
    assert f"set object={made} in RELEASEWATCH_KEK_PKCS11" in second.stdout

    listed = run_cli(env, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == sorted(
        [f"kek-first  on token {token.label}  current", f"{made}  on token {token.label}"]
    )
    assert PIN not in listed.stdout + listed.stderr

    now_current = env_for(token, token.uri(made), tmp_path)
    assert f"{made}  on token {token.label}  current" in run_cli(now_current, "keys", "list").stdout


def test_a_wrong_pin_or_a_rotation_production_cannot_record_leaves_the_token_as_it_was(
    hsm_token: Token, tmp_path: Path
) -> None:
    token = new_token(hsm_token.conf)
    env = env_for(token, token.uri("kek-a"), tmp_path)
    assert run_cli(env, "keys", "rotate").returncode == 0

    wrong = env_for(token, token.uri("kek-a", pin_value=True).replace(PIN, "000000"), tmp_path)
    refused = run_cli(wrong, "keys", "list")
    assert refused.returncode == 2
    assert "RELEASEWATCH_KEK_PKCS11: the token refused the PIN" in refused.stderr

    production = {"RELEASEWATCH_ENVIRONMENT": "production"}
    production["RELEASEWATCH_ALLOW_PLAINTEXT_BROKER"] = "true"
    undone = run_cli({**env, **production}, "keys", "rotate")
    assert undone.returncode == 2
    assert "undone" in undone.stderr and "RELEASEWATCH_BROKER_URL" in undone.stderr
    assert run_cli(env, "keys", "list").stdout.splitlines() == [
        f"kek-a  on token {token.label}  current"
    ]
