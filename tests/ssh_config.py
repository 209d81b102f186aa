"""What ssh would connect with, for the deployment tests that check a GIT_SSH_COMMAND:
``ssh -G`` prints the settings a command line resolves to, without connecting."""

from __future__ import annotations

import subprocess


def ssh_settings(words: list[str], host: str = "git.example.com") -> dict[str, str]:
    """The settings ``ssh`` (``words``: the command and its options) would use for
    ``host``, lower-case keys as ``ssh -G`` prints them."""
    done = subprocess.run(
        [words[0], "-G", *words[1:], host],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
