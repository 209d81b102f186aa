"""Asking a remote about its branches without a clone (``git ls-remote``): how the daemon
notices a push when no webhook told it, and how it checks at start-up that the repository
and branch it was given exist and let it in."""

from __future__ import annotations

import re

import git

from reconciler.core.errors import ConfigurationError
from reconciler.gitrepo.workspace import GitError, clean_error, command_output, display_url, redact

# Never wait for a password on a terminal nobody watches: fail, and say so.
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}

# git's words for "this will not work until someone changes something": the repository is
# not there, or we may not read it. Everything else (a host that does not answer, a name
# that does not resolve, a timeout) may pass on its own.
_REFUSED = re.compile(
    r"does not appear to be a git repository|repository .*not found|not found|does not exist|"
    r"no such file or directory|permission denied|authentication failed|access denied|"
    r"could not read username|could not read password|terminal prompts disabled|"
    r"returned error: 40[134]|unauthorized|forbidden|not a git repository",
    re.IGNORECASE,
)


def remote_head(url: str, branch: str) -> str | None:
    """The commit ``branch`` points at on ``url``, or None when the branch does not exist.
    Raises GitError (git's own first line of complaint) when the remote cannot be asked."""
    try:
        out = str(git.Git().ls_remote(url, f"refs/heads/{branch}", env=NO_PROMPT))
    except git.GitCommandError as exc:
        raise GitError(f"cannot ask {display_url(url)} for {branch!r}: {clean_error(exc)}") from exc
    return out.split()[0] if out.strip() else None


def check_repository(url: str, branch: str) -> str:
    """The head of ``branch`` on ``url``, asked once at start-up. Raises ConfigurationError
    (git's first line) when the repository does not exist, the branch is missing, or
    access is refused: nothing will change that but the operator. Raises GitError
    (transient) when the remote cannot be reached."""
    try:
        out = str(git.Git().ls_remote(url, f"refs/heads/{branch}", env=NO_PROMPT))
    except git.GitCommandError as exc:
        said = [line.strip() for line in command_output(exc.stderr).splitlines() if line.strip()]
        first = redact(said[0]) if said else str(exc)
        if any(_REFUSED.search(line) for line in said):
            raise ConfigurationError(f"cannot use repo {display_url(url)}: {first}") from exc
        raise GitError(f"cannot reach repo {display_url(url)}: {first}") from exc
    if not out.strip():
        raise ConfigurationError(
            f"cannot use repo {display_url(url)}: branch {branch!r} does not exist there"
        )
    return out.split()[0]
