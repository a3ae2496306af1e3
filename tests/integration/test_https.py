"""The web servers over HTTPS (#46, CJIS: CJI encrypted in transit): with
RELEASEWATCH_WEB_CERTFILE/KEYFILE a faust service (booking) and the intake serve TLS only, the
container health check (`releasewatch health`) reaches them, and a jail's document is taken
over HTTPS; in production, plain HTTP would have stopped them (tests/unit/test_production.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.conftest import ARTIFACTS, ROOT, service_env
from tests.support.certs import Authority
from tests.support.niem import document
from tests.support.poll import until
from tests.support.workers import Worker, stop_all

pytestmark = pytest.mark.integration
TOKEN = "rwj_https-test-token"
JAILS = f"""
jails:
  - slug: tls-county
    name: TLS County Jail
    facility: {{id: tcj, name: TLS County Jail, timezone: America/Chicago}}
    jurisdictions: [{{id: us-mn-tls}}]
    token_sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}
"""


async def get(url: str, context: ssl.SSLContext | None) -> int:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, ssl=context if context else False) as answer,
        ):
            return answer.status
    except (aiohttp.ClientError, OSError):
        return 0


async def test_services_serve_https_only_and_take_a_document_over_it(
    broker: Any, tmp_path: Path
) -> None:
    authority = Authority.create(tmp_path / "ca")
    cert, key = authority.server("releasewatch", ("localhost", "127.0.0.1"))
    jails = tmp_path / "jails.yaml"
    jails.write_text(JAILS)
    tls = {
        "RELEASEWATCH_ENVIRONMENT": "production",
        # the session's broker is plaintext; TLS to a broker: test_security.py
        "RELEASEWATCH_ALLOW_PLAINTEXT_BROKER": "true",
        "RELEASEWATCH_WEB_CERTFILE": str(cert),
        "RELEASEWATCH_WEB_KEYFILE": str(key),
        "RELEASEWATCH_JAILS_FILE": str(jails),
    }
    label = uuid.uuid4().hex[:8]
    workers = [
        Worker(
            name,
            service_env(broker, tmp_path / name, **tls),
            ARTIFACTS / f"https-{name}-{label}.log",
        ).start()
        for name in ("booking", "intake")
    ]
    trusted = ssl.create_default_context(cafile=str(authority.ca_file))
    try:
        for worker in workers:
            ready = f"https://localhost:{worker.port}/ready"

            async def answers(url: str = ready) -> bool:
                return await get(url, trusted) == 200

            await until(answers, 90, f"{worker.name} ready over HTTPS")
            assert await get(f"http://127.0.0.1:{worker.port}/ready", None) == 0  # no plain HTTP
            checked = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "services.cli", "health", "--port", str(worker.port)],
                env=worker.env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=30,
            )
            assert checked.returncode == 0, checked.stderr
        intake = workers[1]
        headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/xml"}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"https://localhost:{intake.port}/bookings",
                data=document(),
                headers=headers,
                ssl=trusted,
            ) as answer,
        ):
            assert answer.status == 202, await answer.text()
    finally:
        await asyncio.to_thread(stop_all, workers)
