"""The daemon with a crash point, for the kill tests: ``reconciler run`` whose checkpoint
SIGKILLs the process when a pass reaches one named step.

Usage::

    python -m testsupport.crashing_daemon --crash-at after-push --marker FILE --config daemon.yaml

The crash happens once: the checkpoint writes the step's name to ``--marker`` just before
the kill, and does nothing when that file already exists, so a daemon started again with
the same arguments runs through. Owns: the checkpoint and this launcher. Must not: change
how the daemon starts; it calls the same start-up as ``reconciler run``, with a checkpoint.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from reconciler.daemon.startup import main as run_daemon
from reconciler.passes.run import Checkpoint

POINTS = (
    "after-write",  # lock and records written in the work tree, not committed
    "after-commit",  # committed locally, not pushed
    "after-push",  # pushed, daemon state not yet updated
    "after-post",  # a delivery POSTed, outbox not yet marked
)


def crash_once(point: str, marker: Path) -> Checkpoint:
    """A checkpoint that SIGKILLs this process at ``point`` unless ``marker`` exists."""

    def checkpoint(step: str) -> None:
        if step != point or marker.exists():
            return
        marker.write_text(step)
        os.kill(os.getpid(), signal.SIGKILL)

    return checkpoint


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testsupport.crashing_daemon",
        description="reconciler run, SIGKILLed once at one step of a pass",
    )
    parser.add_argument("--crash-at", required=True, choices=POINTS, help="the step to die at")
    parser.add_argument(
        "--marker", required=True, type=Path, metavar="FILE", help="written just before dying"
    )
    parser.add_argument(
        "--config", required=True, type=Path, metavar="FILE", help="daemon configuration"
    )
    args = parser.parse_args(argv)
    return run_daemon(args.config, checkpoint=crash_once(args.crash_at, args.marker))


if __name__ == "__main__":
    sys.exit(main())
