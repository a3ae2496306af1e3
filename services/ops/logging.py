"""structlog set-up: JSON lines in production, readable console in development.

Per-message fields (``event_id``, ``topic``, ``partition``, ...) are bound when a message is
taken and cleared when it is done: one context variable holding them all, since a worker sets
them for every message (structlog's ``bind_contextvars`` sets one variable per field, about
15 us a message). A redaction processor removes personal fields (names, dates of birth) from
every line, ours and the libraries'. A line below the level costs one check (``Logger``).
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

import orjson
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

PERSONAL_FIELDS = frozenset(
    {
        "first_name",
        "last_name",
        "middle_name",
        "full_name",
        "date_of_birth",
        "dob",
        "person",
        "subject",
    }
)
REDACTED = "[redacted]"


# Most fields are one of these: told apart by a plain type check, not ``Mapping``'s (an
# abstract class's check, 15 a line: a fifth of a line's cost).
_PLAIN = (str, int, float, type(None))


def _redact(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, Mapping):
        return {
            key: (REDACTED if key in PERSONAL_FIELDS else _redact(item))
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(item) for item in value]
    return value


def redact_personal(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Remove names and dates of birth, at any depth, from a log line."""
    for key in PERSONAL_FIELDS.intersection(event_dict):
        del event_dict[key]
    for key, value in event_dict.items():
        if not isinstance(value, _PLAIN):
            event_dict[key] = _redact(value)
    return event_dict


def _add_service(service: str) -> Processor:
    def add_service(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


# The fields of the message being handled (``message_context``, ``bind_event``).
_NONE: Mapping[str, Any] = MappingProxyType({})
_MESSAGE: ContextVar[Mapping[str, Any]] = ContextVar("releasewatch_message", default=_NONE)


def merge_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Add the handled message's fields; a field the line names itself wins."""
    for key, value in _MESSAGE.get().items():
        event_dict.setdefault(key, value)
    return event_dict


def _shared_processors(service: str) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        merge_message,
        _add_service(service),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal,
        structlog.processors.StackInfoRenderer(),
    ]


def _json(event_dict: EventDict, default: Any = None, **_: Any) -> str:
    """One line of JSON by orjson: the standard library's encoder was 9 % of the scheduling
    worker's main thread in a burst of alerts (py-spy, #47)."""
    return orjson.dumps(event_dict, default=default or str).decode()


class LineFormatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, without copying the record of one of our own lines (a second
    ``LogRecord`` a line, kept for other handlers' sake: there is one) or passing the rendered
    line back through ``logging.Formatter``, whose format of ``%(message)s`` is the line."""

    def format(self, record: logging.LogRecord) -> str:
        wrapped = record.msg
        if not (isinstance(wrapped, dict) and hasattr(record, "_logger")) or record.exc_info:
            return super().format(record)
        line: Any = {**wrapped, "_record": record, "_from_structlog": True}
        # both set by wrap_for_formatter
        logger = self.logger if self.logger is not None else record._logger
        method = record._name  # type: ignore[attr-defined]
        for processor in self.processors:
            line = processor(logger, method, line)
        return line if isinstance(line, str) else str(line)


def logging_config(service: str, fmt: str = "console", level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict that renders stdlib records (faust, aiokafka) with
    the same processors as our own structlog lines."""
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_json)
        final: list[Processor] = [structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        final = [renderer]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": LineFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
                "foreign_pre_chain": _shared_processors(service),
            }
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "structlog",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            # The clients are chatty at INFO about every rebalance step.
            "aiokafka": {"level": "WARNING"},
            "faust": {"level": "WARNING" if level != "debug" else "DEBUG"},
            # At debug it prints every message it sends, value and all (names, dates of
            # birth): never below INFO.
            "faust.topics": {"level": "WARNING" if level != "debug" else "INFO"},
            "mode": {"level": "WARNING"},
        },
    }


def configure(service: str, fmt: str = "console", level: str = "info") -> dict[str, Any]:
    """Configure structlog and stdlib logging; return the dictConfig for faust's worker."""
    structlog.configure(
        processors=[
            # First: a line below the level costs one check, not the processors' work.
            structlog.stdlib.filter_by_level,
            *_shared_processors(service),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    config = logging_config(service, fmt, level)
    logging.config.dictConfig(config)
    # No line names its caller's file and line: logging would walk the stack for each one
    # (structlog's findCaller, 4 % of the notification worker's main thread in a burst).
    logging._srcfile = None
    return config


class Logger:
    """structlog's stdlib logger, asked only for a line at or above its logger's level: below
    it a line costs ``isEnabledFor`` (cached by logging), not a bound logger built for the
    call and the processors run up to ``filter_by_level`` (about 13 us a line). The bound
    logger is built once per structlog configuration (a later ``structlog.configure``
    applies), not at each line."""

    __slots__ = ("_bound", "_made_under", "_name", "_std")

    def __init__(self, name: str | None) -> None:
        self._name = name
        self._std = logging.getLogger(name)
        self._bound: Any = None
        self._made_under: tuple[Any, Any] | None = None

    def _logger(self) -> Any:
        config = structlog.get_config()
        under = (config["processors"], config["logger_factory"])
        made = self._made_under
        if made is None or made[0] is not under[0] or made[1] is not under[1]:
            self._bound = structlog.get_logger(self._name).bind()
            self._made_under = under
        return self._bound

    def debug(self, event: str, **fields: Any) -> None:
        if self._std.isEnabledFor(logging.DEBUG):
            self._logger().debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        if self._std.isEnabledFor(logging.INFO):
            self._logger().info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        if self._std.isEnabledFor(logging.WARNING):
            self._logger().warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        if self._std.isEnabledFor(logging.ERROR):
            self._logger().error(event, **fields)

    def exception(self, event: str, **fields: Any) -> None:
        """An error line with the exception being handled."""
        if self._std.isEnabledFor(logging.ERROR):
            self._logger().exception(event, **fields)


def get_logger(name: str | None = None) -> Logger:
    return Logger(name)


@contextmanager
def message_context(**fields: Any) -> Iterator[None]:
    """Bind per-message fields for every log line while one message is handled."""
    token = _MESSAGE.set(fields)
    try:
        yield
    finally:
        _MESSAGE.reset(token)


EVENT_FIELDS = ("event_id", "type", "jurisdiction")


def bind_event(event: Any) -> None:
    """Add the decoded event's id, type and jurisdiction to every log line about it."""
    _MESSAGE.set({**_MESSAGE.get(), **{name: getattr(event, name) for name in EVENT_FIELDS}})


def unbind_event() -> None:
    fields = _MESSAGE.get()
    if any(name in fields for name in EVENT_FIELDS):
        _MESSAGE.set({k: v for k, v in fields.items() if k not in EVENT_FIELDS})
