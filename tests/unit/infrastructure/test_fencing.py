"""Under exactly_once, a transaction that can no longer commit (fenced, timed out, a send
refused) replaces the worker, as a kill -9 and a restart would; any other failure is left to
the caller as before."""

from __future__ import annotations

import asyncio
import os
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import (
    IllegalOperation,
    InvalidProducerEpoch,
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotEnoughReplicasError,
    NotLeaderForPartitionError,
    ProducerFenced,
    TopicAuthorizationFailedError,
)
from aiokafka.producer.transaction_manager import TransactionState
from faust.exceptions import ProducerSendError
from faust.transport.drivers import aiokafka as faust_aiokafka

from services.kafka.patches import fencing, restart_fenced
from services.streams.handling import RefusedOutput, refused_output


def producer_in(state: TransactionState) -> Any:
    return SimpleNamespace(_txn_manager=SimpleNamespace(state=state))


def wrapped(exc: BaseException) -> ProducerSendError:
    """As faust's send raises a client error."""
    try:
        raise ProducerSendError(f"Error while sending: {exc!r}") from exc
    except ProducerSendError as outer:
        return outer


@pytest.mark.parametrize(
    ("exc", "state", "is_broken"),
    [
        (IllegalOperation("Can't send messages while not in transaction"), None, True),
        (ProducerFenced(), None, True),
        (wrapped(ProducerFenced()), None, True),
        (wrapped(InvalidProducerEpoch()), None, True),
        (AssertionError("Invalid state transition"), TransactionState.FATAL_ERROR, True),
        (KafkaTimeoutError(), TransactionState.ABORTABLE_ERROR, True),
        (KafkaTimeoutError(), TransactionState.IN_TRANSACTION, False),
        (KafkaConnectionError(), None, False),
        (wrapped(NotLeaderForPartitionError()), TransactionState.IN_TRANSACTION, False),
        (ValueError("a bug of ours"), TransactionState.READY, False),
    ],
)
def test_which_failures_mean_the_transaction_cannot_commit(
    exc: BaseException, state: TransactionState | None, is_broken: bool
) -> None:
    producer = producer_in(state) if state is not None else None
    assert fencing.broken(exc, producer) is is_broken


class Replaced(Exception):
    """Raised by the stand-in for execve: the worker would be gone here."""


@pytest.fixture
def execve(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], dict[str, str]]]:
    calls: list[tuple[str, list[str], dict[str, str]]] = []

    def replace(path: str, argv: list[str], env: dict[str, str]) -> None:
        calls.append((path, argv, env))
        raise Replaced

    monkeypatch.setattr(os, "execve", replace)
    monkeypatch.delenv(fencing.RESTARTS_ENV, raising=False)
    return calls


