"""The board shows CJI only to people signed in (#46): name, password and a TOTP code; each
sign-in, refusal and look is an event on ops.access.v1 with who, what, when and the outcome;
five failures lock the name; /health and /ready stay open."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pyotp
import yaml

from schemas.topics import ACCESS
from services.people import users
from tests.support.topics import KafkaHelper, Record
from tests.support.workers import all_ready

PASSWORD = "a long pass phrase for the board"
SECRET = "x" * 40


def users_file(tmp_path: Path, name: str) -> tuple[Path, users.User]:
    user, _ = users.new_user(name, PASSWORD)
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump({"users": [user.model_dump()]}))
    return path, user


def of(name: str, action: str, outcome: str) -> Any:
    def matches(record: Record) -> bool:
        value = record.value
        return bool(
            value["subject"] == name
            and value["action"] == action
            and value["outcome"] == outcome
            and value["component"] == "board"
        )

    return matches


async def test_the_board_opens_only_to_people_signed_in_and_records_each_look(
    start_service: Any, kafka: KafkaHelper, tmp_path: Path
) -> None:
    name = f"staff-{uuid.uuid4().hex[:8]}"
    path, user = users_file(tmp_path, name)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    board = start_service(
        "board", RELEASEWATCH_USERS_FILE=str(path), RELEASEWATCH_SESSION_SECRET=SECRET
    )
    looks = await kafka.watch(ACCESS.name)
    await all_ready([board])
    base = f"http://127.0.0.1:{board.port}"
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{base}/health") as open_page:
            assert open_page.status == 200
        async with http.get(f"{base}/?jurisdiction={name}", allow_redirects=False) as page:
            assert page.status == 303
            assert page.headers["Location"] == f"/login?next=%2F%3Fjurisdiction%3D{name}"
        async with http.get(f"{base}/api/board") as api:
            assert api.status == 401
        wrong = {"name": name, "password": PASSWORD, "code": "12345x", "next": "/"}
        async with http.post(f"{base}/login", data=wrong, allow_redirects=False) as refused:
            assert refused.status == 401
            assert "Name, password or code not accepted." in await refused.text()
        code = pyotp.TOTP(user.totp_secret).now()
        right = {**wrong, "code": code, "next": "https://elsewhere.example/"}
        async with http.post(f"{base}/login", data=right, allow_redirects=False) as signed:
            assert signed.status == 303 and signed.headers["Location"] == "/"  # never elsewhere
            cookie = signed.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(f"{base}/api/board?jurisdiction={name}") as api:
            assert api.status == 200
            shown = await api.json()
            assert shown["releases"] == [] and shown["signed_in_as"] == name
        async with http.post(f"{base}/logout", allow_redirects=False) as out:
            assert out.status == 303 and out.headers["Location"] == "/login"
        async with http.get(f"{base}/api/board") as api:
            assert api.status == 401  # the cookie is gone
        for _ in range(5):
            async with http.post(f"{base}/login", data=wrong) as again:
                last = again.status
        assert last == 423
        async with http.post(f"{base}/login", data={**right, "code": code}) as locked:
            assert locked.status == 423  # even the right password, for ten minutes

    await looks.wait_for(of(name, "sign_in", "success"), 1, what="the sign-in recorded")
    [failed, *_] = await looks.wait_for(of(name, "sign_in", "failure"), 6, what="failures")
    assert failed.value["reason"] == "wrong_credentials" and failed.key == name
    assert failed.value["source"] == "127.0.0.1" and failed.value["at"]
    [view] = await looks.wait_for(of(name, "view", "success"), 1, what="the look recorded")
    assert view.value["resource"] == f"/api/board?jurisdiction={name}"
    await looks.wait_for(of(name, "sign_out", "success"), 1, what="the sign-out recorded")
    locked_out = looks.matching(of(name, "sign_in", "failure"))
    assert any(r.value["reason"] == "locked" for r in locked_out)
    [started] = await looks.wait_for(
        lambda r: r.value["action"] == "change" and f"sha256 {digest}" in r.value["resource"],
        1,
        what="who may sign in, recorded at the board's start",
    )
    assert "users file users.yaml: 1 users" in started.value["resource"]
    refusals = looks.matching(of("-", "refused", "failure"))
    assert any(r.value["resource"] == f"/?jurisdiction={name}" for r in refusals)
