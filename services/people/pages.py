"""The sign-in page, and where a browser may be sent back to after it (#46)."""

from __future__ import annotations

import html
import re

from aiohttp import web

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in: releasewatch</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin-top:1rem}}input{{font:inherit;width:100%;padding:.4rem}}
button{{font:inherit;margin-top:1.5rem;padding:.5rem 1.5rem}}
[role=alert]{{color:#8a1c1c;font-weight:600}}</style></head>
<body><main><h1>Sign in</h1>
<p>Release notices board. Every sign-in and every look is recorded.</p>
{message}
<form method="post" action="/login">
<input type="hidden" name="next" value="{next}">
<label for="name">Name</label>
<input id="name" name="name" autocomplete="username" required autofocus>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label for="code">Code from your authenticator app</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code"
 pattern="[0-9]{{6}}" required>
<button type="submit">Sign in</button>
</form></main></body></html>
"""


def sign_in_page(message: str = "", next_path: str = "/") -> str:
    shown = f'<p role="alert">{html.escape(message)}</p>' if message else ""
    return PAGE.format(message=shown, next=html.escape(next_path, quote=True))


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


LOCAL_PATH = re.compile(r"^/(?![/\\])[^\s\\]*$")


def local_path(path: str) -> str:
    """Only a path of this site to go back to, never another site's address: not ``//host``,
    nor ``/\\host`` (browsers read a backslash as a slash), nor with spaces or controls."""
    return path if LOCAL_PATH.match(path) else "/"
