"""Crash points for the kill tests: when ``RECONCILER_CRASH_AT`` names a point, the
process SIGKILLs itself on reaching it, once (``RECONCILER_CRASH_MARKER`` names a file
created just before, so the restarted process runs through). Unset, each call is one
dictionary lookup. Only tests set these variables."""

from __future__ import annotations

import os
import signal
from pathlib import Path

POINTS = (
    "after-write",  # lock and records written in the work tree, not committed
    "after-commit",  # committed locally, not pushed
    "after-push",  # pushed, daemon state not yet updated
    "after-post",  # a delivery POSTed, outbox not yet marked
)


def crash_point(name: str) -> None:
    if os.environ.get("RECONCILER_CRASH_AT") != name:
        return
    marker = os.environ.get("RECONCILER_CRASH_MARKER")
    if marker:
        path = Path(marker)
        if path.exists():
            return
        path.write_text(name)
    os.kill(os.getpid(), signal.SIGKILL)
