"""Real git repositories for tests: a bare repository on disk as the remote, filled from
a directory of manifests, and a helper to commit to it as "someone else".

Fixtures: ``make_remote`` (function): ``make_remote(files: dict[str, str]) -> GitRemote``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class GitRemote:
    """A bare repo plus a clone of it that plays a human collaborator."""

    bare: Path
    human: Path

    @property
    def url(self) -> str:
        return str(self.bare)

    def commit(self, files: Mapping[str, str | None], message: str = "human change") -> str:
        """Pull, write (None deletes) and push ``files`` as a human would."""
        git("pull", "-q", "--rebase", "origin", "main", cwd=self.human)
        for name, text in files.items():
            path = self.human / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.human)
        git("commit", "-qm", message, cwd=self.human)
        # A reconciler may push between our pull and our push, as on a real remote.
        for _ in range(10):
            try:
                git("push", "-q", "origin", "HEAD:main", cwd=self.human)
                break
            except subprocess.CalledProcessError:
                git("pull", "-q", "--rebase", "origin", "main", cwd=self.human)
        else:
            raise AssertionError("could not push the human's commit")
        return self.head()

    def head(self) -> str:
        return git("rev-parse", "main", cwd=self.bare)

    def commit_count(self) -> int:
        return int(git("rev-list", "--count", "main", cwd=self.bare))

    def show(self, path: str, rev: str = "main") -> str:
        return git("show", f"{rev}:{path}", cwd=self.bare)

    def files(self, rev: str = "main") -> list[str]:
        return git("ls-tree", "-r", "--name-only", rev, cwd=self.bare).splitlines()

    def log(self, rev: str = "main") -> list[str]:
        return git("log", "--format=%an|%s", rev, cwd=self.bare).splitlines()


@pytest.fixture
def make_remote(tmp_path: Path) -> Callable[[Mapping[str, str]], GitRemote]:
    def make(files: Mapping[str, str]) -> GitRemote:
        bare = tmp_path / "remote.git"
        human = tmp_path / "human"
        git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
        git("clone", "-q", str(bare), str(human), cwd=tmp_path)
        git("config", "user.name", "Human", cwd=human)
        git("config", "user.email", "human@example.com", cwd=human)
        git("checkout", "-q", "-b", "main", cwd=human)
        for name, text in files.items():
            path = human / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=human)
        git("commit", "-qm", "initial manifests", cwd=human)
        git("push", "-q", "origin", "main", cwd=human)
        return GitRemote(bare, human)

    return make
