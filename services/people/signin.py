"""Whether a sign-in succeeds: the password against its argon2id hash, then the TOTP code of
the moment (or the one before, for a clock a little behind), each code taken once; five
failures in a row lock the name for ten minutes (CJIS 5.5.3). Pure apart from argon2's
verification: the clock is given, the state is this object's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.people.users import User

MAX_FAILURES = 5
LOCKED_FOR = 600.0  # s
STEP = 30  # s, TOTP's time step


_NOBODY = User(
    slug="nobody",
    password_argon2=PasswordHasher().hash("releasewatch: no such user"),
    totp_secret="A" * 32,
)


class Outcome(StrEnum):
    SUCCESS = "success"
    UNKNOWN_OR_WRONG = "wrong_credentials"  # never which of name, password or code
    LOCKED = "locked"


@dataclass
class _Tries:
    failures: int = 0
    locked_until: float = 0.0
    last_step: int = -1  # the last TOTP time step accepted: a code is taken once


@dataclass
class SignIn:
    users: dict[str, User]
    tries: dict[str, _Tries] = field(default_factory=dict)
    hasher: PasswordHasher = field(default_factory=PasswordHasher)

    def attempt(self, name: str, password: str, code: str, now: float) -> Outcome:
        user = self.users.get(name)
        if user is None:  # as long as a known name's check: the answer tells nothing
            self._password(_NOBODY, password)
            return Outcome.UNKNOWN_OR_WRONG
        tries = self.tries.setdefault(name, _Tries())
        if tries.locked_until > now:
            return Outcome.LOCKED
        step = self._step(user, code, now) if self._password(user, password) else None
        if step is None or step <= tries.last_step:
            tries.failures += 1
            if tries.failures >= MAX_FAILURES:
                tries.failures, tries.locked_until = 0, now + LOCKED_FOR
                return Outcome.LOCKED
            return Outcome.UNKNOWN_OR_WRONG
        tries.failures, tries.last_step = 0, step
        return Outcome.SUCCESS

    def _password(self, user: User, password: str) -> bool:
        try:
            return bool(self.hasher.verify(user.password_argon2, password))
        except (VerificationError, InvalidHashError):
            return False

    @staticmethod
    def _step(user: User, code: str, now: float) -> int | None:
        """The time step ``code`` belongs to (now's or the one before), or None."""
        totp = pyotp.TOTP(user.totp_secret, interval=STEP)
        for step in (int(now // STEP), int(now // STEP) - 1):
            if pyotp.utils.strings_equal(totp.at(step * STEP), code.strip()):
                return step
        return None
