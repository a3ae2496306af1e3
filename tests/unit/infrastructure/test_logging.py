import io
import json
import logging

import structlog
from structlog.testing import LogCapture

from services.ops import logging as rw_logging

PERSON = {
    "person_id": "p-1",
    "first_name": "Alexandra",
    "last_name": "Quintanilla",
    "date_of_birth": "1990-04-12",
}


def test_redaction_removes_personal_fields_at_any_depth() -> None:
    event = {
        "event": "booking_state_emitted",
        "first_name": "Alexandra",
        "person": PERSON,
        "data": {"subject": {"last_name": "Quintanilla"}, "items": [{"date_of_birth": "x"}]},
        "booking_id": "2027-000123",
    }
    result = rw_logging.redact_personal(None, "info", event)
    text = json.dumps(result)
    assert "Alexandra" not in text
    assert "Quintanilla" not in text
    assert "1990" not in text
    assert result["booking_id"] == "2027-000123"
    assert "first_name" not in result
    assert result["data"]["items"] == [{"date_of_birth": rw_logging.REDACTED}]


def test_the_configured_chain_redacts_and_binds_message_fields() -> None:
    capture = LogCapture()
    rw_logging.configure("booking")
    structlog.configure(processors=[*rw_logging._shared_processors("booking"), capture])
    try:
        with rw_logging.message_context(
            topic="jail.booking.v1", partition=2, offset=9, event_id="e-1"
        ):
            structlog.get_logger().info("booking_state_emitted", person=PERSON, revision=3)
        structlog.get_logger().info("after")
    finally:
        structlog.reset_defaults()
    first, after = capture.entries
    assert first["service"] == "booking"
    assert (first["topic"], first["partition"], first["offset"], first["event_id"]) == (
        "jail.booking.v1",
        2,
        9,
        "e-1",
    )
    assert "person" not in first
    assert "topic" not in after  # cleared when the message is done


def test_library_log_lines_go_through_the_same_redaction_as_json() -> None:
    config = rw_logging.logging_config("booking", fmt="json")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter_config = dict(config["formatters"]["structlog"])
    factory = formatter_config.pop("()")
    handler.setFormatter(factory(**formatter_config))
    logger = logging.getLogger("some.library")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("fetch failed", extra={"first_name": "Alexandra"})
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["event"] == "fetch failed"
    assert line["service"] == "booking"
    assert "Alexandra" not in stream.getvalue()


def test_a_line_below_the_level_is_dropped_before_the_processors_run() -> None:
    seen: list[str] = []

    def spy(logger: object, method: str, event: dict[str, object]) -> dict[str, object]:
        seen.append(str(event["event"]))
        return event

    level = logging.getLogger().level
    rw_logging.configure("booking", "json", "info")
    config = structlog.get_config()
    structlog.configure(processors=[config["processors"][0], spy, LogCapture()])
    try:
        structlog.get_logger("services.test").debug("booking_state_emitted", revision=1)
        structlog.get_logger("services.test").info("messages_handled", messages=1)
    finally:
        structlog.reset_defaults()
        logging.getLogger().setLevel(level)
    assert seen == ["messages_handled"]


def test_messages_handled_is_one_line_per_interval_and_none_when_idle() -> None:
    from services.streams.reading import HandledSummary

    capture = LogCapture()
    structlog.configure(processors=[capture])
    try:
        summary = HandledSummary()
        for topic in ["jail.booking.v1"] * 3 + ["booking.ticks.v1"]:
            summary.add(topic)
        summary.report()
        summary.report()  # nothing came since: no line
        summary.add("jail.booking.v1")
        summary.report()
    finally:
        structlog.reset_defaults()
    first, second = capture.entries
    assert first["event"] == "messages_handled" and first["log_level"] == "info"
    assert first["messages"] == 4
    assert first["topics"] == {"jail.booking.v1": 3, "booking.ticks.v1": 1}
    assert second["messages"] == 1 and second["topics"] == {"jail.booking.v1": 1}


