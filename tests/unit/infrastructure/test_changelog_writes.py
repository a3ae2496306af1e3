"""A table write's changelog record joins the input message's unacknowledged outputs, and is
sent again as the key's value at that moment (``RecordTable``, ``ChangelogWrite``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.core.deadlines import DeadlineIndex
from services.settings import Settings
from services.streams.app import create_app
from services.streams.output import UNACKNOWLEDGED
from services.streams.records import ChangelogWrite, RecordTable


class Note(BaseModel):
    text: str


def table(tmp_path: Path) -> RecordTable[Note]:
    settings = Settings.model_validate(
        {"broker_url": "kafka://127.0.0.1:9092", "store": "memory", "data_dir": tmp_path}
    )
    app = create_app("booking", settings, 18099)
    return RecordTable(app, "notes", Note, 8, DeadlineIndex())


def sent(write: Any) -> tuple[Any, Any, int | None]:
    """What the record carries (faust serializes it as it is sent: JSON)."""
    message = write.future.message
    value = None if message.value is None else json.loads(message.value)
    return json.loads(message.key), value, message.partition


async def test_each_changelog_record_is_collected_with_faust_s_own_arguments(
    tmp_path: Path,
) -> None:
    records = table(tmp_path)
    pending: list[Any] = []
    token = UNACKNOWLEDGED.set(pending)
    try:
        records.table.send_changelog(3, "us-mn/b-1", {"text": "a"})  # what a write sends
        records.table.send_changelog(3, "us-mn/b-2", None, value_serializer="raw")  # a delete
    finally:
        UNACKNOWLEDGED.reset(token)
    records.table.send_changelog(3, "us-mn/b-3", {"text": "c"})  # no message in hand
    assert [type(write) for write in pending] == [ChangelogWrite, ChangelogWrite]
    assert [sent(write) for write in pending] == [
        ("us-mn/b-1", {"text": "a"}, 3),
        ("us-mn/b-2", None, 3),
    ]
    assert {write.topic for write in pending} == {"releasewatch-booking-notes-changelog"}


async def test_sent_again_it_carries_the_keys_value_now_or_its_tombstone(tmp_path: Path) -> None:
    records = table(tmp_path)
    pending: list[Any] = []
    token = UNACKNOWLEDGED.set(pending)
    try:
        records.table.send_changelog(5, "us-mn/b-1", {"text": "old"})
        records.table.send_changelog(5, "us-mn/b-2", {"text": "gone since"})
    finally:
        UNACKNOWLEDGED.reset(token)
    # A later message wrote b-1 again, and forgot b-2 (the store itself, no changelog here).
    records.table.data["us-mn/b-1"] = {"text": "new"}
    first, second = pending
    await first.again()
    await second.again()
    assert sent(first) == ("us-mn/b-1", {"text": "new"}, 5)  # never the older value
    assert sent(second) == ("us-mn/b-2", None, 5)  # a tombstone
