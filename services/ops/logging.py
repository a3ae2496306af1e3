"""structlog set-up: JSON lines in production, readable console in development.

Per-message fields (``event_id``, ``topic``, ``partition``, ...) are bound with contextvars when
a message is taken and cleared when it is done. A redaction processor removes personal fields
(names, dates of birth) from every line, ours and the libraries'.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

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


def _redact(value: Any) -> Any:
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
    for key in list(event_dict):
        if key in PERSONAL_FIELDS:
            del event_dict[key]
        else:
            event_dict[key] = _redact(event_dict[key])
    return event_dict


def _add_service(service: str) -> Processor:
    def add_service(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


def _shared_processors(service: str) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        _add_service(service),
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal,
        structlog.processors.StackInfoRenderer(),
    ]


def logging_config(service: str, fmt: str = "console", level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict that renders stdlib records (faust, aiokafka) with
    the same processors as our own structlog lines."""
    renderer: Processor
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        final: list[Processor] = [structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        final = [renderer]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structlog": {
                "()": structlog.stdlib.ProcessorFormatter,
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
    return config


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


@contextmanager
def message_context(**fields: Any) -> Iterator[None]:
    """Bind per-message fields for every log line while one message is handled."""
    tokens = structlog.contextvars.bind_contextvars(**fields)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


EVENT_FIELDS = ("event_id", "type", "jurisdiction")


def bind_event(event: Any) -> None:
    """Add the decoded event's id, type and jurisdiction to every log line about it."""
    structlog.contextvars.bind_contextvars(**{name: getattr(event, name) for name in EVENT_FIELDS})


def unbind_event() -> None:
    structlog.contextvars.unbind_contextvars(*EVENT_FIELDS)
