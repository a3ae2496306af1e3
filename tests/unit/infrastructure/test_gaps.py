from services.streams.gaps import AcceptHole, GapGuard, Hold, Process, Repeat

TP = ("jail.booking.v1", 1)


def test_in_order_messages_are_processed() -> None:
    guard = GapGuard()
    assert [guard.check(TP, offset, 14, 0.0) for offset in (14, 15, 16)] == [Process()] * 3


def test_a_hole_after_the_committed_offset_holds_and_seeks_back() -> None:
    guard = GapGuard()
    assert guard.check(TP, 15, 14, 0.0) == Hold(missing_from=14, seek_to=14)
    assert guard.check(TP, 16, 14, 0.1) == Hold(missing_from=14, seek_to=None)
    # The re-read arrives in order; the held ones come again after it.
    assert guard.check(TP, 14, 14, 0.2) == Process()
    assert guard.check(TP, 15, 14, 0.3) == Process()
    assert guard.check(TP, 16, 14, 0.4) == Process()


def test_a_hole_in_the_middle_of_a_run() -> None:
    guard = GapGuard()
    guard.check(TP, 3, None, 0.0)
    guard.check(TP, 4, None, 0.0)
    assert guard.check(TP, 7, None, 0.0) == Hold(missing_from=5, seek_to=5)


def handle(guard: GapGuard, offsets: range | tuple[int, ...], committed: int | None) -> None:
    for offset in offsets:
        assert guard.check(TP, offset, committed, 0.0) in (Process(), AcceptHole(offset - 1))
        guard.handled(TP, offset)


def test_messages_read_again_after_they_were_handled_are_repeats() -> None:
    guard = GapGuard()
    handle(guard, (10, 11, 12), 10)
    assert [guard.check(TP, offset, 10, 0.0) for offset in (10, 11, 12)] == [Repeat()] * 3
    assert guard.check(TP, 13, 10, 0.0) == Process()


def test_a_message_whose_handling_was_cut_short_is_processed_when_read_again() -> None:
    guard = GapGuard()
    handle(guard, (10, 11), 10)
    assert guard.check(TP, 12, 10, 0.0) == Process()  # the handler never finished
    assert guard.check(TP, 12, 10, 0.0) == Process()
    assert guard.check(TP, 11, 10, 0.0) == Repeat()


def test_repeats_from_before_the_guard_saw_the_partition_are_processed() -> None:
    guard = GapGuard()
    handle(guard, (10, 11), 10)
    assert guard.check(TP, 9, 10, 0.0) == Process()


def test_a_late_message_from_an_accepted_hole_is_still_processed() -> None:
    guard = GapGuard(give_up_after=0.0)
    handle(guard, (3, 4), 3)
    assert guard.check(TP, 7, 3, 0.0) == Hold(5, 5)
    assert guard.check(TP, 7, 3, 0.1) == Hold(5, 5, overdue=True)
    assert guard.gone_before(TP, 7, 0.1) == AcceptHole(5)  # retention deleted 5 and 6
    assert guard.check(TP, 7, 3, 0.1) == Process()
    guard.handled(TP, 7)
    assert guard.check(TP, 5, 3, 0.2) == Process()  # from the hole: never handled
    assert guard.check(TP, 4, 3, 0.2) == Process()  # before the hole: the run started again
    assert guard.check(TP, 7, 3, 0.2) == Repeat()


def test_reset_forgets_what_was_handled() -> None:
    guard = GapGuard()
    handle(guard, (0, 1), 0)
    guard.reset()
    assert guard.check(TP, 0, 0, 0.0) == Process()


