"""Structured logs: one JSON object per line when stderr is not a terminal (for journald
and log shippers), plain text when it is. Fields are passed as ``extra={"fields": {...}}``;
secrets never reach here (they are ``Secret`` objects, which format as ``***``). Names
from a repo may hold control characters: JSON escapes them, and so does the text form
(``\x1b``), so a log line never drives a terminal.

Every line written while a pass runs carries that pass's id (``pass``): the loop enters
``pass_context(id)`` for the pass, and the id lives in a context variable, so it follows
the pass into the registry client's worker threads (which run in the submitting
thread's context) and into the delivery sweep that follows it. Lines outside any pass
(start-up, webhooks arriving, the lease) carry none.

Owns the process's log format and level, including for the libraries the daemon runs on
(uvicorn, asyncio): their records go through the same handler, so no line on stderr is
in another format. Must not decide what is logged elsewhere, nor print anything itself.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reconciler.core.printable import escape_controls

LOGGER = "reconciler"
# Libraries whose records go through our handler, at WARNING: their INFO lines (server
# started, shutting down) repeat ours; their warnings and errors (a malformed request, the
# connection cap reached, a failed callback) matter.
ADOPTED = ("uvicorn", "asyncio")
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
PASS_FIELD = "pass"

# The id of the pass the current thread (or task) works for; None outside a pass.
_PASS_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("pass_id", default=None)


def new_pass_id() -> str:
    """A short random id for one pass: 12 hex digits, unique enough to grep for."""
    return secrets.token_hex(6)


def current_pass() -> str | None:
    return _PASS_ID.get()


@contextmanager
def pass_context(pass_id: str | None) -> Iterator[None]:
    """Every line logged inside (in this thread, and in work it submits with its context)
    carries ``pass=<pass_id>``."""
    token = _PASS_ID.set(pass_id)
    try:
        yield
    finally:
        _PASS_ID.reset(token)


def _foreign(record: logging.LogRecord) -> str | None:
    """The logger name of a library's record (shown so its source is clear), else None."""
    name = record.name
    return None if name == LOGGER or name.startswith(LOGGER + ".") else name


def _value(value: Any) -> Any:
    """A field as JSON: numbers, booleans and lists of strings as they are, else text."""
    if isinstance(value, int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value)


class PassIdFilter(logging.Filter):
    """Stamps the current pass id on a record (as ``pass_id``) when it is created in a
    pass: the filter runs in the thread that logs, where the context variable is set."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "pass_id"):
            record.pass_id = _PASS_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "msg": record.getMessage(),
        }
        pass_id = getattr(record, "pass_id", None)
        if pass_id:
            data[PASS_FIELD] = pass_id
        if (name := _foreign(record)) is not None:
            data["logger"] = name
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update({k: _value(v) for k, v in fields.items()})
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, sort_keys=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        extra = ""
        pass_id = getattr(record, "pass_id", None)
        if pass_id:
            extra += f" {PASS_FIELD}={pass_id}"
        if isinstance(fields, dict) and fields:
            extra += " " + " ".join(
                f"{k}={','.join(map(str, v)) if isinstance(v, list | tuple) else v}"
                for k, v in fields.items()
            )
        if (name := _foreign(record)) is not None:
            extra += f" logger={name}"
        line = escape_controls(
            f"{time.strftime('%H:%M:%S')} {record.levelname.lower():<7} {record.getMessage()}{extra}"
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Forward(logging.Handler):
    """Hands a library's record to our logger, to be written by whatever handler that has
    (this one holds no stream, so it never outlives one)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(LOGGER).handle(record)


def configure(fmt: str = "auto", level: str = "info") -> logging.Logger:
    """Our handler on the ``reconciler`` logger (and the adopted libraries'), at ``level``
    (debug, info, warning, error; the libraries never below warning)."""
    logger = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(PassIdFilter())
    logger.handlers[:] = [handler]
    threshold = LEVELS.get(level, logging.INFO)
    logger.setLevel(threshold)
    logger.propagate = False
    for name in ADOPTED:
        adopted = logging.getLogger(name)
        adopted.handlers[:] = [_Forward()]
        adopted.setLevel(max(logging.WARNING, threshold))
        adopted.propagate = False
    return logger


def log(level: int, message: str, **fields: Any) -> None:
    logging.getLogger(LOGGER).log(level, message, extra={"fields": fields})
