"""structlog set-up, called once at each entry point.

JSON lines when stderr is not a terminal (containers, CI), readable console output when it is.
Context such as article_id, article_version and correlation_id is bound, never formatted in.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from shared.settings import LogFormat


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto", *, service: str | None = None) -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*processors, renderer],
        # filtering_bound_logger: a call below the level costs one method lookup, nothing more.
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries that log through the standard library (FastStream, uvicorn) get the same format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=processors,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(numeric_level, logging.WARNING))
    if service:
        structlog.contextvars.bind_contextvars(service=service)


def _dumps(obj: Any, **kwargs: Any) -> str:
    import orjson

    return orjson.dumps(obj, default=str).decode()


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
