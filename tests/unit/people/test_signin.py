"""People signing in to the board (#46, CJIS 5.5.3, 5.5.5, 5.6.2.2): the password and a TOTP
code of the moment, each code taken once; five failures lock the name ten minutes; an
unknown name answers as a wrong password does; sessions end 30 minutes idle or 12 hours
after sign-in, and a forged cookie is no session."""

from __future__ import annotations

from pathlib import Path

import pyotp
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from services.people import sessions, users
from services.people.pages import local_path
from services.people.signin import LOCKED_FOR, MAX_FAILURES, STEP, Outcome, SignIn

PASSWORD = "correct horse battery staple"
USER, _ = users.new_user("jdoe", PASSWORD)
NOW = 1_800_000_000.0  # on a 30 s step boundary


def code(at: float, user: users.User = USER) -> str:
    return pyotp.TOTP(user.totp_secret, interval=STEP).at(at)


def signin() -> SignIn:
    return SignIn({USER.slug: USER})


def test_the_password_and_the_code_of_the_moment_sign_in() -> None:
    assert signin().attempt("jdoe", PASSWORD, code(NOW), NOW) is Outcome.SUCCESS


def test_the_code_of_the_step_before_is_taken_for_a_clock_a_little_behind() -> None:
    assert signin().attempt("jdoe", PASSWORD, code(NOW - STEP), NOW) is Outcome.SUCCESS
    assert signin().attempt("jdoe", PASSWORD, code(NOW - 2 * STEP), NOW) is not Outcome.SUCCESS
    assert signin().attempt("jdoe", PASSWORD, code(NOW + STEP), NOW) is not Outcome.SUCCESS


@pytest.mark.parametrize(
    ("name", "password", "which"),
    [
        ("jdoe", "wrong password here", "password"),
        ("jdoe", PASSWORD, "code"),
        ("nobody", PASSWORD, "name"),
    ],
)
def test_a_wrong_name_password_or_code_is_one_answer(name: str, password: str, which: str) -> None:
    given_code = "000000" if which == "code" and code(NOW) != "000000" else code(NOW)
    assert signin().attempt(name, password, given_code, NOW) is Outcome.UNKNOWN_OR_WRONG


def test_a_code_is_taken_once() -> None:
    gate = signin()
    assert gate.attempt("jdoe", PASSWORD, code(NOW), NOW) is Outcome.SUCCESS
    assert gate.attempt("jdoe", PASSWORD, code(NOW), NOW + 5) is Outcome.UNKNOWN_OR_WRONG
    assert gate.attempt("jdoe", PASSWORD, code(NOW + STEP), NOW + STEP) is Outcome.SUCCESS


def test_five_failures_lock_the_name_ten_minutes_even_for_the_right_password() -> None:
    gate = signin()
    answers = [gate.attempt("jdoe", "nope nope nope", "123456", NOW + i) for i in range(5)]
    assert answers == [Outcome.UNKNOWN_OR_WRONG] * (MAX_FAILURES - 1) + [Outcome.LOCKED]
    later = NOW + LOCKED_FOR - 1
    assert gate.attempt("jdoe", PASSWORD, code(later), later) is Outcome.LOCKED
    after = NOW + LOCKED_FOR + STEP
    assert gate.attempt("jdoe", PASSWORD, code(after), after) is Outcome.SUCCESS


def test_a_success_clears_the_failures() -> None:
    gate = signin()
    for i in range(MAX_FAILURES - 1):
        gate.attempt("jdoe", "nope nope nope", "123456", NOW + i)
    assert gate.attempt("jdoe", PASSWORD, code(NOW), NOW) is Outcome.SUCCESS
    for i in range(MAX_FAILURES - 1):
        assert gate.attempt("jdoe", "nope", "1", NOW + STEP + i) is Outcome.UNKNOWN_OR_WRONG


def test_unknown_names_are_not_remembered() -> None:
    gate = signin()
    for i in range(50):
        gate.attempt(f"someone-{i}", PASSWORD, "123456", NOW)
    assert set(gate.tries) <= {"jdoe"}


SECRET = b"s" * 32


def test_a_session_lasts_while_used_and_ends_thirty_minutes_idle() -> None:
    cookie = sessions.issue(SECRET, sessions.Session("jdoe", NOW, NOW))
    assert sessions.read(SECRET, cookie, NOW + sessions.IDLE - 1) == sessions.Session(
        "jdoe", NOW, NOW
    )
    assert sessions.read(SECRET, cookie, NOW + sessions.IDLE + 1) is None
    renewed = sessions.issue(SECRET, sessions.Session("jdoe", NOW, NOW + 1000))
    assert sessions.read(SECRET, renewed, NOW + 1000 + sessions.IDLE - 1) is not None


def test_no_session_outlives_twelve_hours() -> None:
    late = NOW + sessions.LONGEST + 1
    cookie = sessions.issue(SECRET, sessions.Session("jdoe", NOW, late - 10))
    assert sessions.read(SECRET, cookie, late) is None


@given(st.text(max_size=200))
def test_a_forged_or_garbled_cookie_is_no_session(cookie: str) -> None:
    assert sessions.read(SECRET, cookie, NOW) is None


def test_a_cookie_signed_with_another_secret_or_edited_is_no_session() -> None:
    cookie = sessions.issue(b"t" * 32, sessions.Session("jdoe", NOW, NOW))
    assert sessions.read(SECRET, cookie, NOW) is None
    mine = sessions.issue(SECRET, sessions.Session("jdoe", NOW, NOW))
    _, signature = mine.rsplit(".", 1)
    other = sessions.issue(SECRET, sessions.Session("admin", NOW, NOW)).rsplit(".", 1)[0]
    assert sessions.read(SECRET, f"{other}.{signature}", NOW) is None


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"slug": "J Doe"}, "users[J Doe].slug"),
        ({"password_argon2": "plain"}, "argon2id hash"),
        ({"totp_secret": "short"}, "base32"),
        ({"role": "admin"}, "Extra inputs"),
    ],
)
def test_a_bad_users_file_names_the_user_and_the_field(
    tmp_path: Path, entry: dict[str, str], problem: str
) -> None:
    path = tmp_path / "users.yaml"
    path.write_text(yaml.safe_dump({"users": [{**USER.model_dump(), **entry}]}))
    with pytest.raises(users.UsersFileError, match=problem.replace("[", r"\[")):
        users.load(path)


def test_a_name_listed_twice_is_refused_and_short_passwords_too() -> None:
    text = "users:\n" + "".join(
        f"- slug: jdoe\n  password_argon2: '{USER.password_argon2}'\n"
        f"  totp_secret: {USER.totp_secret}\n"
        for _ in range(2)
    )
    with pytest.raises(users.UsersFileError, match="listed twice"):
        users.parse(text, "users.yaml")
    with pytest.raises(ValueError, match="12 characters"):
        users.new_user("jdoe", "short")


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/", "/"),
        ("/?jurisdiction=us-mn-hennepin", "/?jurisdiction=us-mn-hennepin"),
        ("/api/board", "/api/board"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("/\\/evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/x\nLocation: https://evil.example", "/"),
        ("", "/"),
    ],
)
def test_after_sign_in_only_a_path_of_this_site_is_gone_back_to(asked: str, kept: str) -> None:
    assert local_path(asked) == kept
