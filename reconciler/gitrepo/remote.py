"""Asking a remote about its branches without a clone (``git ls-remote``): how the daemon
notices a push when no webhook told it."""

from __future__ import annotations

import git

from reconciler.gitrepo.workspace import GitError, clean_error, display_url


def remote_head(url: str, branch: str) -> str | None:
    """The commit ``branch`` points at on ``url``, or None when the branch does not exist.
    Raises GitError (git's own first line of complaint) when the remote cannot be asked."""
    try:
        out = str(git.Git().ls_remote(url, f"refs/heads/{branch}"))
    except git.GitCommandError as exc:
        raise GitError(f"cannot ask {display_url(url)} for {branch!r}: {clean_error(exc)}") from exc
    return out.split()[0] if out.strip() else None