def test_the_seek_is_repeated_then_the_hole_found_overdue() -> None:
    guard = GapGuard(give_up_after=10, reseek_every=3)
    assert guard.check(TP, 20, 5, 0.0) == Hold(5, 5)
    assert guard.check(TP, 20, 5, 1.0) == Hold(5, None)
    assert guard.check(TP, 20, 5, 3.5) == Hold(5, 5)
    assert guard.check(TP, 20, 5, 10.0) == Hold(5, 5, overdue=True)
    # Still on the broker: nothing given up; overdue again give_up_after later.
    assert guard.check(TP, 20, 5, 12.0) == Hold(5, None)
    assert guard.check(TP, 20, 5, 13.5) == Hold(5, 5)
    assert guard.check(TP, 20, 5, 20.0) == Hold(5, 5, overdue=True)
    assert guard.committable(TP) == 5
    assert guard.check(TP, 5, 5, 20.5) == Process()  # it came after all


def test_only_what_retention_deleted_is_given_up() -> None:
    guard = GapGuard(give_up_after=10)
    handle(guard, (5, 6), 5)
    assert guard.check(TP, 20, 5, 0.0) == Hold(7, 7)
    assert guard.check(TP, 20, 5, 10.0) == Hold(7, 7, overdue=True)
    # The log now starts at 12: 7-11 are gone, 12-19 must still be read.
    assert guard.gone_before(TP, 12, 10.0) == AcceptHole(missing_from=7)
    assert guard.committable(TP) == 12
    assert guard.check(TP, 20, 5, 10.0) == Hold(12, 12)
    assert guard.check(TP, 12, 5, 10.5) == Process()
    guard.handled(TP, 12)
    assert guard.committable(TP) == 13


def test_without_a_committed_offset_the_first_message_is_the_baseline() -> None:
    guard = GapGuard()
    assert guard.check(TP, 0, None, 0.0) == Process()
    assert guard.check(TP, 2, None, 0.0) == Hold(1, 1)


def test_reset_starts_again_from_the_committed_offset() -> None:
    guard = GapGuard()
    guard.check(TP, 0, None, 0.0)
    guard.reset()
    assert guard.check(TP, 9, 9, 0.0) == Process()


def test_partitions_are_independent() -> None:
    guard = GapGuard()
    guard.check(("t", 0), 5, 5, 0.0)
    assert guard.check(("t", 1), 0, 0, 0.0) == Process()


def test_a_partition_with_waiting_messages_that_does_not_move_is_stalled() -> None:
    guard = GapGuard(stall_after=5)
    guard.check(TP, 2, 2, 0.0)  # expected is now 3
    assert guard.stalled({TP: (2, 4)}, 1.0) == []  # offset 3 waiting since the last move
    assert guard.stalled({TP: (2, 4)}, 4.9) == []
    assert guard.stalled({TP: (2, 4)}, 5.0) == [(TP, 3)]
    assert guard.stalled({TP: (2, 4)}, 7.0) == []  # re-armed after the seek


def test_a_partition_read_to_its_end_is_not_stalled() -> None:
    guard = GapGuard(stall_after=5)
    guard.check(TP, 2, 2, 0.0)
    assert guard.stalled({TP: (2, 3)}, 100.0) == []


def test_a_partition_never_read_is_stalled_from_its_committed_offset() -> None:
    guard = GapGuard(stall_after=5)
    other = ("jail.booking.v1", 2)
    assert guard.stalled({other: (7, 9)}, 0.0) == []
    assert guard.stalled({other: (7, 9)}, 5.0) == [(other, 7)]


def test_progress_clears_the_stall_clock() -> None:
    guard = GapGuard(stall_after=5)
    guard.check(TP, 0, 0, 0.0)
    guard.stalled({TP: (0, 3)}, 0.0)
    guard.check(TP, 1, 0, 4.0)
    assert guard.stalled({TP: (0, 3)}, 6.0) == []


def test_the_guard_says_whether_it_knows_what_comes_next() -> None:
    guard = GapGuard()
    assert not guard.expects("p0")
    guard.check("p0", 5, 5, 0.0)
    assert guard.expects("p0")
    guard.reset()
    assert not guard.expects("p0")


