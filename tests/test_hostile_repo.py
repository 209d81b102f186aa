"""A repository author can hurt us only as far as manifests go (DESIGN.md, "Whom we
trust"): symlinks that leave the work tree are refused, the derived files are never
written through a symlink, and a control character in a name never stops a pass nor
reaches a terminal or a commit message raw. Real git remotes and a real registry."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from git_fixtures import GitRemote, git
from test_reconcile_integration import NS, deployment, run, stream

from reconciler.cli import main as cli
from reconciler.core.errors import PermanentError
from reconciler.core.lockfile import parse_lock
from reconciler.core.manifests import ObjectKey
from reconciler.core.streams import TagRef
from reconciler.core.triggers import TriggerRecord
from reconciler.files import lockstore, worktree
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
SECRET = "topsecret"  # what the outside file holds; must never show up anywhere

OUTSIDE_STREAM = f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: {SECRET}
  namespace: {NS}
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {SECRET}.example.com/{SECRET}:latest
      importPolicy:
        bogus{SECRET}: true
"""


def commit_links(remote: GitRemote, links: Mapping[str, str], remove: tuple[str, ...] = ()) -> None:
    """Commit symlinks ``name -> target`` as the human collaborator."""
    git("pull", "-q", "--rebase", "origin", "main", cwd=remote.human)
    for name in remove:
        git("rm", "-q", "-r", name, cwd=remote.human)
    for name, target in links.items():
        path = remote.human / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    git("add", "-A", cwd=remote.human)
    git("commit", "-qm", "symlinks", cwd=remote.human)
    git("push", "-q", "origin", "HEAD:main", cwd=remote.human)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory outside every work tree, holding a file the repo must not reach."""
    directory = tmp_path / "outside"
    (directory / "dir").mkdir(parents=True)
    (directory / "stream.yaml").write_text(OUTSIDE_STREAM)
    return directory


def listing(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


def test_a_lockfile_symlink_leaving_the_tree_fails_the_pass_and_writes_nothing(
    local_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    unique_repo: str,
    outside: Path,
) -> None:
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="link-a")
    remote = make_remote(
        {"a.yaml": stream("a", {"latest": f"{local_registry.host}/{unique_repo}/a:latest"})}
    )
    commit_links(remote, {"images.lock.yaml": str(outside / "lock.yaml")})
    before, head = listing(outside), remote.head()

    with pytest.raises(PermanentError, match=r"images\.lock\.yaml: is a symlink"):
        run(remote, tmp_path)
    assert listing(outside) == before  # no outside/lock.yaml
    assert remote.head() == head


def test_a_lockfile_symlink_inside_the_tree_is_refused_too(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    # Writing through it would overwrite another file of the repo.
    original = stream("a", {"latest": "127.0.0.1:9/a:latest"})
    remote = make_remote({"a.yaml": original})
    commit_links(remote, {"images.lock.yaml": "a.yaml"})

    with pytest.raises(PermanentError, match=r"images\.lock\.yaml: is a symlink"):
        run(remote, tmp_path)
    assert (tmp_path / "work" / "a.yaml").read_text() == original


def test_a_triggers_symlink_leaving_the_tree_fails_the_pass_and_writes_nothing(
    local_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    unique_repo: str,
    outside: Path,
) -> None:
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="link-t")
    remote = make_remote(
        {
            "a.yaml": stream("a", {"latest": f"{local_registry.host}/{unique_repo}/a:latest"}),
            "web.yaml": deployment("web", "a:latest"),
        }
    )
    commit_links(remote, {"triggers": str(outside / "dir")})
    head = remote.head()

    with pytest.raises(PermanentError, match=r"triggers: is a symlink"):
        run(remote, tmp_path)
    assert listing(outside / "dir") == []  # no record written there
    assert not (tmp_path / "work" / "images.lock.yaml").exists()  # nor the lock
    assert remote.head() == head


def test_derived_writes_check_every_path_before_writing_any(tmp_path: Path) -> None:
    (tmp_path / "triggers").mkdir()
    record = TriggerRecord(
        id="dc-web-0123456789ab",
        type="ImageChange",
        consumer=ObjectKey("DeploymentConfig", NS, "web"),
        tag=TagRef(NS, "a", "latest"),
        from_digest=None,
        to_digest="sha256:" + "0" * 64,
        image="x@sha256:" + "0" * 64,
        automatic=True,
        container_names=("app",),
        created="2026-01-01T00:00:00Z",
    )
    (tmp_path / "elsewhere.yaml").write_text("keep: me\n")
    os.symlink("../elsewhere.yaml", tmp_path / "triggers" / record.filename)

    with pytest.raises(PermanentError, match=rf"triggers/{record.filename}: is a symlink"):
        lockstore.write_derived(tmp_path, b"lock\n", [record])
    assert not (tmp_path / "images.lock.yaml").exists()  # checked first, written never
    assert (tmp_path / "elsewhere.yaml").read_text() == "keep: me\n"


def test_a_manifest_symlink_leaving_the_tree_is_refused_and_the_rest_goes_on(
    local_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    unique_repo: str,
    outside: Path,
) -> None:
    host = local_registry.host
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="sym-a")
    push_image(local_registry.url, f"{unique_repo}/b", "latest", seed="sym-b")
    a_source, b_source = f"{host}/{unique_repo}/a:latest", f"{host}/{unique_repo}/b:latest"
    remote = make_remote(
        {
            "imagestreams/a.yaml": stream("a", {"latest": a_source}),
            "imagestreams/b.yaml": stream("b", {"latest": b_source}),
        }
    )
    run(remote, tmp_path)
    kept = parse_lock(remote.show("images.lock.yaml")).get(TagRef(NS, "a", "latest"))
    assert kept is not None

    # a.yaml becomes a symlink to a file outside; b gets a new tag.
    remote.commit({"imagestreams/b.yaml": stream("b", {"latest": b_source, "v2": b_source})})
    commit_links(
        remote,
        {"imagestreams/a.yaml": str(outside / "stream.yaml")},
        remove=("imagestreams/a.yaml",),
    )
    result = run(remote, tmp_path)

    problems = [v.text() for v in result.plan.report.errors]
    assert problems == [
        "imagestreams/a.yaml:1:1: symlink to a path outside the repository: refused"
    ]
    lock = parse_lock(remote.show("images.lock.yaml"))
    assert lock.get(TagRef(NS, "a", "latest")) == kept  # unreadable file: entries kept
    assert lock.get(TagRef(NS, "b", "v2")) is not None  # the rest reconciled
    message = git("log", "-1", "--format=%B", "main", cwd=remote.bare)
    assert SECRET not in remote.show("images.lock.yaml") and SECRET not in message


def validate(root: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    cwd = Path.cwd()
    os.chdir(root)
    try:
        code = cli.main(["validate", *args], out)
    finally:
        os.chdir(cwd)
    return code, out.getvalue()


def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "imagestreams").mkdir(parents=True)
    (root / ".reconciler.yaml").write_text(f"defaultNamespace: {NS}\n")
    (root / "imagestreams" / "good.yaml").write_text(stream("good", {"latest": "quay.io/a/b:1"}))
    return root


@pytest.mark.parametrize(
    "args",
    [(), ("imagestreams/evil.yaml",), ("imagestreams/",), ("-o", "json")],
    ids=["repo", "file", "dir", "json"],
)
def test_validate_never_reads_through_a_symlink_leaving_the_repo(
    tmp_path: Path, outside: Path, args: tuple[str, ...]
) -> None:
    root = checkout(tmp_path)
    os.symlink(outside / "stream.yaml", root / "imagestreams" / "evil.yaml")
    code, text = validate(root, *args)
    assert code == 1
    assert SECRET not in text
    assert "imagestreams/evil.yaml" in text and "symlink to a path outside the repository" in text


def test_validate_refuses_a_named_directory_symlink_leaving_the_repo(
    tmp_path: Path, outside: Path
) -> None:
    root = checkout(tmp_path)
    os.symlink(outside, root / "linked")
    code, text = validate(root, "linked/stream.yaml")
    assert code == 1
    assert SECRET not in text
    assert "linked/stream.yaml:1:1: symlink to a path outside the repository: refused" in text


def test_a_repo_config_symlink_leaving_the_repo_is_refused(tmp_path: Path, outside: Path) -> None:
    root = checkout(tmp_path)
    (outside / "config.yaml").write_text(f"defaultNamespace: {SECRET}\nbogus{SECRET}: 1\n")
    (root / ".reconciler.yaml").unlink()
    os.symlink(outside / "config.yaml", root / ".reconciler.yaml")
    code, text = validate(root)
    assert code == 1
    assert SECRET not in text
    assert ".reconciler.yaml:1:1: symlink to a path outside the repository: refused" in text


def test_a_symlink_inside_the_repo_is_read(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    os.symlink("good.yaml", root / "imagestreams" / "alias.yaml")
    _, text = validate(root)
    assert "symlink" not in text
    assert "duplicate" in text  # both names hold the same stream: read twice, as written


def test_an_edit_never_writes_through_a_directory_symlink_leaving_the_repo(
    tmp_path: Path, outside: Path
) -> None:
    root = checkout(tmp_path)
    (root / "imagestreams" / "good.yaml").unlink()
    (root / "imagestreams").rmdir()
    os.symlink(outside / "dir", root / "imagestreams")
    err = io.StringIO()
    code = cli.main(["tag", "--repo", str(root), "quay.io/a/b:1", "fresh:1", "--reference"], err)
    assert code == 2
    assert listing(outside / "dir") == []


def test_worktree_reads_refuse_what_leaves_and_keep_what_stays(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "in.yaml").write_text("a: 1\n")
    (tmp_path / "out.yaml").write_text("b: 2\n")
    os.symlink("in.yaml", root / "same.yaml")
    os.symlink("../out.yaml", root / "gone.yaml")
    os.symlink("loop.yaml", root / "loop.yaml")
    assert worktree.read_inside(root, root / "same.yaml") == b"a: 1\n"
    with pytest.raises(worktree.RefusedPath, match="outside the repository"):
        worktree.read_inside(root, root / "gone.yaml")
    with pytest.raises(OSError):
        worktree.read_inside(root, root / "loop.yaml")
    with pytest.raises(worktree.FileTooLarge):
        worktree.read_inside(root, root / "in.yaml", max_bytes=3)


def test_hostile_files_are_one_violation_each_and_the_pass_goes_on(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="hostile-a")
    remote = make_remote(
        {
            "a.yaml": stream("a", {"latest": f"{local_registry.host}/{unique_repo}/a:latest"}),
            "deep.yaml": "[" * 10_000 + "]" * 10_000 + "\n",
            "merges.yaml": "b: &b {k: v}\n" + "".join(f"y{i}: {{<<: *b}}\n" for i in range(2_500)),
            "bell.yaml": "kind: ImageStream\nmetadata:\n  name: a\x07b\n",
        }
    )
    result = run(remote, tmp_path)

    assert sorted(v.text() for v in result.plan.report.errors) == [
        "bell.yaml:3:10: control character \\x07 is not allowed in YAML "
        "(in a double-quoted string, write it as an escape)",
        "deep.yaml:1:101: refused: nesting deeper than 100 levels",
        "merges.yaml:66:7: refused: more than 64 merge keys (<<) in one file",
    ]
    assert result.pushed
    assert parse_lock(remote.show("images.lock.yaml")).get(TagRef(NS, "a", "latest")) is not None


# ------------------------------------------------------------------ control characters

NUL_BUILD = f"""\
apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata:
  name: "evil\\0name\\e[31m"
  namespace: {NS}
