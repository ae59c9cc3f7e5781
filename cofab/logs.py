"""Structured logging for cofab's processes: stdlib loggers everywhere (libraries never
configure handlers), rendered by structlog as key=value lines, or JSON with COFAB_LOG_JSON=1.
Fields passed as `extra={...}` become keys of the line."""

from __future__ import annotations

import logging
import os
import sys

import structlog

_STD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extras(_logger, _name, event_dict):
    record = event_dict.get("_record")
    if record is not None:
        for key, value in vars(record).items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def configure(level: str | None = None, *, json: bool | None = None, stream=None) -> None:
    json = os.environ.get("COFAB_LOG_JSON") == "1" if json is None else json
    renderer = structlog.processors.JSONRenderer() if json else structlog.processors.KeyValueRenderer(
        key_order=["timestamp", "level", "logger", "event"], drop_missing=True)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.processors.TimeStamper(fmt="iso", utc=True), structlog.stdlib.add_log_level,
                           structlog.stdlib.add_logger_name, _extras],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("COFAB_LOG_LEVEL", "INFO")).upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # trimesh logs recoverable oddities (stored normals) as warnings with tracebacks; our own
    # analysis reports what matters about a file.
    logging.getLogger("trimesh").setLevel(logging.ERROR)
