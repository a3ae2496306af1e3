"""Signing in with the county's identity provider (OpenID Connect, #46): the authorization
code flow with PKCE, as a confidential client. The provider is found from its issuer
(``/.well-known/openid-configuration``); its ID token is verified with its published keys
(signature, issuer, audience, expiry, and the nonce this sign-in sent). The second factor is
the provider's to ask for, and the ID token's ``amr`` (RFC 8176) must say it was used: one of
``second_factors`` (``RELEASEWATCH_OIDC_MFA_AMR``; CJIS 5.6.2.2: advanced authentication)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"]  # never "none", never HMAC with a public key
TIMEOUT = aiohttp.ClientTimeout(total=10)
LEEWAY = 60  # s of clock difference with the provider


class SignInFailed(RuntimeError):
    """The provider's answer did not sign anyone in; the message says why (no secret)."""


class NoSecondFactor(SignInFailed):
    """Signed in at the provider, but not with a second factor this board accepts."""


# RFC 8176 methods that are a factor beyond a password, or say several were used
SECOND_FACTORS = frozenset(
    {"mfa", "otp", "hwk", "swk", "sc", "sms", "tel", "fpt", "face", "iris", "retina", "vbm"}
)


def second_factor_used(claims: dict[str, Any], accepted: frozenset[str]) -> None:
    """``SignInFailed`` unless the ID token's ``amr`` names one of ``accepted`` (nothing is
    asked when ``accepted`` is empty)."""
    if not accepted:
        return
    methods = claims.get("amr")
    used = {str(m) for m in methods} if isinstance(methods, list) else set()
    if not used & accepted:
        raise NoSecondFactor(
            f"the identity provider does not say a second factor was used (amr: "
            f"{sorted(used) or 'none'}); RELEASEWATCH_OIDC_MFA_AMR names those accepted"
        )


@dataclass(frozen=True)
class Attempt:
    """What the browser carries (signed) between the redirect out and the callback."""

    state: str
    nonce: str
    verifier: str
    next_path: str

    @classmethod
    def new(cls, next_path: str) -> Attempt:
        return cls(
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(24),
            secrets.token_urlsafe(48),
            next_path,
        )

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class Provider:
    issuer: str
    client_id: str
    client_secret: str
    second_factors: frozenset[str] = SECOND_FACTORS  # empty: the provider's policy trusted
    _config: dict[str, Any] | None = None

    async def config(self) -> dict[str, Any]:
        if self._config is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            self._config = await _get_json(url)
            if self._config.get("issuer") != self.issuer:
                found = self._config.get("issuer")
                self._config = None
                raise SignInFailed(f"the provider at {url} names itself {found!r}")
        return self._config

    async def redirect_to(self, attempt: Attempt, redirect_uri: str) -> str:
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": "openid profile",
            "state": attempt.state,
            "nonce": attempt.nonce,
            "code_challenge": attempt.challenge,
            "code_challenge_method": "S256",
        }
        return f"{(await self.config())['authorization_endpoint']}?{urlencode(query)}"

    async def signed_in(self, attempt: Attempt, code: str, redirect_uri: str) -> str:
        """Who signed in (the ID token's ``preferred_username``, else ``sub``)."""
        config = await self.config()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": attempt.verifier,
        }
        auth = aiohttp.BasicAuth(self.client_id, self.client_secret)
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.post(config["token_endpoint"], data=form, auth=auth) as answer,
        ):
            body = await answer.json(content_type=None)
            if answer.status != 200 or "id_token" not in body:
                raise SignInFailed(
                    f"the token endpoint answered {answer.status}: {body.get('error')}"
                )
        jwks = await _get_json(config["jwks_uri"])
        claims = verified(body["id_token"], jwks, self.issuer, self.client_id, attempt.nonce)
        second_factor_used(claims, self.second_factors)
        return str(claims.get("preferred_username") or claims["sub"])


def verified(
    id_token: str,
    jwks: dict[str, Any],
    issuer: str,
    client_id: str,
    nonce: str,
    now: float | None = None,
) -> dict[str, Any]:
    """The ID token's claims, once its signature (one of the provider's keys, an asymmetric
    algorithm), issuer, audience, nonce and times hold; else ``SignInFailed``."""
    try:
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        token = jwt.decode(id_token, keys, algorithms=ALGORITHMS)
        jwt.JWTClaimsRegistry(
            now=int(time.time() if now is None else now),
            leeway=LEEWAY,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            nonce={"essential": True, "value": nonce},
            sub={"essential": True},
            exp={"essential": True},
        ).validate(token.claims)
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise SignInFailed(f"the ID token is refused: {type(exc).__name__}: {exc}") from None
    return dict(token.claims)


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http, http.get(url) as answer:
            if answer.status != 200:
                raise SignInFailed(f"{url} answered {answer.status}")
            found = await answer.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise SignInFailed(f"{url} could not be reached: {type(exc).__name__}") from None
    if not isinstance(found, dict):
        raise SignInFailed(f"{url} did not answer a JSON object")
    return found
