"""Acknowledgement tokens: genuine and fresh is accepted; anything else refused as forged or
expired; never the secret in a token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.core import ack_tokens as tokens
from services.core.ack_tokens import Claims, Refusal

SECRET = "an installation's secret, 32 bytes or more"
NOW = datetime(2027, 3, 2, 12, tzinfo=UTC)
CLAIMS = Claims("notice|us-mn-hennepin/b1|r1|notice_due|r1", "dhs-ice", "us-mn-hennepin/b1", NOW)


def test_a_genuine_token_gives_back_its_claims_until_it_expires() -> None:
    token = tokens.issue(SECRET, CLAIMS)
    assert tokens.read(SECRET, token, NOW - timedelta(seconds=1)) == CLAIMS
    assert tokens.read(SECRET, token, NOW) is Refusal.EXPIRED
    assert SECRET not in token and "secret" not in token


def test_the_same_claims_give_the_same_token() -> None:
    assert tokens.issue(SECRET, CLAIMS) == tokens.issue(SECRET, CLAIMS)


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: tokens.issue("another installation's secret....", CLAIMS),
        lambda t: t.replace(".", ".x", 1),
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "a.b.c",
        lambda t: "!!!.???",
        # the claims changed (another notice), the signature kept
        lambda t: (
            tokens.issue(SECRET, Claims("notice|x", "dhs-ice", "k", CLAIMS.expires_at)).split(".")[
                0
            ]
            + "."
            + t.split(".")[1]
        ),
        # a later expiry claimed, the signature kept
        lambda t: (
            tokens.issue(
                SECRET, Claims(CLAIMS.notice_id, "dhs-ice", CLAIMS.key, NOW + timedelta(days=99))
            ).split(".")[0]
            + "."
            + t.split(".")[1]
        ),
    ],
)
def test_a_token_not_made_with_the_secret_is_forged(forge) -> None:  # type: ignore[no-untyped-def]
    token = forge(tokens.issue(SECRET, CLAIMS))
    assert tokens.read(SECRET, token, NOW - timedelta(days=1)) is Refusal.FORGED


def test_a_fingerprint_names_a_token_without_showing_it() -> None:
    token = tokens.issue(SECRET, CLAIMS)
    assert len(tokens.fingerprint(token)) == 16 and tokens.fingerprint(token) not in token