def test_the_worker_replaces_itself_with_the_same_command_and_counts_it(
    execve: list[tuple[str, list[str], dict[str, str]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(Replaced):
        fencing.restart_fenced("releasewatch-notification-1-4", ProducerFenced())
    [(path, argv, env)] = execve
    assert path == sys.executable and argv == sys.orig_argv
    assert env[fencing.RESTARTS_ENV] == "1"
    monkeypatch.setenv(fencing.RESTARTS_ENV, "1")
    with pytest.raises(Replaced):
        fencing.restart_fenced("releasewatch-notification-1-4", ProducerFenced())
    assert execve[1][2][fencing.RESTARTS_ENV] == "2"


class Client:
    """An aiokafka producer as faust's ``Producer.send`` uses it, failing as told."""

    def __init__(self, state: TransactionState, error: BaseException | None) -> None:
        self._txn_manager = SimpleNamespace(state=state)
        self.error = error

    async def send(self, *args: Any, **kwargs: Any) -> str:
        if self.error is not None:
            raise self.error
        return "future"

    async def flush(self) -> None:
        """Every record sent has its answer."""


def faust_producer(client: Client) -> Any:
    producer: Any = faust_aiokafka.Producer.__new__(faust_aiokafka.Producer)
    producer._transaction_producers = {"tid": client}
    producer._trn_locks = {"tid": asyncio.Lock()}
    producer._producer = client
    producer._send_on_produce_message = lambda **_: None
    producer.allow_headers = True
    return producer


async def send(producer: Any, transactional_id: str | None) -> Any:
    return await restart_fenced._send_or_restart_fenced(
        producer, "notices.dhs-ice.v1", b"k", b"v", 0, None, None, transactional_id=transactional_id
    )


async def test_a_fenced_transactional_send_replaces_the_worker(execve: list[Any]) -> None:
    client = Client(TransactionState.FATAL_ERROR, IllegalOperation("not in transaction"))
    with pytest.raises(Replaced):
        await send(faust_producer(client), "tid")
    assert len(execve) == 1


async def test_other_send_failures_are_the_callers_as_before(execve: list[Any]) -> None:
    client = Client(TransactionState.IN_TRANSACTION, KafkaTimeoutError())
    with pytest.raises(ProducerSendError):  # faust's wrapping, read again by OutputRetry
        await send(faust_producer(client), "tid")
    assert execve == []
    assert await send(faust_producer(Client(TransactionState.IN_TRANSACTION, None)), "tid")


async def test_a_commit_of_a_fenced_transaction_replaces_the_worker(execve: list[Any]) -> None:
    class Committing(Client):
        async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
            self._txn_manager.state = TransactionState.FATAL_ERROR
            raise ProducerFenced()

    producer = faust_producer(Committing(TransactionState.IN_TRANSACTION, None))
    with pytest.raises(Replaced):
        await restart_fenced._commit_transactions_together(producer, {"tid": {}}, "group")
    assert [call[1] for call in execve] == [sys.orig_argv]


class Delivering(Client):
    """A client whose sends are answered later: refused (with ``refuse``) or delivered; its
    transactions record whether they committed."""

    def __init__(self, refuse: BaseException | None = None) -> None:
        super().__init__(TransactionState.IN_TRANSACTION, None)
        self.refuse = refuse
        self.committed = False
        self.futures: list[asyncio.Future[Any]] = []

    async def send(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        return future

    async def flush(self) -> None:
        for future in self.futures:
            if not future.done():
                if self.refuse is None:
                    future.set_result("offset")
                else:
                    future.set_exception(self.refuse)
        await asyncio.sleep(0)  # the done-callbacks run

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        pass

    async def commit_transaction(self) -> None:
        self.committed = True

    async def begin_transaction(self) -> None:
        pass


async def test_a_transaction_holding_a_refused_record_is_never_committed(
    execve: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiokafka would commit it without the record (lost, its input committed): the worker
    replaces itself instead, which aborts the transaction."""
    monkeypatch.setattr(fencing, "_refused", {})
    client = Delivering(refuse=MessageSizeTooLargeError())
    producer = faust_producer(client)
    future = await send(producer, "tid")
    with pytest.raises(Replaced):
        await restart_fenced._commit_transactions_together(producer, {"tid": {}}, "group")
    assert isinstance(future.exception(), MessageSizeTooLargeError)
    assert not client.committed and len(execve) == 1
    assert isinstance(fencing._refused.get("tid"), MessageSizeTooLargeError)


async def test_a_transaction_whose_records_all_arrived_commits(
    execve: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fencing, "_refused", {})
    client = Delivering()
    producer = faust_producer(client)
    await send(producer, "tid")
    await send(producer, None)  # outside any transaction: not watched
    await restart_fenced._commit_transactions_together(producer, {"tid": {}}, "group")
    assert client.committed and execve == []
    assert fencing._refused.get("tid") is None


async def test_a_record_refused_because_the_transaction_was_fenced_says_fenced(
    execve: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``transaction_fenced``, not ``transaction_output_refused``: the operator's reading of
    the two differs (deploy/README)."""
    monkeypatch.setattr(fencing, "_refused", {})

    def refused(*_: Any) -> None:
        raise AssertionError("taken for a refused record")

    monkeypatch.setattr(fencing, "restart_refused", refused)
    producer = faust_producer(Delivering(refuse=ProducerFenced()))
    await send(producer, "tid")
    with pytest.raises(Replaced):  # restart_fenced's
        await restart_fenced._commit_transactions_together(producer, {"tid": {}}, "group")
    assert len(execve) == 1


STATE = ("booking.state.v1", 2, 41)  # an input: topic, partition, offset
ALERT = ("notice.alerts.v1", 0, 7)


def refused_future(exc: BaseException | None) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    if exc is None:
        future.set_result("metadata")
    else:
        future.set_exception(exc)
    return future


async def test_inputs_whose_outputs_were_refused_for_good_are_counted_through_restarts(
    execve: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each restart on a refused record counts, for the new worker, the inputs whose outputs
    the broker refused for good; a retriable refusal, a fence and a delivered record do not
    count."""
    monkeypatch.setattr(fencing, "_refused_inputs", {})
    monkeypatch.delenv(fencing.REFUSED_ENV, raising=False)
    assert fencing.refused_before() == {}
    fencing.note_refused_input(STATE, refused_future(MessageSizeTooLargeError()))
    fencing.note_refused_input(("a", 0, 1), refused_future(NotEnoughReplicasError()))
    fencing.note_refused_input(("b", 0, 1), refused_future(ProducerFenced()))
    fencing.note_refused_input(("c", 0, 1), refused_future(None))
    fencing.refused_input(ALERT, TopicAuthorizationFailedError())  # one the handler awaited
    with pytest.raises(Replaced):
        fencing.restart_refused("tid", MessageSizeTooLargeError())
    carried = execve[-1][2][fencing.REFUSED_ENV]
    monkeypatch.setenv(fencing.REFUSED_ENV, carried)
    assert fencing.refused_before() == {
        STATE: (1, "MessageSizeTooLargeError"),
        ALERT: (1, "TopicAuthorizationFailedError"),
    }
    # The next worker: the state's output refused again, the alert's went through.
    monkeypatch.setattr(fencing, "_refused_inputs", {})
    fencing.note_refused_input(STATE, refused_future(MessageSizeTooLargeError()))
    with pytest.raises(Replaced):
        fencing.restart_refused("tid", MessageSizeTooLargeError())
    monkeypatch.setenv(fencing.REFUSED_ENV, execve[-1][2][fencing.REFUSED_ENV])
    assert fencing.refused_before() == {
        STATE: (2, "MessageSizeTooLargeError"),
        ALERT: (1, "TopicAuthorizationFailedError"),
    }
    # A fence's restart carries the counts unchanged.
    with pytest.raises(Replaced):
        fencing.restart_fenced("tid", ProducerFenced())
    assert execve[-1][2][fencing.REFUSED_ENV] == os.environ[fencing.REFUSED_ENV]


@pytest.mark.parametrize("carried", ["", "not json", '[["t", 0]]', '{"t": 1}', "[[1, 2, 3, 4]]"])
def test_a_garbled_carry_counts_nothing(carried: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fencing.REFUSED_ENV, carried)
    assert fencing.refused_before() == {}


def test_only_the_latest_inputs_are_carried(
    execve: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(fencing.REFUSED_ENV, raising=False)
    many = {("t", 0, offset): "MessageSizeTooLargeError" for offset in range(250)}
    monkeypatch.setattr(fencing, "_refused_inputs", many)
    with pytest.raises(Replaced):
        fencing.restart_refused("tid", MessageSizeTooLargeError())
    monkeypatch.setenv(fencing.REFUSED_ENV, execve[-1][2][fencing.REFUSED_ENV])
    assert sorted(fencing.refused_before()) == [("t", 0, offset) for offset in range(150, 250)]


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("MessageSizeTooLargeError", MessageSizeTooLargeError),
        ("TopicAuthorizationFailedError", TopicAuthorizationFailedError),
        ("NoSuchError", RefusedOutput),
        ("KafkaConnectionError", KafkaConnectionError),
        ("for_code", RefusedOutput),  # in aiokafka.errors, but no error
    ],
)
def test_an_input_given_up_is_dead_lettered_naming_the_brokers_error(name: str, kind: type) -> None:
    """The dead letter says ``<error> while processing`` as under at_least_once."""
    error = refused_output(name)
    assert type(error) is kind


def test_a_handler_seeing_a_refusal_restarts_the_worker_only_when_a_transaction_holds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its transaction could never commit: replaced at once, not after the handler's
    retries; a failure that left no refused record (a send that never went out) does not."""
    called: list[tuple[str, str, type]] = []

    def recorder(kind: str) -> Any:
        def restart(transactional_id: str, exc: BaseException) -> None:
            called.append((kind, transactional_id, type(exc)))
            raise Replaced

        return restart

    monkeypatch.setattr(fencing, "restart_refused", recorder("refused"))
    monkeypatch.setattr(fencing, "restart_fenced", recorder("fenced"))
    monkeypatch.setattr(fencing, "_refused", {})
    fencing.restart_if_refused()
    assert called == []
    for refusal in (MessageSizeTooLargeError(), ProducerFenced()):
        monkeypatch.setattr(fencing, "_refused", {"tid": refusal})
        with pytest.raises(Replaced):
            fencing.restart_if_refused()
    assert called == [
        ("refused", "tid", MessageSizeTooLargeError),
        ("fenced", "tid", ProducerFenced),
    ]