def test_a_fetched_partition_waits_longer_behind_a_backlog() -> None:
    guard = GapGuard(stall_after=5, stall_after_busy=60, deep_backlog=1000)
    guard.check(TP, 2, 2, 0.0)  # expected is now 3; the client has fetched up to 9
    for now in range(60):  # the agent's buffer holds 4,000 messages of other partitions
        assert guard.stalled({TP: (2, 12)}, float(now), fetched={TP: 10}, backlog=4000) == []
    assert guard.stalled({TP: (2, 12)}, 60.0, fetched={TP: 10}, backlog=4000) == [(TP, 3)]


def test_a_fetched_partition_without_a_backlog_is_stalled_soon() -> None:
    # faust dropped what the client fetched right after an assignment (seen: requests held
    # 55 s after a restart while other partitions kept the agent moving): no backlog
    # explains the wait.
    guard = GapGuard(stall_after=5, stall_after_busy=60, deep_backlog=1000)
    guard.check(TP, 4, 4, 0.0)
    assert guard.stalled({TP: (4, 8)}, 0.0, fetched={TP: 8}, backlog=3) == []
    assert guard.stalled({TP: (4, 8)}, 5.0, fetched={TP: 8}, backlog=3) == [(TP, 5)]


def test_fetched_messages_before_the_expected_one_do_not_count() -> None:
    guard = GapGuard(stall_after=5, stall_after_busy=60, deep_backlog=1000)
    guard.check(TP, 2, 2, 0.0)
    assert guard.stalled({TP: (2, 12)}, 0.0, fetched={TP: 3}, backlog=4000) == []
    assert guard.stalled({TP: (2, 12)}, 5.0, fetched={TP: 3}, backlog=4000) == [(TP, 3)]
    other = ("jail.booking.v1", 2)
    assert guard.stalled({other: (7, 9)}, 0.0, fetched={TP: 10}, backlog=4000) == []
    assert guard.stalled({other: (7, 9)}, 5.0, fetched={TP: 10}, backlog=4000) == [(other, 7)]


def test_the_short_wait_returns_once_the_backlog_is_gone() -> None:
    guard = GapGuard(stall_after=5, stall_after_busy=60, deep_backlog=1000)
    guard.check(TP, 2, 2, 0.0)
    assert guard.stalled({TP: (2, 12)}, 0.0, fetched={TP: 10}, backlog=4000) == []
    assert guard.stalled({TP: (2, 12)}, 29.0, fetched={TP: 10}, backlog=2000) == []
    assert guard.stalled({TP: (2, 12)}, 33.0, fetched={TP: 10}, backlog=0) == []  # 4 s ago
    # No backlog for 5 s: the short wait, counted from the partition's last move.
    assert guard.stalled({TP: (2, 12)}, 34.0, fetched={TP: 10}, backlog=0) == [(TP, 3)]


def test_a_hole_known_to_hold_only_markers_is_passed_at_once() -> None:
    guard = GapGuard()
    assert isinstance(guard.check("tp", 10, 10, 0.0), Process)
    held = guard.check("tp", 13, 10, 0.0)  # 11 and 12: a commit marker and an aborted record
    assert isinstance(held, Hold) and held.seek_to == 11
    assert guard.accept("tp", 13, 0.1) == AcceptHole(missing_from=11)
    assert isinstance(guard.check("tp", 14, 10, 0.2), Process)  # no hold left behind
    assert guard.stalled({"tp": (10, 15)}, 0.3) == []  # and the watchdog expects 15 next


def test_a_message_cut_short_is_processed_again_and_what_followed_it_waits() -> None:
    guard = GapGuard(give_up_after=30.0, reseek_every=3.0)
    handle(guard, (20, 21), 20)
    assert guard.check(TP, 22, 20, 0.0) == Process()
    guard.again(TP, 22, 0.0)  # the broker refused its output: read again
    assert guard.check(TP, 23, 20, 0.5) == Hold(missing_from=22, seek_to=None)
    assert guard.check(TP, 23, 20, 3.5) == Hold(missing_from=22, seek_to=22)  # sought again
    assert guard.check(TP, 22, 20, 4.0) == Process()  # not a repeat: it was never handled
    guard.handled(TP, 22)
    assert guard.check(TP, 23, 20, 4.1) == Process()


