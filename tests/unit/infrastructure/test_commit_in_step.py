"""The commit in step (``patches.commit_in_step``): a commit waits for the table writes
made before it to reach the client, and under exactly_once for the message in hand;
partitions commit side by side."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.transport.producer import ProducerBuffer

from services.kafka.patches import commit_before_revoke, commit_in_step, handed_over, restart_fenced


class Channel:
    """Where faust's buffer hands each message: the client, slow until its gate opens."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.handed: list[int] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await self.gates.setdefault(fut.number, asyncio.Event()).wait()
        self.handed.append(fut.number)

    def open(self, *numbers: int) -> None:
        for number in numbers:
            self.gates.setdefault(number, asyncio.Event()).set()


@pytest.fixture
async def buffer(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(ProducerBuffer, "_send_pending", handed_over._send_pending_counted)
    monkeypatch.setattr(ProducerBuffer, "handed", 0, raising=False)
    monkeypatch.setattr(ProducerBuffer, "handing", 0, raising=False)
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    await buffer.start()
    yield buffer
    buffer.pending = asyncio.Queue()  # what a test left unhanded is not flushed at stop
    await buffer.stop()


def put(buffer: Any, channel: Channel, *numbers: int) -> None:
    for number in numbers:
        buffer.put(SimpleNamespace(number=number, message=SimpleNamespace(channel=channel)))


async def still_waiting(task: asyncio.Future[Any], seconds: float = 0.3) -> bool:
    done, _ = await asyncio.wait({task}, timeout=seconds)
    return not done


async def test_fausts_own_flush_gives_up_with_table_writes_still_buffered(buffer: Any) -> None:
    """faust's commit flushes its buffer with flush_atmost, which returns once one hand-over
    takes 0.1 s: the offsets were committed with changelog records still buffered."""
    channel = Channel()
    put(buffer, channel, 1, 2)
    await asyncio.wait_for(buffer.flush(), 5)
    assert buffer.size + buffer.handing == 2 and channel.handed == []
    channel.open(1, 2)


async def test_a_commit_waits_for_the_table_writes_before_it_and_not_after(buffer: Any) -> None:
    channel = Channel()
    put(buffer, channel, 1, 2, 3)
    waiting = asyncio.ensure_future(handed_over.handed_over(buffer))
    assert await still_waiting(waiting)
    put(buffer, channel, 4)  # written after the commit began: not its business
    channel.open(1, 2)
    assert await still_waiting(waiting)  # the third is still on its way
    channel.open(3)
    await asyncio.wait_for(waiting, 5)
    assert channel.handed == [1, 2, 3]
    channel.open(4)


async def test_with_nothing_buffered_a_commit_does_not_wait(buffer: Any) -> None:
    await asyncio.wait_for(handed_over.handed_over(buffer), 1)


def consumer_with(barrier: asyncio.Lock | None, buffer: Any) -> Any:
    return SimpleNamespace(
        app=SimpleNamespace(commit_barrier=barrier, producer=SimpleNamespace(buffer=buffer))
    )


async def test_under_exactly_once_a_commit_waits_for_the_message_in_hand(
    buffer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agent holds the barrier from a message's first output until it is marked handled:
    a commit choosing its offsets in between would commit that output without its offset."""
    committed: list[Any] = []

    async def faust_commit(self: Any, tps: Any, start_new_transaction: bool) -> bool:
        committed.append(tps)
        return True

    monkeypatch.setattr(commit_in_step, "_original_commit_tps", faust_commit)
    barrier = asyncio.Lock()
    await barrier.acquire()  # a message in hand
    commit = asyncio.ensure_future(
        commit_in_step._commit_tps_in_step(consumer_with(barrier, buffer), ["tp"], True)
    )
    assert await still_waiting(commit)
    assert committed == []
    barrier.release()  # marked handled
    assert await asyncio.wait_for(commit, 5) is True
    assert committed == [["tp"]]
    # ... and the agent's next message waits for the commit it let in, never the other way.
    assert not barrier.locked()


async def test_at_least_once_a_commit_takes_no_barrier(
    buffer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def faust_commit(self: Any, tps: Any, start_new_transaction: bool) -> bool:
        return bool(tps)

    monkeypatch.setattr(commit_in_step, "_original_commit_tps", faust_commit)
    commit = commit_in_step._commit_tps_in_step(consumer_with(None, buffer), ["tp"], True)
    assert await asyncio.wait_for(commit, 5) is True


class TransactionalProducer:
    def __init__(self, name: str, steps: list[str], all_started: asyncio.Event, count: int):
        self.name, self.steps, self.all_started, self.count = name, steps, all_started, count

    async def flush(self) -> None:
        """Every record sent has its answer (none refused)."""

    async def send_offsets_to_transaction(self, offsets: Any, group_id: str) -> None:
        self.steps.append(f"{self.name} offsets {offsets} {group_id}")
        if sum(1 for step in self.steps if " offsets " in step) == self.count:
            self.all_started.set()
        await self.all_started.wait()  # only if every partition got this far together

    async def commit_transaction(self) -> None:
        self.steps.append(f"{self.name} commit")

    async def begin_transaction(self) -> None:
        self.steps.append(f"{self.name} begin")


async def test_the_partitions_transactions_commit_side_by_side() -> None:
    steps: list[str] = []
    together = asyncio.Event()
    tids = ["releasewatch-scheduling-0-1", "releasewatch-scheduling-0-5"]
    producer = SimpleNamespace(
        _trn_locks={tid: asyncio.Lock() for tid in tids},
        _transaction_producers={
            tid: TransactionalProducer(tid[-1], steps, together, len(tids)) for tid in tids
        },
    )
    offsets = {tids[0]: {"tp1": 10}, tids[1]: {"tp5": 20}}
    await asyncio.wait_for(
        restart_fenced._commit_transactions_together(producer, offsets, "releasewatch-scheduling"),
        5,
    )
    assert steps[:2] == [
        "1 offsets {'tp1': 10} releasewatch-scheduling",
        "5 offsets {'tp5': 20} releasewatch-scheduling",
    ]
    for name in "15":  # each partition: its offsets, committed, then a new transaction
        mine = [step for step in steps if step.startswith(name)]
        assert [step.split(" ")[1] for step in mine] == ["offsets", "commit", "begin"]


async def test_a_partition_no_longer_held_is_skipped_and_the_rest_commit() -> None:
    steps: list[str] = []
    together = asyncio.Event()
    held = "releasewatch-booking-0-2"
    producer = SimpleNamespace(
        _trn_locks={held: asyncio.Lock(), "releasewatch-booking-0-3": asyncio.Lock()},
        _transaction_producers={held: TransactionalProducer("2", steps, together, 1)},
    )
    offsets = {held: {"tp2": 7}, "releasewatch-booking-0-3": {"tp3": 9}}
    await asyncio.wait_for(
        restart_fenced._commit_transactions_together(
            producer, offsets, "releasewatch-booking", False
        ),
        5,
    )
    assert steps == ["2 offsets {'tp2': 7} releasewatch-booking", "2 commit"]


class Revoking:
    """faust's consumer at a rebalance: what was called, in order."""

    def __init__(self, assigned: set[str], commit_fails: bool = False) -> None:
        self.assigned, self.commit_fails, self.calls = assigned, commit_fails, []

    def assignment(self) -> set[str]:
        return self.assigned

    async def maybe_wait_for_commit_to_finish(self) -> bool:
        self.calls.append("waited for the timer's commit")
        return False

    async def force_commit(self, start_new_transaction: bool = True) -> bool:
        self.calls.append(f"committed, new transaction {start_new_transaction}")
        if self.commit_fails:
            raise ConnectionError("broker away")
        return True


@pytest.fixture
def faust_revoke(monkeypatch: pytest.MonkeyPatch) -> None:
    async def forget(self: Any, revoked: Any) -> None:  # faust: drops the acks, then commits
        self.calls.append(f"faust forgot {sorted(revoked)}")

    monkeypatch.setattr(commit_before_revoke, "_original_partitions_revoked", forget)


@pytest.mark.usefixtures("faust_revoke")
async def test_at_a_rebalance_what_was_handled_is_committed_before_faust_forgets_it() -> None:
    consumer = Revoking({"tp1", "tp2"})
    await commit_before_revoke._commit_before_revoke(consumer, {"tp1", "tp2"})
    assert consumer.calls == [
        "waited for the timer's commit",
        "committed, new transaction False",  # the transactions end with the commit
        "faust forgot ['tp1', 'tp2']",
    ]


@pytest.mark.usefixtures("faust_revoke")
async def test_a_failed_commit_before_a_rebalance_still_lets_faust_revoke() -> None:
    consumer = Revoking({"tp1"}, commit_fails=True)
    await commit_before_revoke._commit_before_revoke(consumer, {"tp1"})
    assert consumer.calls[-1] == "faust forgot ['tp1']"


@pytest.mark.usefixtures("faust_revoke")
async def test_with_nothing_assigned_nothing_is_committed() -> None:
    consumer = Revoking(set())
    await commit_before_revoke._commit_before_revoke(consumer, set())
    assert consumer.calls == ["faust forgot []"]