spec:
  strategy:
    type: Docker
    dockerStrategy:
      from:
        kind: ImageStreamTag
        name: "a:latest"
  triggers:
    - type: ImageChange
"""


def test_a_nul_in_a_name_skips_that_object_and_the_pass_commits_the_rest(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="nul-a")
    remote = make_remote(
        {
            "a.yaml": stream("a", {"latest": f"{local_registry.host}/{unique_repo}/a:latest"}),
            "web.yaml": deployment("web", "a:latest"),
            "evil.yaml": NUL_BUILD,
        }
    )
    commits = remote.commit_count()
    out = io.StringIO()
    code = cli.main(
        ["reconcile", "--repo", remote.url, "--cache-dir", str(tmp_path / "cache")], out
    )

    assert code == 1  # something was skipped; the rest was done
    assert remote.commit_count() == commits + 1
    lock = parse_lock(remote.show("images.lock.yaml"))
    assert lock.get(TagRef(NS, "a", "latest")) is not None
    assert any(f.startswith("triggers/dc-web-") for f in remote.files())
    assert not any(f.startswith("triggers/bc-") for f in remote.files())  # skipped
    message = git("log", "-1", "--format=%B", "main", cwd=remote.bare)
    assert "\x00" not in message and "\x1b" not in message
    assert "BuildConfig/team/evil\\x00name\\x1b[31m" in message  # skipped, shown escaped
    assert "\x00" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_validate_prints_control_characters_escaped(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "evil.yaml").write_text(NUL_BUILD)
    code, text = validate(root)
    assert code == 1
    assert "\x00" not in text and "\x1b" not in text
    assert "evil.yaml:4:3: BuildConfig/team/evil\\x00name\\x1b[31m: metadata.name:" in text


def test_a_commit_message_with_control_characters_still_commits(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    from reconciler.gitrepo.workspace import Workspace

    remote = make_remote({"a.yaml": "a: 1\n"})
    workspace = Workspace(remote.url, "main", tmp_path / "work")
    workspace.sync()
    (workspace.path / "images.lock.yaml").write_text("x: 1\n")
    commit = workspace.commit("reconciler: a\x00b \ud800 \x1b[2J\n", ["images.lock.yaml"])
    assert commit is not None
    message = git("log", "-1", "--format=%B", commit, cwd=workspace.path)
    assert message.startswith("reconciler: a\\x00b \\ud800 \\x1b[2J")


def test_daemon_text_logs_escape_control_characters() -> None:
    import logging

    from reconciler.daemon.logs import JsonFormatter, TextFormatter

    record = logging.LogRecord(
        "reconciler", logging.INFO, "x", 1, "skipped %s", ("a\x1b[2J",), None
    )
    record.fields = {"object": "BuildConfig/team/evil\x00name"}
    for formatter in (TextFormatter(), JsonFormatter()):
        line = formatter.format(record)
        assert "\x1b" not in line and "\x00" not in line
