"""The git shell: a private clone of the GitOps repository in a work directory, synced to
the remote branch, and commits pushed with compare-and-swap semantics (a plain,
non-forced push: git refuses it when the branch moved, and we start over from the new
head).

Never touches a user's own checkout: ``--repo PATH`` is cloned like any URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import git

from reconciler.core.errors import PermanentError, ReconcilerError, TransientError
from reconciler.core.printable import escape_controls

BOT_NAME = "imagestream-reconciler"
BOT_EMAIL = "imagestream-reconciler@users.noreply.local"


class GitError(TransientError):
    """A git operation failed (remote unreachable, bad URL, missing branch, no
    permission); the message says which, in git's own words."""


class PushRejected(TransientError):
    """The branch moved between our fetch and our push."""


class PushRefused(PermanentError):
    """The remote refused the push for a reason other than a race: a hook declined it, the
    branch is protected, we may not write. Pushing the same commit again fails the same
    way, so the message carries git's own lines (``remote: ...`` and ``! [remote
    rejected] main (pre-receive hook declined)``) for the operator to act on."""


@dataclass(frozen=True)
class PushOutcome:
    pushed: bool
    detail: str = ""


def _absolute_if_local(url: str) -> str:
    """A relative local path as an absolute one: git resolves a clone's remote from
    inside the clone, where the relative path no longer points anywhere."""
    if "://" in url or re.match(r"^[^/]+:", url):  # a URL, or scp-like host:path
        return url
    path = Path(url)
    return str(path.resolve()) if not path.is_absolute() and path.exists() else url