def test_a_message_refused_again_and_again_is_never_skipped_as_a_hole() -> None:
    guard = GapGuard(give_up_after=30.0)
    guard.check(TP, 5, 5, 0.0)
    for now in range(0, 120, 10):  # each retry renews the hold
        guard.again(TP, 5, float(now))
        assert isinstance(guard.check(TP, 6, 5, now + 9.0), Hold)
        assert guard.check(TP, 5, 5, now + 9.5) == Process()


def test_the_commit_is_what_was_handled_in_order_from_the_committed_offset() -> None:
    guard = GapGuard()
    assert guard.committable(TP) is None  # not seen yet: nothing to say
    assert guard.check(TP, 10, 10, 0.0) == Process()
    assert guard.committable(TP) == 10  # checked, not yet handled
    guard.handled(TP, 10)
    assert guard.committable(TP) == 11
    assert guard.check(TP, 13, 10, 0.0) == Hold(11, 11)  # 11 and 12 missing
    assert guard.committable(TP) == 11
    for offset in (11, 12, 13):
        assert guard.check(TP, offset, 10, 0.1) == Process()
        guard.handled(TP, offset)
    assert guard.committable(TP) == 14


def test_a_repeat_or_a_message_cut_short_never_moves_the_commit() -> None:
    guard = GapGuard()
    handle(guard, (3, 4), 3)
    assert guard.check(TP, 3, 3, 0.0) == Repeat()
    assert guard.check(TP, 5, 3, 0.0) == Process()
    guard.again(TP, 5, 0.0)  # its output refused: not handled
    assert guard.committable(TP) == 5
    assert guard.check(TP, 6, 3, 0.1) == Hold(missing_from=5, seek_to=None)
    assert guard.committable(TP) == 5


def test_a_reset_forgets_the_commit_until_the_partition_is_seen_again() -> None:
    guard = GapGuard()
    handle(guard, (0, 1), 0)
    guard.reset()
    assert guard.committable(TP) is None
    guard.check(TP, 7, 7, 0.0)
    assert guard.committable(TP) == 7


def test_without_a_committed_offset_the_guard_vouches_for_no_commit() -> None:
    guard = GapGuard()
    handle(guard, (40, 41), None)  # where these started is unknown: earlier ones may be missing
    assert guard.committable(TP) is None


def test_a_hole_of_markers_moves_the_commit_past_it() -> None:
    guard = GapGuard()
    handle(guard, (10,), 10)
    guard.check(TP, 13, 10, 0.0)
    guard.accept(TP, 13, 0.1)  # 11 and 12: transaction markers, nothing to read
    guard.handled(TP, 13)
    assert guard.committable(TP) == 14


def test_a_partition_whose_next_message_the_client_holds_waits_its_turn() -> None:
    # Seen after a kill -9 during a load: sought every 6 s for a minute, each seek throwing
    # away the message the client held and putting the partition at the back of its queue.
    guard = GapGuard(stall_after=5, stall_after_queued=120)
    guard.check(TP, 3770, 3770, 0.0)  # expected is now 3771
    waiting = {TP: (3770, 7538)}
    for now in range(0, 120, 5):
        assert guard.stalled(waiting, float(now), {TP: 3772}, 0, queued={TP: 3771}) == []
    assert guard.stalled(waiting, 120.0, {TP: 3772}, 0, queued={TP: 3771}) == [(TP, 3771)]


def test_a_client_holding_messages_past_the_expected_one_is_no_excuse() -> None:
    # Held from 3790 on: 3771-3789 were handed out and dropped, a hole to seek back to.
    guard = GapGuard(stall_after=5, stall_after_queued=120)
    guard.check(TP, 3770, 3770, 0.0)
    waiting = {TP: (3770, 7538)}
    assert guard.stalled(waiting, 0.0, {TP: 3791}, 0, queued={TP: 3790}) == []
    assert guard.stalled(waiting, 5.0, {TP: 3791}, 0, queued={TP: 3790}) == [(TP, 3771)]
