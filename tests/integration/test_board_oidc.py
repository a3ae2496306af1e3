"""The board signs people in with an identity provider (#46): a real OpenID provider (panva's
oidc-provider from npm, tests/oidc/) and the authorization code flow with PKCE; the person
lands on the board, the sign-in and the look are on ops.access.v1; a callback that is not the
end of this browser's own sign-in is refused and recorded."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp

from schemas.topics import ACCESS
from services.kafka.broker.process import die_with_parent_preexec, free_port
from tests.integration.conftest import ARTIFACTS, ROOT
from tests.support.poll import until
from tests.support.topics import KafkaHelper, Record
from tests.support.workers import all_ready

PROVIDER = ROOT / "tests" / "oidc"
CLIENT_SECRET = "a client secret of the board, long enough"


@contextlib.contextmanager
def openid_provider(port: int, redirect: str) -> Iterator[str]:
    node = shutil.which("node")
    assert node and (PROVIDER / "node_modules").is_dir(), "`make test` installs tests/oidc"
    log = (ARTIFACTS / f"oidc-provider-{port}.log").open("wb")
    process = subprocess.Popen(
        [node, "provider.mjs", str(port), redirect, CLIENT_SECRET],
        cwd=PROVIDER,
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent_preexec,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def signed_in_as(name: str) -> Any:
    def matches(record: Record) -> bool:
        value = record.value
        return bool(value["subject"] == name and value["action"] == "sign_in")

    return matches


@contextlib.asynccontextmanager
async def board_and_provider(
    start_service: Any,
) -> AsyncIterator[tuple[Any, str, aiohttp.ClientSession]]:
    """A board signing people in with a real provider, both ready; a browser's session."""
    issuer_port = free_port()
    issuer = f"http://127.0.0.1:{issuer_port}"
    board = start_service(
        "board",
        RELEASEWATCH_OIDC_ISSUER=issuer,
        RELEASEWATCH_OIDC_CLIENT_ID="releasewatch-board",
        RELEASEWATCH_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        RELEASEWATCH_SESSION_SECRET="y" * 40,
    )
    base = f"http://127.0.0.1:{board.port}"
    with openid_provider(issuer_port, f"{base}/oidc/callback"):
        await all_ready([board])
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as http:

            async def provider_up() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{issuer}/.well-known/openid-configuration") as up:
                        return up.status == 200
                return False

            await until(provider_up, 60, "the OpenID provider")
            yield board, base, http


async def sign_in_form(http: aiohttp.ClientSession, base: str, next_path: str) -> str:
    """The board sends the browser to the provider; the provider's sign-in form's action."""
    async with http.get(f"{base}/login?next={next_path}") as form:
        assert "/interaction/" in str(form.url), form.url
        action = re.search(r'action="([^"]+)"', await form.text())
    assert action
    return action.group(1)


def as_person(name: str) -> dict[str, str]:
    return {"prompt": "login", "login": name, "password": "checked by the provider"}


async def test_a_person_signs_in_with_the_identity_provider_and_lands_on_the_board(
    start_service: Any, kafka: KafkaHelper
) -> None:
    looks = await kafka.watch(ACCESS.name)
    name = f"officer-{uuid.uuid4().hex[:8]}"
    async with board_and_provider(start_service) as (_, base, http):
        async with http.get(f"{base}/api/board?jurisdiction={name}") as api:
            assert api.status == 401
        action = await sign_in_form(http, base, f"%2F%3Fjurisdiction%3D{name}")
        async with http.post(action, data=as_person(name)) as landed:
            assert landed.status == 200
            assert str(landed.url) == f"{base}/?jurisdiction={name}"
        async with http.get(f"{base}/api/board?jurisdiction={name}") as api:
            assert api.status == 200 and (await api.json())["releases"] == []
        async with aiohttp.ClientSession() as stranger:
            forged = f"{base}/oidc/callback?code=stolen&state=guessed"
            async with stranger.get(forged) as refused:
                assert refused.status == 401

    [success] = await looks.wait_for(signed_in_as(name), 1, what="the sign-in recorded")
    assert success.value["outcome"] == "success" and success.value["component"] == "board"
    await looks.wait_for(
        lambda r: r.value["subject"] == name and r.value["action"] == "view", 1, what="the look"
    )
    await looks.wait_for(
        lambda r: r.value["action"] == "sign_in" and r.value["reason"] == "no_attempt",
        1,
        what="the forged callback refused and recorded",
    )


async def test_a_sign_in_without_a_second_factor_is_refused_and_recorded(
    start_service: Any, kafka: KafkaHelper
) -> None:
    """CJIS asks for advanced authentication: the provider signed the person in with a password
    alone (its ID token's amr says ["pwd"]), so the board refuses them, and says why."""
    looks = await kafka.watch(ACCESS.name)
    name = f"one-factor-{uuid.uuid4().hex[:8]}"
    async with board_and_provider(start_service) as (board, base, http):
        action = await sign_in_form(http, base, "%2F")
        async with http.post(action, data=as_person(name)) as landed:
            assert landed.status == 401
        async with http.get(f"{base}/api/board") as api:
            assert api.status == 401
    refused = await looks.wait_for(
        lambda r: r.value["action"] == "sign_in" and r.value["reason"] == "no_second_factor",
        1,
        what="the one-factor sign-in refused and recorded",
    )
    assert {r.value["outcome"] for r in refused} == {"failure"}
    assert "a second factor was used (amr: ['pwd'])" in board.log_text()
