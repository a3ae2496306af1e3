"""The people who may sign in to the board without an identity provider: ``users.yaml``
(``RELEASEWATCH_USERS_FILE``), each with an argon2id hash of their password and the base32
secret of their TOTP second factor (an authenticator app). The file holds secrets: mode
0600, or a Kubernetes Secret. Make an entry with ``releasewatch users add NAME``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyotp
from argon2 import PasswordHasher
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.core import registry_files

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
BASE32 = re.compile(r"^[A-Z2-7]{32,}$")  # 160 bits or more, as RFC 4226 recommends
ISSUER = "releasewatch"
MIN_PASSWORD = 12  # characters


class UsersFileError(ValueError):
    """The users file cannot be used; the message names the user and the field."""


class User(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str = Field(description="the sign-in name")
    password_argon2: str = Field(description="argon2id hash of the password")
    totp_secret: str = Field(description="base32 TOTP secret (the authenticator app's)")

    @field_validator("slug")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("lower-case letters, digits, '.', '_' and '-'")
        return value

    @field_validator("password_argon2")
    @classmethod
    def _hash(cls, value: str) -> str:
        if not value.startswith("$argon2id$"):
            raise ValueError("an argon2id hash ($argon2id$...): `releasewatch users add` makes one")
        return value

    @field_validator("totp_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        if not BASE32.match(value):
            raise ValueError("base32, at least 32 characters (160 bits)")
        return value


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: list[User]

    def by_name(self) -> dict[str, User]:
        return {user.slug: user for user in self.users}


def parse(text: str, source: str) -> UsersFile:
    found = registry_files.parse(text, source, UsersFile, "users", UsersFileError)
    names = [user.slug for user in found.users]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise UsersFileError(f"{source}: users[{twice[0]}]: listed twice")
    return found


def load(path: Path) -> UsersFile:
    return parse(registry_files.read_text(path, UsersFileError), str(path))


def new_user(name: str, password: str) -> tuple[User, str]:
    """A user entry for ``name`` and the otpauth:// URI to enrol their authenticator app."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"a password of {MIN_PASSWORD} characters or more")
    secret = pyotp.random_base32(length=32)
    user = User(slug=name, password_argon2=PasswordHasher().hash(password), totp_secret=secret)
    uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)
    return user, uri
