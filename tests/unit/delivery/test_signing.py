"""Standard Webhooks signatures, checked against the reference implementation an agency's
receiver would use (the ``standardwebhooks`` package), not only against our own verify."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.delivery import signing

OLD = "whsec_" + base64.b64encode(b"old secret of thirty-two bytes!!").decode()
NEW = "whsec_" + base64.b64encode(b"new secret, rotated in this week").decode()
BODY = b'{"type":"notice","data":{"notice_id":"notice|a"}}'
NOW = int(datetime(2026, 12, 5, 12, tzinfo=UTC).timestamp())


def reference_verify(secret: str, headers: dict[str, str], body: bytes, now: int) -> None:
    """The package checks the timestamp against the wall clock; so it is signed at now."""
    Webhook(secret).verify(body.decode(), headers)


@pytest.mark.parametrize("secret", [OLD, NEW])
def test_the_reference_receiver_accepts_our_signature(secret: str) -> None:
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers([secret], "notice|a#1", now, BODY)
    reference_verify(secret, headers, BODY, now)


def test_during_a_rotation_a_receiver_with_either_secret_accepts() -> None:
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers([OLD, NEW], "notice|a#1", now, BODY)
    assert len(headers["webhook-signature"].split()) == 2
    for secret in (OLD, NEW):
        reference_verify(secret, headers, BODY, now)


def test_the_reference_receiver_refuses_a_tampered_body_or_another_id() -> None:
    now = int(datetime.now(UTC).timestamp())
    headers = signing.headers([OLD], "notice|a#1", now, BODY)
    with pytest.raises(WebhookVerificationError):
        reference_verify(OLD, headers, BODY.replace(b"notice|a", b"notice|b"), now)
    with pytest.raises(WebhookVerificationError):
        reference_verify(OLD, {**headers, "webhook-id": "notice|a#2"}, BODY, now)
    with pytest.raises(WebhookVerificationError):
        reference_verify(NEW, headers, BODY, now)


def test_our_signature_equals_the_references() -> None:
    stamp = datetime.fromtimestamp(NOW, UTC)
    assert signing.signature(OLD, "m1", NOW, BODY) == Webhook(OLD).sign("m1", stamp, BODY.decode())


def test_our_verify_checks_freshness_and_every_offered_signature() -> None:
    headers = signing.headers([OLD, NEW], "m1", NOW, BODY)
    assert signing.verify([NEW], headers, BODY, NOW)
    assert signing.verify([OLD], headers, BODY, NOW + signing.TOLERANCE_SECONDS)
    assert not signing.verify([OLD], headers, BODY, NOW + signing.TOLERANCE_SECONDS + 1)
    assert not signing.verify([OLD], headers, BODY + b" ", NOW)
    assert not signing.verify([OLD], {"webhook-id": "m1"}, BODY, NOW)
    assert not signing.verify([OLD], {**headers, "webhook-timestamp": "soon"}, BODY, NOW)


@pytest.mark.parametrize("secret", ["abc", "whsec_", "whsec_!!!not base64"])
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        signing.key_of(secret)


def test_an_unpadded_secret_is_read_as_the_reference_reads_it() -> None:
    unpadded = OLD.rstrip("=")
    assert signing.key_of(unpadded) == signing.key_of(OLD)