def test_our_logger_asks_structlog_only_for_lines_at_or_above_the_level() -> None:
    seen: list[tuple[str, str]] = []

    def spy(logger: object, method: str, event: dict[str, object]) -> dict[str, object]:
        seen.append((method, str(event["event"])))
        raise structlog.DropEvent

    std = logging.getLogger("services.test.leveled")
    std.setLevel(logging.INFO)
    structlog.configure(processors=[spy], logger_factory=structlog.stdlib.LoggerFactory())
    try:
        log = rw_logging.get_logger("services.test.leveled")
        log.debug("duplicate_dropped")
        log.info("alert_emitted", alert_id="a-1")
        log.warning("escalation_raised")
        std.setLevel(logging.DEBUG)  # the level is read at each line
        log.debug("schedule_changed")
        std.setLevel(logging.ERROR)
        log.warning("input_gap_seek_back")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("message_failed")
    finally:
        structlog.reset_defaults()
        std.setLevel(logging.NOTSET)
    assert seen == [
        ("info", "alert_emitted"),
        ("warning", "escalation_raised"),
        ("debug", "schedule_changed"),
        ("error", "message_failed"),
    ]


def test_event_fields_join_the_message_fields_and_leave_before_the_message_does() -> None:
    capture = LogCapture()
    structlog.configure(processors=[rw_logging.merge_message, capture])

    class Event:
        event_id, type, jurisdiction = "e-7", "booking.released", "ca-alameda"

    try:
        log = structlog.get_logger()
        with rw_logging.message_context(topic="jail.booking.v1", partition=1, offset=4):
            rw_logging.bind_event(Event())
            log.info("booking_state_emitted", offset=99)  # a field the line names wins
            rw_logging.unbind_event()
            log.info("after_unbind")
        log.info("after_message")
    finally:
        structlog.reset_defaults()
    during, unbound, after = capture.entries
    assert (during["topic"], during["partition"], during["offset"]) == ("jail.booking.v1", 1, 99)
    assert (during["event_id"], during["type"], during["jurisdiction"]) == (
        "e-7",
        "booking.released",
        "ca-alameda",
    )
    assert unbound["topic"] == "jail.booking.v1" and "event_id" not in unbound
    assert not {"topic", "event_id", "offset"} & set(after)


def _rendered(formatter_class: type[logging.Formatter], emit: object) -> list[str]:
    """The lines our JSON configuration renders through ``formatter_class`` for what ``emit``
    logs (one of our loggers, structlog's chain, one handler)."""
    config = rw_logging.configure("notification", "json", "info")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    options = dict(config["formatters"]["structlog"])
    options.pop("()")
    handler.setFormatter(formatter_class(**options))
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        emit()  # type: ignore[operator]
    finally:
        root.handlers = saved
        structlog.reset_defaults()
    return stream.getvalue().splitlines()


def test_the_line_formatter_renders_our_lines_as_structlogs_own_formatter_does() -> None:
    log = rw_logging.get_logger("services.test.lines")

    def emit() -> None:
        with rw_logging.message_context(topic="notice.alerts.v1", partition=3, offset=7):
            log.info("notice_issued", notice_id="n-1", late=True, person=PERSON, ids=("a", "b"))
        log.warning("input_gap_seek_back", nested={"subject": {"last_name": "Quintanilla"}})
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("message_failed", alert_id="a-1")
        logging.getLogger("aiokafka.test").warning("fetch failed for %s", "tp-1")

    ours = _rendered(rw_logging.LineFormatter, emit)
    theirs = _rendered(structlog.stdlib.ProcessorFormatter, emit)
    assert len(ours) == 4
    drop_time = [{k: v for k, v in json.loads(line).items() if k != "timestamp"} for line in ours]
    assert drop_time == [
        {k: v for k, v in json.loads(line).items() if k != "timestamp"} for line in theirs
    ]
    first, second, failed, foreign = drop_time
    assert first["event"] == "notice_issued" and first["partition"] == 3
    assert "person" not in first and first["ids"] == ["a", "b"]
    assert second["nested"] == {"subject": rw_logging.REDACTED}
    assert "ValueError: boom" in failed["exception"]
    assert foreign["event"] == "fetch failed for tp-1" and foreign["service"] == "notification"


def test_our_logger_follows_a_later_structlog_configuration() -> None:
    first, second = LogCapture(), LogCapture()
    std = logging.getLogger("services.test.reconfigured")
    std.setLevel(logging.INFO)
    log = rw_logging.get_logger("services.test.reconfigured")
    try:
        structlog.configure(processors=[first], logger_factory=structlog.stdlib.LoggerFactory())
        log.info("alert_emitted", alert_id="a-1")
        log.info("alert_emitted", alert_id="a-2")
        structlog.configure(processors=[second], logger_factory=structlog.stdlib.LoggerFactory())
        log.info("alert_emitted", alert_id="a-3")
    finally:
        structlog.reset_defaults()
        std.setLevel(logging.NOTSET)
    assert [e["alert_id"] for e in first.entries] == ["a-1", "a-2"]
    assert [e["alert_id"] for e in second.entries] == ["a-3"]
