"""Structured logging for cofab's processes: stdlib loggers everywhere (libraries never
configure handlers), rendered by structlog as key=value lines, or JSON with COFAB_LOG_JSON=1.
Fields passed as `extra={...}` become keys of the line.

structlog is imported when the first line is written, not by `configure`: importing it
(with the rich and asyncio modules it pulls in) takes ~70 ms, a tenth of what
`cofab design analyze` needs for a 1.3-million-face STL, and such a run logs nothing."""

from __future__ import annotations

import logging
import os
import sys

_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extras(_logger, _name, event_dict):
    record = event_dict.get("_record")
    if record is not None:
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _structlog_formatter(json: bool) -> logging.Formatter:
    import structlog

    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "logger", "event"], drop_missing=True
        )
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _extras,
        ],
        # format_exc_info: a record's exc_info becomes the traceback text, not a tuple's repr
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )


class _DeferredFormatter(logging.Formatter):
    """structlog's formatter, built on the first record it formats (see the module doc)."""

    def __init__(self, json: bool) -> None:
        super().__init__()
        self._json = json
        self._inner: logging.Formatter | None = None

    def format(self, record: logging.LogRecord) -> str:
        if self._inner is None:
            self._inner = _structlog_formatter(self._json)
        return self._inner.format(record)


def configure(level: str | None = None, *, json: bool | None = None, stream=None) -> None:
    json = os.environ.get("COFAB_LOG_JSON") == "1" if json is None else json
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(_DeferredFormatter(json))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("COFAB_LOG_LEVEL", "INFO")).upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # trimesh logs recoverable oddities (stored normals) as warnings with tracebacks; our own
    # analysis reports what matters about a file.
    logging.getLogger("trimesh").setLevel(logging.ERROR)
