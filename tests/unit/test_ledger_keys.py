"""The sealer's signing key (#46): production needs one named by its setting, a bad file stops
the start naming the setting, development makes one on first use; a verifier trusts public
keys by id, private files giving their public half."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from services.core.ledger_seal import key_id
from services.ledger import keys
from services.ledger.app import signing_key
from services.settings import Settings


def test_production_without_a_key_names_the_setting() -> None:
    settings = Settings(environment="production", allow_plaintext_broker=True)
    with pytest.raises(keys.KeyProblem, match="needs RELEASEWATCH_LEDGER_SIGNING_KEY"):
        keys.signing_key_path(settings)


@pytest.mark.parametrize("content", [b"", b"not a key", "ec"])
def test_a_key_file_that_is_not_an_ed25519_private_key_names_the_setting(
    tmp_path: Path, content: bytes | str
) -> None:
    path = tmp_path / "key.pem"
    if content == "ec":
        other = generate_private_key(SECP256R1())
        content = other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.write_bytes(content)  # type: ignore[arg-type]
    with pytest.raises(keys.KeyProblem, match=re.escape(f"RELEASEWATCH_LEDGER_SIGNING_KEY={path}")):
        keys.load_signing_key(path)


def test_a_missing_key_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyProblem, match="RELEASEWATCH_LEDGER_SIGNING_KEY"):
        keys.load_signing_key(tmp_path / "absent.pem")


def test_development_makes_a_key_once_under_the_data_dir_for_its_owner_only(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    first = signing_key(settings)
    path = tmp_path / keys.DEVELOPMENT_KEY
    assert oct(path.stat().st_mode)[-3:] == "600"
    again = signing_key(settings)
    assert key_id(first.public_key()) == key_id(again.public_key())


def test_a_new_key_never_overwrites_one(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    keys.write_new(path)
    with pytest.raises(FileExistsError):
        keys.write_new(path)


def test_public_keys_are_trusted_by_id_from_public_or_private_files(tmp_path: Path) -> None:
    private = keys.write_new(tmp_path / "one.pem")
    public = tmp_path / "two.pub.pem"
    second = keys.write_new(tmp_path / "two.pem")
    public.write_bytes(keys.public_pem(second))
    trusted = keys.load_public_keys([tmp_path / "one.pem", public])
    assert set(trusted) == {key_id(private.public_key()), key_id(second.public_key())}
    (tmp_path / "junk.pem").write_text("junk")
    with pytest.raises(keys.KeyProblem, match=re.escape("junk.pem")):
        keys.load_public_keys([tmp_path / "junk.pem"])
