"""A message whose output the broker refused is read again, with backoff; only a permanent
refusal, repeated, gives it up (to be dead-lettered)."""

from __future__ import annotations

import pytest

from services.streams.retry import OutputRetry

TP = ("notice.alerts.v1", 0)


def test_a_retriable_refusal_is_retried_for_as_long_as_it_lasts_with_capped_backoff() -> None:
    retry = OutputRetry(first=0.5, cap=10.0)
    delays = [retry.failed(TP, 7, retriable=True) for _ in range(50)]
    assert delays[:6] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert set(delays[6:]) == {10.0}


@pytest.mark.parametrize("attempts", [0, 1, 5])
def test_a_permanent_refusal_is_given_up_after_its_attempts(attempts: int) -> None:
    retry = OutputRetry(permanent_attempts=attempts)
    delays = [retry.failed(TP, 7, retriable=False) for _ in range(attempts)]
    assert all(delay is not None for delay in delays)
    assert retry.failed(TP, 7, retriable=False) is None
    assert len(retry) == 0  # nothing kept for a message given up


def test_each_message_counts_its_own_failures_and_success_forgets_them() -> None:
    retry = OutputRetry(first=1.0)
    assert retry.failed(TP, 1, retriable=True) == 1.0
    assert retry.failed(TP, 1, retriable=True) == 2.0
    assert retry.failed(TP, 2, retriable=True) == 1.0
    assert retry.failed(("other", 0), 1, retriable=True) == 1.0
    retry.done(TP, 1)
    assert retry.failed(TP, 1, retriable=True) == 1.0
    retry.reset()
    assert len(retry) == 0
