"""The board's page data, from the folded state (pure): each flagged release with its
status and one sentence on what happened, counters by status for each jurisdiction, notices
awaiting acknowledgement by readable name, escalations and dead letters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.board.state import BoardState, Booking
from services.board.statuses import (
    LABELS,
    NEEDS_ACTION,
    ORDER,
    Facts,
    Status,
    detail,
    due_at,
    local_text,
    notice_name,
    status_of,
)

SHOWN_FOR = timedelta(days=7)  # releases this far ahead, and this far back once released


def releases(
    state: BoardState, now: datetime, wanted: Callable[[Booking], bool]
) -> list[dict[str, Any]]:
    """Each flagged release (booking and request) that matters now, rows needing action
    first."""
    rows: list[dict[str, Any]] = []
    for booking in state.bookings.values():
        if not booking.requests or not wanted(booking):
            continue
        for request_id in sorted(booking.requests):
            facts = state.facts(booking, request_id)
            status = status_of(facts, now)
            if not _shown(facts, status, now):
                continue
            due = due_at(facts)
            rows.append(
                {
                    "key": booking.key,
                    "booking_id": booking.booking_id,
                    "jurisdiction": booking.jurisdiction,
                    "facility": booking.facility_name or booking.facility_id,
                    "timezone": booking.timezone,
                    "agency": booking.requests[request_id].agency,
                    "request_id": request_id,
                    "status": status.value,
                    "status_label": LABELS[status],
                    "needs_action": status in NEEDS_ACTION,
                    "detail": detail(facts, status, now),
                    "release_at": facts.release_at.isoformat() if facts.release_at else None,
                    "release_local": local_text(facts.release_at, booking.timezone),
                    "due_at": due.isoformat() if due else None,
                    "due_local": local_text(due, booking.timezone),
                    "seconds_to_due": round((due - now).total_seconds()) if due else None,
                    "seconds_to_release": (
                        round((facts.release_at - now).total_seconds())
                        if facts.release_at and status is not Status.RELEASED
                        else None
                    ),
                }
            )
    rows.sort(key=lambda row: (ORDER.index(Status(row["status"])), row["due_at"] or ""))
    return rows


def view(
    state: BoardState, now: datetime, jurisdiction: str | None = None, facility: str | None = None
) -> dict[str, Any]:
    def wanted(booking: Booking) -> bool:
        return (jurisdiction is None or booking.jurisdiction == jurisdiction) and (
            facility is None or booking.facility_id == facility
        )

    def wanted_key(key: str) -> bool:
        booking = state.bookings.get(key)
        if booking is None:
            return jurisdiction is None and facility is None
        return wanted(booking)

    def zone(key: str) -> str:
        booking = state.bookings.get(key)
        return booking.timezone if booking else "UTC"

    rows = releases(state, now, wanted)
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        counts.setdefault(row["jurisdiction"], Counter())[row["status"]] += 1
    awaiting = [
        {
            "notice_id": a.notice_id,
            "name": notice_name(a.kind, a.agency, a.key.partition("/")[2], a.attempt),
            "key": a.key,
            "agency": a.agency,
            "kind": a.kind,
            "issued_at": a.issued_at.isoformat(),
            "issued_local": local_text(a.issued_at, zone(a.key)),
            "attempt": a.attempt,
            "late": a.late,
            "timezone": zone(a.key),
        }
        for a in sorted(state.awaiting.values(), key=lambda a: a.issued_at)
        if wanted_key(a.key)
    ]
    escalations = [
        {
            **row,
            "timezone": zone(row["key"]),
            "at_local": local_text(_instant(row["at"]), zone(row["key"])),
        }
        for row in state.escalations.values()
        if wanted_key(row["key"])
    ]
    waiting, oldest = state.waiting_now(now)
    return {
        "now": now.isoformat(),
        # a burst in progress (#47): alerts read, their notices not out yet (all jurisdictions)
        "alerts_waiting": {"count": waiting, "oldest_seconds": round(oldest)},
        "statuses": [{"status": s.value, "label": LABELS[s]} for s in ORDER],
        "counts": {j: dict(c) for j, c in sorted(counts.items())},
        "releases": rows,
        "awaiting_ack": awaiting,
        "escalations": escalations,
        "dead_letters": dict(sorted(state.dead_letters.items())),
        "jurisdictions": sorted({b.jurisdiction for b in state.bookings.values()}),
        "facilities": sorted({b.facility_id for b in state.bookings.values() if b.facility_id}),
    }


def _shown(facts: Facts, status: Status, now: datetime) -> bool:
    """Rows needing action always; others when their release is within a week either way
    (released ones looking back, the rest ahead)."""
    if status in NEEDS_ACTION:
        return True
    if facts.release_at is None:
        return False
    if status is Status.RELEASED:
        return now - SHOWN_FOR <= facts.release_at <= now + SHOWN_FOR
    return facts.booking_status == "scheduled" and facts.release_at <= now + SHOWN_FOR


def _instant(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None
