"""Git in the user's own checkout, for the verbs' ``--commit``: commit exactly the files a
verb wrote, with the user's own git identity (not the bot's), and nothing else of theirs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from reconciler.core.errors import PermanentError
from reconciler.core.printable import escape_controls


def commit_paths(root: Path, paths: Sequence[str], message: str) -> str:
    """Commit ``paths`` (only those) in the checkout at ``root``; returns the new commit.
    Raises PermanentError with git's own message when git refuses."""
    if not paths:
        raise PermanentError("nothing to commit")

    def run(*argv: str) -> str:
        proc = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise PermanentError(
                f"git {argv[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}"
            )
        return proc.stdout.strip()

    run("add", "--", *paths)
    # A NUL cannot even be passed to git; a name from the repo may hold one.
    run("commit", "-q", "-m", escape_controls(message, keep="\n\t"), "--", *paths)
    return run("rev-parse", "HEAD")
