"""``users add`` and ``users check``: the people who may sign in to the board (#46)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from services.cli.failures import UsageError, load_settings
from services.cli.looks import record_change


def register(commands: Any) -> None:
    users = commands.add_parser("users", help="people who may sign in to the board")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add = users_commands.add_parser(
        "add", help="add a person (argon2id password hash, new TOTP secret) to a users file"
    )
    add.add_argument("name", help="the sign-in name: lower-case letters, digits, . _ -")
    add.add_argument("--file", required=True, type=Path, help="e.g. /etc/releasewatch/users.yaml")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.set_defaults(func=cmd_add)
    check = users_commands.add_parser("check", help="validate a users file (one line per problem)")
    check.add_argument("file", type=Path)
    check.set_defaults(func=cmd_check)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ")
    return first


def cmd_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from services.people import users

    existing: list[dict[str, Any]] = []
    if args.file.exists():
        try:
            existing = [u.model_dump() for u in users.load(args.file).users]
        except users.UsersFileError as exc:
            raise UsageError(str(exc)) from None
    if any(u["slug"] == args.name for u in existing):
        raise UsageError(f"{args.file}: {args.name} is there already")
    try:
        user, uri = users.new_user(args.name, _password(args.password_stdin))
    except ValidationError as exc:
        raise UsageError(f"{args.name}: {exc.errors()[0]['msg']}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    text = "# Who may sign in to the board: secrets (mode 0600, or a Kubernetes Secret)\n"
    text += yaml.safe_dump({"users": [*existing, user.model_dump()]}, sort_keys=False)
    before = args.file.read_bytes() if args.file.exists() else None
    descriptor = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(text)

    def undo() -> None:
        if before is None:
            args.file.unlink()
        else:
            args.file.write_bytes(before)

    record_change(load_settings(), f"users add: {args.name} to {args.file}", undo)
    print(f"{args.name} added to {args.file}")
    print(f"enrol the authenticator app with (shown once; it is the second factor): {uri}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from services.people import users

    try:
        found = users.load(args.file)
    except users.UsersFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    for user in found.users:
        print(user.slug)
    return 0
