"""Structured logs: one JSON object per line when stderr is not a terminal (for journald
and log shippers), plain text when it is. Fields are passed as ``extra={"fields": {...}}``;
secrets never reach here (they are ``Secret`` objects, which format as ``***``). Names
from a repo may hold control characters: JSON escapes them, and so does the text form
(``\x1b``), so a log line never drives a terminal."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from reconciler.core.printable import escape_controls

LOGGER = "reconciler"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
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
        line = escape_controls(
            f"{time.strftime('%H:%M:%S')} {record.levelname.lower():<7} {record.getMessage()}{extra}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure(fmt: str = "auto") -> logging.Logger:
    logger = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def log(level: int, message: str, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, message, extra={"fields": fields})
