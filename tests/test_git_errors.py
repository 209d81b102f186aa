"""A git failure keeps git's own words: the first line it complained with (``ssh: Could
not resolve hostname ...``) and its ``fatal:`` line, never the advice it ends with
("Please make sure you have the correct access rights / and the repository exists.")."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import git
import pytest
from git_fixtures import GitRemote

from reconciler.cli import main as cli
from reconciler.core.errors import EXIT_CANNOT_RUN
from reconciler.gitrepo.workspace import GitError, Workspace, clean_error


def test_clean_error_keeps_the_first_line_and_the_fatal_one() -> None:
    exc = git.GitCommandError(
        ["git", "clone"],
        128,
        stderr=(
            "Cloning into '/tmp/x'...\n"
            "ssh: Could not resolve hostname git.example.invalid: Name or service not known\n"
            "fatal: Could not read from remote repository.\n\n"
            "Please make sure you have the correct access rights\n"
            "and the repository exists.\n"
        ),
    )
    assert clean_error(exc) == (
        "ssh: Could not resolve hostname git.example.invalid: Name or service not known; "
        "fatal: Could not read from remote repository."
    )


def test_clean_error_one_line_and_credentials() -> None:
    exc = git.GitCommandError(
        ["git", "fetch"],
        128,
        stderr="fatal: repository 'https://bot:s3cret@git.example/o/r.git/' not found\n",
    )
    assert clean_error(exc) == "fatal: repository 'https://***@git.example/o/r.git/' not found"


@pytest.mark.integration
def test_unresolvable_ssh_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real clone over ssh from a host name that does not resolve."""
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    workspace = Workspace("git@host.invalid:ops/images.git", "main", tmp_path / "work")
    with pytest.raises(GitError) as caught:
        workspace.sync()
    message = str(caught.value)
    assert "ssh: Could not resolve hostname host.invalid" in message, message
    assert "fatal: Could not read from remote repository." in message
    assert "repository exists" not in message

    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    code = cli.main(
        [
            "reconcile",
            "--repo",
            "git@host.invalid:ops/images.git",
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        io.StringIO(),
    )
    assert code == EXIT_CANNOT_RUN
    assert "ssh: Could not resolve hostname host.invalid" in err.getvalue()


def test_the_work_clone_holds_each_blobs_bytes_whatever_gitattributes_say(
    make_remote: Callable[[Mapping[str, str]], GitRemote], tmp_path: Path
) -> None:
    # The content cache is keyed by blob id: a checked-out file that differs from its
    # blob (eol=crlf, ident) would be judged by the cache as the blob, and fresh as the file.
    remote = make_remote(
        {
            ".gitattributes": "*.yaml text eol=crlf ident\n",
            "is.yaml": "# $Id$\nkind: ImageStream\n",
        }
    )
    workspace = Workspace(remote.url, "main", tmp_path / "work")
    workspace.sync()
    blob = subprocess.run(
        ["git", "cat-file", "blob", "main:is.yaml"],
        cwd=remote.bare,
        check=True,
        capture_output=True,
    ).stdout
    assert (tmp_path / "work" / "is.yaml").read_bytes() == blob == b"# $Id$\nkind: ImageStream\n"
