"""Structured logs: one JSON object per line when stderr is not a terminal (for journald
and log shippers), plain text when it is. Fields are passed as ``extra={"fields": {...}}``;
secrets never reach here (they are ``Secret`` objects, which format as ``***``).

Owns the process's log format, including for the libraries the daemon runs on (uvicorn,
asyncio): their records go through the same handler, so no line on stderr is in another
format. Must not decide what is logged elsewhere, nor print anything itself.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER = "reconciler"
# Libraries whose records go through our handler, at WARNING: their INFO lines (server
# started, shutting down) repeat ours; their warnings and errors (a malformed request, the
# connection cap reached, a failed callback) matter.
ADOPTED = ("uvicorn", "asyncio")


def _foreign(record: logging.LogRecord) -> str | None:
    """The logger name of a library's record (shown so its source is clear), else None."""
    name = record.name
    return None if name == LOGGER or name.startswith(LOGGER + ".") else name


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        if (name := _foreign(record)) is not None:
            data["logger"] = name
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(
                {k: v if isinstance(v, int | float | bool) else str(v) for k, v in fields.items()}
            )
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, sort_keys=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra = ""
        if isinstance(fields, dict) and fields:
            extra = " " + " ".join(f"{k}={v}" for k, v in fields.items())
        if (name := _foreign(record)) is not None:
            extra += f" logger={name}"
        line = f"{time.strftime('%H:%M:%S')} {record.levelname.lower():<7} {record.getMessage()}{extra}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Forward(logging.Handler):
    """Hands a library's record to our logger, to be written by whatever handler that has
    (this one holds no stream, so it never outlives one)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(LOGGER).handle(record)


def configure(fmt: str = "auto") -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    for name in ADOPTED:
        adopted = logging.getLogger(name)
        adopted.handlers[:] = [_Forward()]
        adopted.setLevel(logging.WARNING)
        adopted.propagate = False
    return logger


def log(level: int, message: str, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, message, extra={"fields": fields})