def display_url(url: str) -> str:
    """``url`` fit to show: a user and password or token in it become ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


def default_workdir(cache_root: Path, url: str) -> Path:
    url = _absolute_if_local(url)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", url.rstrip("/").rsplit("/", 1)[-1])[:40] or "repo"
    return cache_root / f"{slug}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"


# Lines git prints on the way, not about what went wrong.
_PROGRESS = re.compile(
    r"^(Cloning into |remote: (Enumerating|Counting|Compressing|Total)|Receiving objects|"
    r"Resolving deltas|From |hint: )"
)


def clean_error(exc: git.GitCommandError) -> str:
    """What git said went wrong: its own first line of complaint (``ssh: Could not
    resolve hostname ...``, ``fatal: repository '...' not found``), then the first
    ``fatal:`` line when that is another one (``fatal: Could not read from remote
    repository.``); never the advice git ends with ("and the repository exists.").
    Credentials in a URL are shown as ``***@``."""
    said = [
        line.strip()
        for line in command_output(exc.stderr).splitlines()
        if line.strip() and not _PROGRESS.match(line.strip())
    ]
    if not said:
        return redact(str(exc))
    lines = [said[0]]
    fatal = next((line for line in said if line.startswith(("fatal:", "error:"))), None)
    if fatal is not None and fatal != said[0]:
        lines.append(fatal)
    return redact("; ".join(lines))


def command_output(value: object) -> str:
    """A GitCommandError's ``stdout`` or ``stderr`` as git wrote it (GitPython wraps it
    in ``"\\n  stderr: '...'"``)."""
    text = str(value or "")
    match = re.match(r"\s*(?:stdout|stderr): '(.*)'\s*$", text, re.DOTALL)
    return match.group(1) if match else text.strip()


# Why a ref was not updated, as ``git push --porcelain`` says (``!<TAB>src:dst<TAB>[...]``).
_STATUS_LINE = re.compile(r"^!\t[^\t]*:(?P<ref>[^\t]+)\t(?P<status>.*)$")
# A race: the ref moved under us, or another push held its lock at that moment. Fetching
# and computing again is the answer.
_RACE = re.compile(
    r"^\[rejected\] \((fetch first|non-fast-forward|stale info)\)"
    r"|^\[remote rejected\] .*(cannot lock|failed to lock|incorrect old value|failed to update ref)"
)
# Refused outright, before any ref is considered: permissions and authentication.
_ACCESS_REFUSED = re.compile(
    r"permission denied|permission to .* denied|access denied|not allowed|authentication "
    r"failed|could not read username|terminal prompts disabled|returned error: 40[13]|"
    r"\b403 forbidden|unauthorized",
    re.IGNORECASE,
)


def classify_push_failure(stdout: str, stderr: str, url: str) -> PushOutcome | ReconcilerError:
    """What a failed ``git push --porcelain`` means: a race (a PushOutcome not pushed: fetch
    and try again), a refusal (PushRefused, with git's own lines), or anything else
    (GitError, transient: the remote unreachable, say)."""
    statuses = [m for m in map(_STATUS_LINE.match, stdout.splitlines()) if m is not None]
    said = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    remote_lines = [line for line in said if line.startswith("remote:") and line[7:].strip()]
    if statuses and all(_RACE.search(m["status"]) for m in statuses):
        return PushOutcome(False, "; ".join(m["status"] for m in statuses))
    refused = [m for m in statuses if m["status"].startswith("[remote rejected]")]
    access = [x for x in said if not x.startswith("remote:") and _ACCESS_REFUSED.search(x)]
    if refused or access:
        # As git shows them without --porcelain: "! [remote rejected] main (reason)".
        shown = [_rejection_line(m["ref"], m["status"]) for m in refused]
        detail = redact("\n".join(dict.fromkeys([*remote_lines, *shown, *access])))
        return PushRefused(f"the remote {display_url(url)} refused the push:\n{detail}")
    last = said[-1:] or [stdout.strip()]
    detail = redact("\n".join(dict.fromkeys([*remote_lines, *last])))
    return GitError(f"cannot push to {display_url(url)}: {detail}")


def redact(text: str) -> str:
    """``text`` with any ``user:password@`` or token in a URL shown as ``***@``."""
    return re.sub(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s'\"]+@", r"\1***@", text, flags=re.IGNORECASE)


def _rejection_line(ref: str, status: str) -> str:
    flag, sep, reason = status.partition("] ")
    branch = ref.removeprefix("refs/heads/")
    return f"! {flag}] {branch} {reason}" if sep else f"! {status} {branch}"


class Workspace:
    """A clone of ``url`` at ``path``, tracking ``branch``."""

    def __init__(self, url: str, branch: str, path: Path, review_branch: str | None = None) -> None:
        self.url = _absolute_if_local(url)
        self.branch = branch
        self.path = path
        # Pull-request mode: commits go to this branch, rebuilt on top of ``branch``.
        self.review_branch = review_branch
        self.review_head: str | None = None
        self.tracked_head = ""
        self._repo: git.Repo | None = None

    @property
    def repo(self) -> git.Repo:
        if self._repo is None:
            raise GitError("workspace not synced yet")
        return self._repo

    def close(self) -> None:
        """End the git processes GitPython keeps running for the clone (``cat-file``):
        a command calls this when it is done with the workspace."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def sync(self, _fresh: bool = False) -> str:
        """Clone or fetch, then put the work tree exactly at the remote branch's head.
        Returns the head commit. Anything left in the work tree is ours and is dropped."""
        try:
            if (self.path / ".git").is_dir():
                repo = git.Repo(self.path)
                if repo.remotes.origin.url != self.url:
                    repo.remotes.origin.set_url(self.url)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                repo = git.Repo.clone_from(self.url, self.path, no_checkout=True)
            repo.git.fetch(
                "--prune", "origin", f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}"
            )
        except git.GitCommandError as exc:
            raise GitError(
                f"cannot fetch branch {self.branch!r} from {display_url(self.url)}: "
                f"{clean_error(exc)}"
            ) from exc
        except git.exc.NoSuchPathError as exc:
            raise GitError(f"repository {display_url(self.url)} does not exist") from exc
        _check_out_blobs_as_they_are(repo)
        remote_ref = f"origin/{self.branch}"
        try:
            self._reset_to(repo, remote_ref)
        except git.GitCommandError:
            # Our own clone is in a state git refuses (a lock file left by a process
            # killed mid-command, a corrupt index): it holds nothing of value, so make
            # it usable again, and as a last resort clone afresh.
            for stale in ("index.lock", "HEAD.lock", f"refs/heads/{self.branch}.lock"):
                (self.path / ".git" / stale).unlink(missing_ok=True)
            try:
                self._reset_to(repo, remote_ref)
            except git.GitCommandError as exc:
                if _fresh:
                    raise GitError(f"cannot check out {remote_ref}: {clean_error(exc)}") from exc
                shutil.rmtree(self.path)
                self._repo = None
                return self.sync(_fresh=True)
        with repo.config_writer() as config:
            config.set_value("user", "name", BOT_NAME)
            config.set_value("user", "email", BOT_EMAIL)
        if self._repo is not None and self._repo is not repo:
            self._repo.close()
        self._repo = repo
        self.tracked_head = str(repo.head.commit.hexsha)
        self.review_head = self._fetch_review() if self.review_branch else None
        return self.tracked_head

    @staticmethod
    def _reset_to(repo: git.Repo, remote_ref: str) -> None:
        branch = remote_ref.split("/", 1)[1]
        repo.git.checkout("-B", branch, remote_ref, "--force")
        repo.git.reset("--hard", remote_ref)
        repo.git.clean("-fdx")

    def _fetch_review(self) -> str | None:
        assert self.review_branch is not None
        repo = self.repo
        ref = f"refs/heads/{self.review_branch}"
        try:
            listed = str(repo.git.ls_remote("origin", ref)).split()
            if not listed:
                return None
            repo.git.fetch("origin", f"+{ref}:refs/remotes/origin/{self.review_branch}")
        except git.GitCommandError as exc:
            raise GitError(
                f"cannot fetch review branch {self.review_branch!r}: {clean_error(exc)}"
            ) from exc
        return listed[0]

    def overlay_review(self, files: list[str], directories: list[str]) -> list[str]:
        """Bring the review branch's derived files into the work tree (not the index):
        ``files`` wholesale, and from ``directories`` only what the tracked branch lacks,
        so that what happened on the tracked branch (an acknowledged record) wins.
        Returns the paths brought over."""
        if not self.review_head:
            return []
        repo = self.repo
        listed = str(
            repo.git.ls_tree("-r", "--name-only", self.review_head, "--", *files, *directories)
        ).splitlines()
        tracked = set(
            str(repo.git.ls_tree("-r", "--name-only", "HEAD", "--", *directories)).splitlines()
        )
        wanted = [p for p in listed if p in files or p not in tracked]
        if wanted:
            repo.git.checkout(self.review_head, "--", *wanted)
            repo.git.reset("-q", "HEAD", "--", *wanted)  # leave the index at the tracked head
        return wanted

    def show(self, rev: str, path: str) -> bytes | None:
        try:
            return bytes(self.repo.git.show(f"{rev}:{path}", stdout_as_string=False))
        except git.GitCommandError:
            return None

    def paths_at(self, rev: str, directory: str) -> set[str]:
        return set(
            str(self.repo.git.ls_tree("-r", "--name-only", rev, "--", directory)).splitlines()
        )

    def review_is_current(self, commit: str) -> bool:
        """The review branch already holds this content on top of the tracked head."""
        if not self.review_head:
            return False
        repo = self.repo
        same_tree = repo.commit(commit).tree.hexsha == repo.commit(self.review_head).tree.hexsha
        parents = [p.hexsha for p in repo.commit(self.review_head).parents]
        return same_tree and parents == [self.tracked_head]

    def delete_review_branch(self) -> PushOutcome:
        """The tracked branch has everything (the review was merged): drop the branch."""
        if not self.review_branch or not self.review_head:
            return PushOutcome(True)
        return self._push(f":refs/heads/{self.review_branch}", self.review_head)

    def head(self) -> str:
        return str(self.repo.head.commit.hexsha)

    def commit(self, message: str, paths: list[str]) -> str | None:
        """Stage exactly ``paths`` and commit if that changed anything. Paths and message
        go through files, not the command line: a pass that opens thousands of trigger
        records would overflow the argument list. The paths are staged with the plumbing
        (``git update-index --add --remove``: each path as given, added, updated or
        removed), not as pathspecs: ``git add`` matched every index entry against every
        pathspec (9 s for the 25,001 files of a 50k-tag first pass; 0.3 s now)."""
        repo = self.repo
        if not paths:
            return None
        git_dir = Path(repo.git_dir)
        pathspec = git_dir / "RECONCILER_PATHS"
        message_file = git_dir / "RECONCILER_MSG"
        # A directory (pull-request mode names triggers/ whole) is a pathspec for git add.
        directories = [p for p in paths if (self.path / p).is_dir()]
        files = [p for p in paths if p not in directories]
        pathspec.write_bytes(b"".join(os.fsencode(p) + b"\0" for p in files))
        try:
            if directories:
                repo.git.add("--all", "--", *directories)
            return self._commit(repo, pathspec, message_file, message)
        except git.GitCommandError as exc:
            raise GitError(f"cannot commit in the work clone: {clean_error(exc)}") from exc

    def _commit(
        self, repo: git.Repo, pathspec: Path, message_file: Path, message: str
    ) -> str | None:
        with pathspec.open("rb") as listed:
            repo.git.update_index("--add", "--remove", "-z", "--stdin", istream=listed)
        # Whether anything is staged, asked of git itself: GitPython's index.diff reads
        # the whole index and HEAD's tree in Python (52 s of a 50k-tag first pass).
        status, _, stderr = repo.git.diff(
            "--cached", "--quiet", with_extended_output=True, with_exceptions=False
        )
        if status == 0:
            return None
        if status != 1:
            raise GitError(f"cannot commit in the work clone: {str(stderr).strip()}")
        # Whatever a caller hands in, git gets a message it accepts: no NUL, valid UTF-8.
        message_file.write_bytes(escape_controls(message, keep="\n\t").encode("utf-8"))
        repo.git.commit(
            "-F",
            str(message_file),
            "--no-verify",
            "--no-gpg-sign",
            env={
                "GIT_AUTHOR_NAME": BOT_NAME,
                "GIT_AUTHOR_EMAIL": BOT_EMAIL,
                "GIT_COMMITTER_NAME": BOT_NAME,
                "GIT_COMMITTER_EMAIL": BOT_EMAIL,
            },
        )
        return self.head()

    def push(self) -> PushOutcome:
        """Push HEAD to the branch without force: a moved branch is a rejection, not an
        overwrite. In pull-request mode, HEAD replaces the review branch, but only if the
        review branch is still where we fetched it (``--force-with-lease``)."""
        if self.review_branch:
            return self._push(f"HEAD:refs/heads/{self.review_branch}", self.review_head or "")
        return self._push(f"HEAD:refs/heads/{self.branch}", None)

    def _push(self, refspec: str, lease: str | None) -> PushOutcome:
        args = ["--porcelain"]
        if lease is not None:
            target = refspec.split(":", 1)[1]
            args.append(f"--force-with-lease={target}:{lease}")
        try:
            self.repo.git.push(*args, "origin", refspec)
        except git.GitCommandError as exc:
            outcome = classify_push_failure(
                command_output(exc.stdout), command_output(exc.stderr), self.url
            )
            if isinstance(outcome, PushOutcome):
                return outcome
            raise outcome from exc
        return PushOutcome(True)

    def tree_blobs(self) -> dict[str, str]:
        """What the work tree holds right after :meth:`sync`, as git says it: each regular
        file of the head commit's tree by repo path, with its blob id. Symlinks and
        submodules are left out (callers read those from disk, as anything unlisted)."""
        try:
            listed = subprocess.run(
                ["git", "ls-tree", "-r", "-z", "--full-tree", "HEAD"],
                cwd=self.path,
                capture_output=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise GitError(f"cannot list the work clone's files: {exc}") from exc
        blobs: dict[str, str] = {}
        for entry in listed.split(b"\0"):
            # "<mode> SP <type> SP <object> TAB <path>"
            info, _, path = entry.partition(b"\t")
            if info.startswith((b"100644 blob ", b"100755 blob ")):
                blobs[os.fsdecode(path)] = info[12:].decode()
        return blobs


# In our clone, every file's bytes are its blob's bytes: the content cache is keyed by
# blob id, and a repo's .gitattributes (eol, ident, working-tree-encoding, filters)
# would make the checked-out file differ from the blob the key names. .git/info/attributes
# outranks every .gitattributes; core.autocrlf is off whatever the machine's config says.
_BLOB_ATTRIBUTES = "* -text -ident -filter -working-tree-encoding\n"


def _check_out_blobs_as_they_are(repo: git.Repo) -> None:
    info = Path(repo.git_dir) / "info"
    info.mkdir(exist_ok=True)
    attributes = info / "attributes"
    if not attributes.is_file() or attributes.read_text() != _BLOB_ATTRIBUTES:
        attributes.write_text(_BLOB_ATTRIBUTES)
    with repo.config_writer() as config:
        config.set_value("core", "autocrlf", "false")
