"""The lease ref: one small commit under ``refs/reconciler/leases/<branch>`` on the
remote, whose message is the lease record, read with ``ls-remote`` (and a fetch when it
changed) and replaced only by compare-and-swap (``push --force-with-lease`` against the
version last read). Each version is a commit without a parent, so the ref never grows a
history.

Works in a scratch bare repository of its own, never in the pass's work clone: the lease
is renewed from another thread while a pass fetches, resets and commits there.

Must not decide anything about the lease (``reconciler.core.leases`` does) nor read the
branch's files.
"""

from __future__ import annotations

import re
from pathlib import Path

import git

from reconciler.core.errors import PermanentError
from reconciler.gitrepo.workspace import (
    BOT_EMAIL,
    BOT_NAME,
    GitError,
    _absolute_if_local,
    clean_error,
    display_url,
)

LEASE_REFS = "refs/reconciler/leases/"
_SEEN = "refs/lease/seen"
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's empty tree, in every repo
# Porcelain lines for a compare-and-swap that lost: someone else wrote first.
_LOST = re.compile(
    r"\[rejected\].*(stale info|fetch first|non-fast-forward)"
    r"|\[remote rejected\].*(lock|failed to update|but expected|is at)"
)


class LeaseRefused(PermanentError):
    """The remote refuses the lease ref (a hook, a protected namespace, a server that
    denies forced updates): no replica can lead until that changes."""


class LeaseRef:
    """The lease of ``branch`` on ``url``; ``scratch`` is a directory this replica owns."""

    def __init__(self, url: str, branch: str, scratch: Path) -> None:
        self.url = _absolute_if_local(url)
        self.ref = LEASE_REFS + branch
        self.scratch = scratch
        self._git: git.Git | None = None
        self._known: tuple[str, str] | None = None  # (version, message) last read or written

    def _repo(self) -> git.Git:
        if self._git is None:
            if not (self.scratch / "HEAD").is_file():
                self.scratch.mkdir(parents=True, exist_ok=True)
                git.Git(str(self.scratch)).init("--bare", "-q")
            self._git = git.Git(str(self.scratch))
        return self._git

    def read(self) -> tuple[str, str] | None:
        """(version, message) of the lease on the remote; None when there is none. One
        round trip when the version is the one last seen, two when it changed."""
        repo = self._repo()
        try:
            listed = str(repo.ls_remote(self.url, self.ref)).split()
            if not listed:
                return None
            version = listed[0]
            if self._known is not None and self._known[0] == version:
                return self._known
            repo.fetch("-q", "--no-tags", self.url, f"+{self.ref}:{_SEEN}")
            version = str(repo.rev_parse(_SEEN))
            message = str(repo.log("-1", "--format=%B", version))
        except git.GitCommandError as exc:
            raise GitError(
                f"cannot read the lease {self.ref} on {display_url(self.url)}: {clean_error(exc)}"
            ) from exc
        self._known = (version, message)
        return self._known

    def replace(self, message: str, expected: str | None) -> str | None:
        """Write a new version holding ``message`` in place of ``expected`` (None: where
        there is no lease yet); returns it, or None when the remote's lease is not
        ``expected`` any more (another replica wrote first). Raises LeaseRefused when the
        remote refuses the ref itself, GitError when it cannot be reached."""
        repo = self._repo()
        env = {
            "GIT_AUTHOR_NAME": BOT_NAME,
            "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME,
            "GIT_COMMITTER_EMAIL": BOT_EMAIL,
        }
        try:
            # The empty tree, stored: git knows its id everywhere, but a push sends objects.
            repo.hash_object("-t", "tree", "-w", "--stdin")  # stdin is /dev/null
            version = str(repo.commit_tree(_EMPTY_TREE, "-m", message, env=env))
        except git.GitCommandError as exc:
            raise GitError(f"cannot write a lease commit: {clean_error(exc)}") from exc
        lease = f"--force-with-lease={self.ref}:{expected or ''}"
        try:
            repo.push("--porcelain", lease, self.url, f"{version}:{self.ref}")
        except git.GitCommandError as exc:
            text = f"{exc.stdout or ''}\n{exc.stderr or ''}"
            if _LOST.search(text):
                self._known = None
                return None
            if "[remote rejected]" in text or "[rejected]" in text:
                raise LeaseRefused(
                    f"{display_url(self.url)} refuses the lease ref {self.ref}: {clean_error(exc)}"
                ) from exc
            raise GitError(
                f"cannot push the lease to {display_url(self.url)}: {clean_error(exc)}"
            ) from exc
        self._known = (version, message)
        return version
