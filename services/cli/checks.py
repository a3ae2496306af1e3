"""What a service reads before it connects, so a wrong file or setting stops the start with
one line naming it: the policy file, the agency registry, its secrets and the SMTP relay, the
jails allowed to send bookings over HTTP."""

from __future__ import annotations

from collections.abc import Callable

from services.cli.failures import UsageError
from services.core.policy import PolicyFileError
from services.core.policy import load as load_policies
from services.settings import Settings


def check_policies(settings: Settings) -> None:
    """The policy file is read before anything connects: a wrong one stops the start."""
    try:
        load_policies(settings.policy_file)
    except PolicyFileError as exc:
        raise UsageError(str(exc)) from None


def check_agencies(settings: Settings) -> None:
    """The agency registry and its webhooks' secrets are read before anything connects."""
    from services.core import agencies

    registry, problems = agencies.check(
        settings.agencies_file, allow_http=settings.webhook_allow_http, secrets=True
    )
    mailed = [a.slug for a in registry.agencies if a.email] if registry else []
    if mailed and settings.smtp_url is None:
        problems.append(f"agencies[{mailed[0]}].email needs RELEASEWATCH_SMTP_URL (the relay)")
    if settings.smtp_url is not None:
        from services.delivery.mail import Relay

        try:
            relay = Relay.parse(settings.smtp_url, None, settings.smtp_from)
        except ValueError as exc:
            problems.append(f"RELEASEWATCH_SMTP_URL: {exc}")
        else:
            if relay.security == "none" and not settings.webhook_allow_http:
                problems.append(
                    "RELEASEWATCH_SMTP_URL: smtp+plain:// is refused outside development "
                    "(RELEASEWATCH_WEBHOOK_ALLOW_HTTP=true)"
                )
    if problems:
        raise UsageError("\n".join(problems))


def check_jails(settings: Settings) -> None:
    """The intake's jails file (``deploy/jails.yaml``) is read before anything connects."""
    from services.intake import jails

    try:
        jails.load(settings.jails_file)
    except jails.JailFileError as exc:
        raise UsageError(str(exc)) from None


def check_ledger_key(settings: Settings) -> None:
    """The sealer's signing key: set in production, readable and Ed25519 when set."""
    from services.ledger import keys

    try:
        path = keys.signing_key_path(settings)
        if settings.ledger_signing_key is not None:
            keys.load_signing_key(path)
    except keys.KeyProblem as exc:
        raise UsageError(str(exc)) from None


def check_keys(settings: Settings) -> None:
    """The KEKs person data is sealed under (#46): set in production, usable when set (a key
    file readable, a PKCS#11 token reached with its PIN and its current key)."""
    from services.keys import SETTINGS, KeksError, keks_of

    if settings.kek_file is None and settings.kek_pkcs11 is None:
        if settings.environment == "production":
            raise UsageError(
                f"RELEASEWATCH_ENVIRONMENT=production needs {SETTINGS}: person data is "
                "sealed on every internal topic and changelog (make a file with `releasewatch "
                "keys rotate --file FILE`, or name an HSM's key; docs/encryption.md)"
            )
        return
    try:
        keks_of(settings)
    except KeksError as exc:
        raise UsageError(str(exc)) from None


def check_people(settings: Settings) -> None:
    """The board's sign-in: in production a users file or an identity provider, and a session
    secret; the users file readable, the provider's client complete."""
    from services.people import users

    if settings.oidc_issuer and not (settings.oidc_client_id and settings.oidc_client_secret):
        raise UsageError(
            "RELEASEWATCH_OIDC_ISSUER needs RELEASEWATCH_OIDC_CLIENT_ID and "
            "RELEASEWATCH_OIDC_CLIENT_SECRET (the board's client at the identity provider)"
        )
    if settings.environment == "production":
        if settings.users_file is None and settings.oidc_issuer is None:
            raise UsageError(
                "RELEASEWATCH_ENVIRONMENT=production needs RELEASEWATCH_OIDC_ISSUER or "
                "RELEASEWATCH_USERS_FILE: the board shows CJI only to people signed in "
                "(docs/sign-in.md)"
            )
        if settings.session_secret is None:
            raise UsageError(
                "RELEASEWATCH_ENVIRONMENT=production needs RELEASEWATCH_SESSION_SECRET: the "
                "board's sessions are signed with it (docs/sign-in.md)"
            )
    if settings.users_file is not None:
        try:
            users.load(settings.users_file)
        except users.UsersFileError as exc:
            raise UsageError(str(exc)) from None


def check_web(settings: Settings) -> None:
    """A process serving HTTP in production: HTTPS, or plain HTTP explicitly allowed."""
    problem = settings.plaintext_http_problem()
    if problem:
        raise UsageError(problem)
    for name in ("web_certfile", "web_keyfile"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise UsageError(f"RELEASEWATCH_{name.upper()}: {path} is not a file")


def check_service(settings: Settings, name: str) -> None:
    """What ``releasewatch service NAME`` reads before anything connects."""
    check_web(settings)
    for check in SERVICE_CHECKS.get(name, ()):
        check(settings)


def check_stack(settings: Settings) -> None:
    """What ``releasewatch up`` reads before it starts anything."""
    for check in (
        check_web,
        check_policies,
        check_jails,
        check_ledger_key,
        check_people,
        check_keys,
    ):
        check(settings)


SERVICE_CHECKS: dict[str, tuple[Callable[[Settings], None], ...]] = {
    "booking": (check_keys,),
    "scheduling": (check_policies,),
    "notification": (check_policies, check_agencies, check_keys),
    "intake": (check_jails, check_keys),
    "sealer": (check_ledger_key,),
    "board": (check_people,),
}
