"""The ID token the board takes from an identity provider (#46): signed by one of the
provider's published keys with an asymmetric algorithm, for this board, from this provider,
with this sign-in's nonce, not expired; anything else is refused. PKCE as RFC 7636 says."""

from __future__ import annotations

from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from services.people import oidc

ISSUER = "https://idp.county.example"
CLIENT = "releasewatch-board"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_800_000_000
KEY = RSAKey.generate_key(2048, private=True, parameters={"kid": "k1"})
JWKS = {"keys": [{**KEY.as_dict(private=False), "kid": "k1", "alg": "RS256"}]}


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "248289761001",
        "preferred_username": "jdoe",
        "nonce": NONCE,
        "iat": NOW,
        "exp": NOW + 300,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(body: dict[str, Any], key: Any = KEY, alg: str = "RS256") -> str:
    return jwt.encode({"alg": alg, "kid": "k1"}, body, key)


def test_a_good_token_gives_its_claims() -> None:
    found = oidc.verified(token(claims()), JWKS, ISSUER, CLIENT, NONCE, now=NOW + 10)
    assert found["preferred_username"] == "jdoe"


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"aud": "another-client"},
        {"nonce": "replayed"},
        {"nonce": None},
        {"sub": None},
        {"exp": NOW - 3600},
        {"exp": None},
    ],
)
def test_a_token_for_someone_else_or_stale_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(oidc.SignInFailed, match="ID token is refused"):
        oidc.verified(token(claims(**changes)), JWKS, ISSUER, CLIENT, NONCE, now=NOW + 10)


def test_a_token_signed_by_another_key_or_with_a_shared_secret_is_refused() -> None:
    other = RSAKey.generate_key(2048, private=True, parameters={"kid": "k1"})
    with pytest.raises(oidc.SignInFailed):
        oidc.verified(token(claims(), other), JWKS, ISSUER, CLIENT, NONCE, now=NOW)
    secret = OctKey.generate_key(256)
    with pytest.raises(oidc.SignInFailed):
        oidc.verified(token(claims(), secret, "HS256"), JWKS, ISSUER, CLIENT, NONCE, now=NOW)


def test_an_unsigned_or_garbled_token_is_refused() -> None:
    good = token(claims())
    head, body, _ = good.split(".")
    for bad in (f"{head}.{body}.", "not a token", good[:-4] + "AAAA"):
        with pytest.raises(oidc.SignInFailed):
            oidc.verified(bad, JWKS, ISSUER, CLIENT, NONCE, now=NOW)


def test_pkce_challenge_is_rfc_7636s() -> None:
    attempt = oidc.Attempt("s", "n", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "/")
    assert attempt.challenge == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    fresh = {oidc.Attempt.new("/").state for _ in range(20)}
    assert len(fresh) == 20


@pytest.mark.parametrize(
    ("amr", "accepted"),
    [
        (["pwd", "otp"], True),
        (["pwd", "mfa"], True),
        (["hwk"], True),
        (["pwd"], False),
        (["pwd", "kba"], False),  # knowledge questions are not a second factor
        (None, False),
        ("mfa", False),  # not a list: not what RFC 8176 says
    ],
)
def test_a_sign_in_needs_a_second_factor_in_its_amr(amr: Any, accepted: bool) -> None:
    claims = {"sub": "jdoe"} if amr is None else {"sub": "jdoe", "amr": amr}
    if accepted:
        oidc.second_factor_used(claims, oidc.SECOND_FACTORS)
    else:
        with pytest.raises(oidc.NoSecondFactor, match="RELEASEWATCH_OIDC_MFA_AMR"):
            oidc.second_factor_used(claims, oidc.SECOND_FACTORS)


def test_the_setting_names_the_methods_taken_or_none() -> None:
    from services.people.web import second_factors

    assert second_factors(None) == oidc.SECOND_FACTORS
    assert second_factors("otp, hwk") == {"otp", "hwk"}
    assert second_factors("") == frozenset()  # the provider's policy trusted, said at start
    oidc.second_factor_used({"sub": "jdoe", "amr": ["pwd"]}, frozenset())
