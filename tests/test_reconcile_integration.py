"""The whole loop against a real docker-registry and a bare git remote: pin, stay put,
move on a new push, open each trigger once, survive a racing human commit, keep the last
good digest when the registry is down or talks garbage, skip invalid objects without
losing their lock entries."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote, git

from reconciler.config.settings import Settings
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from reconciler.gitrepo.workspace import PushOutcome, Workspace
from reconciler.passes.run import PassResult, run_pass
from reconciler.registry.client import RegistryClient
from testsupport.images import manifest_digest, push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
NS = "team"
MakeRemote = Callable[[Mapping[str, str]], GitRemote]


def stream(
    name: str, tags: Mapping[str, str], *, scheduled: set[str] = frozenset(), extra: str = ""
) -> str:
    lines = [
        "apiVersion: image.openshift.io/v1",
        "kind: ImageStream",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {NS}",
        "spec:",
        "  tags:",
    ]
    for tag, source in tags.items():
        lines += [f'    - name: "{tag}"', "      from:"]
        if source.startswith("istag:"):
            lines += ["        kind: ImageStreamTag", f"        name: {source[6:]}"]
        else:
            lines += ["        kind: DockerImage", f"        name: {source}"]
            lines += ["      importPolicy:", "        insecure: true"]
            if tag in scheduled:
                lines += ["        scheduled: true"]
    return "\n".join(lines) + "\n" + extra


def deployment(name: str, istag: str, container: str = "app") -> str:
    return f"""\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: {name}
  namespace: {NS}
spec:
  replicas: 1
  selector:
    app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
        - name: {container}
          image: {name}
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [{container}]
        from:
          kind: ImageStreamTag
          name: "{istag}"
"""


def build(name: str, istag: str) -> str:
    return f"""\
apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata:
  name: {name}
  namespace: {NS}
spec:
  source:
    type: Git
    git:
      uri: https://example.com/{name}.git
  strategy:
    type: Docker
    dockerStrategy:
      from:
        kind: ImageStreamTag
        name: "{istag}"
  triggers:
    - type: ImageChange
"""


class Clock:
    """A clock the test moves: trigger and history times are then predictable."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=next(self._ticks))


def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", max_concurrency=4, timeout=5.0)


def run(
    remote: GitRemote,
    tmp_path: Path,
    client: RegistryClient | None = None,
    workspace: Workspace | None = None,
    dry_run: bool = False,
) -> PassResult:
    ws = workspace or Workspace(remote.url, "main", tmp_path / "work")
    own = client is None
    active = client or RegistryClient(max_concurrency=4, timeout=5.0)
    try:
        return run_pass(ws, settings(tmp_path), active, Clock(), dry_run=dry_run)
    finally:
        if own:
            active.close()


def lock_of(remote: GitRemote):  # type: ignore[no-untyped-def]
    return parse_lock(remote.show("images.lock.yaml"))


def triggers_of(remote: GitRemote) -> list[str]:
    return sorted(f for f in remote.files() if f.startswith("triggers/"))


def test_pin_stay_move_and_trigger_once(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    host, url = local_registry.host, local_registry.url
    first_app = push_image(url, f"{unique_repo}/app", "latest", seed="app-1")
    pinned_base = push_image(url, f"{unique_repo}/base", "1.0", seed="base-1")
    remote = make_remote(
        {
            "streams/app.yaml": stream(
                "app",
                {"latest": f"{host}/{unique_repo}/app:latest", "stable": "istag:app:latest"},
                scheduled={"latest"},
            ),
            "streams/base.yaml": stream("base", {"1.0": f"{host}/{unique_repo}/base:1.0"}),
            "deploy/web.yaml": deployment("web", "app:latest"),
            "deploy/worker.yaml": deployment("worker", "app:stable"),
            "build/img.yaml": build("img", "base:1.0"),
        }
    )
    commits = remote.commit_count()

    # Pass 1: everything pinned to exactly what the registry serves, one commit.
    result = run(remote, tmp_path)
    assert result.pushed and result.commit == remote.head()
    assert remote.commit_count() == commits + 1
    lock = lock_of(remote)
    app = lock.get(TagRef(NS, "app", "latest"))
    assert app is not None and app.digest == first_app
    assert app.digest == manifest_digest(url, f"{unique_repo}/app", "latest")
    assert lock.get(TagRef(NS, "app", "stable")).digest == first_app  # type: ignore[union-attr]
    assert lock.get(TagRef(NS, "base", "1.0")).digest == pinned_base  # type: ignore[union-attr]
    assert app.image == f"{host}/{unique_repo}/app@{first_app}"
    first_triggers = triggers_of(remote)
    assert len(first_triggers) == 3  # web, worker, img: first resolution counts
    author, subject = remote.log()[0].split("|")
    assert author == "imagestream-reconciler" and "open 3 triggers" in subject

    # Pass 2: nothing changed, no commit.
    again = run(remote, tmp_path)
    assert again.commit is None and not again.pushed
    assert remote.commit_count() == commits + 1

    # A new image under the scheduled tag, and under the unscheduled one.
    second_app = push_image(url, f"{unique_repo}/app", "latest", seed="app-2")
    push_image(url, f"{unique_repo}/base", "1.0", seed="base-2")
    moved = run(remote, tmp_path)
    assert moved.pushed
    lock = lock_of(remote)
    app = lock.get(TagRef(NS, "app", "latest"))
    assert app is not None and app.digest == second_app
    assert [h.digest for h in app.history] == [second_app, first_app]
    assert lock.get(TagRef(NS, "app", "stable")).digest == second_app  # type: ignore[union-attr]
    assert lock.get(TagRef(NS, "base", "1.0")).digest == pinned_base  # type: ignore[union-attr]
    new_triggers = sorted(set(triggers_of(remote)) - set(first_triggers))
    assert len(new_triggers) == 2  # web (latest) and worker (stable alias), not img
    consumers = sorted(remote.show(f).split("name: ")[1].split()[0] for f in new_triggers)
    assert consumers == ["web", "worker"]
    for path in new_triggers:
        text = remote.show(path)
        assert f"fromDigest: {first_app}" in text and f"toDigest: {second_app}" in text
        assert "status: open" in text

    # Once more: nothing new opens.
    count = remote.commit_count()
    assert run(remote, tmp_path).commit is None
    assert remote.commit_count() == count
    assert len(triggers_of(remote)) == 5


def test_dry_run_writes_nothing(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    push_image(local_registry.url, unique_repo, "v1", seed="dry")
    remote = make_remote({"s.yaml": stream("s", {"v1": f"{local_registry.host}/{unique_repo}:v1"})})
    head = remote.head()
    result = run(remote, tmp_path, dry_run=True)
    assert result.plan.lock_changed and result.plan.changes
    assert result.commit is None and remote.head() == head
    assert not (tmp_path / "work" / "images.lock.yaml").exists()


class RacingWorkspace(Workspace):
    """Lets a human push between the reconciler's fetch and its first push."""

    def __init__(self, remote: GitRemote, path: Path, change: Mapping[str, str]) -> None:
        super().__init__(remote.url, "main", path)
        self.remote = remote
        self.change = change
        self.raced = False

    def push(self) -> PushOutcome:
        if not self.raced:
            self.raced = True
            self.remote.commit(self.change, "human adds a tag meanwhile")
        return super().push()


def test_push_race_recomputes_from_new_head(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    host = local_registry.host
    one = push_image(local_registry.url, unique_repo, "one", seed="race-1")
    two = push_image(local_registry.url, unique_repo, "two", seed="race-2")
    remote = make_remote({"s.yaml": stream("s", {"one": f"{host}/{unique_repo}:one"})})
    newer = stream("s", {"one": f"{host}/{unique_repo}:one", "two": f"{host}/{unique_repo}:two"})
    workspace = RacingWorkspace(remote, tmp_path / "work", {"s.yaml": newer})

    result = run(remote, tmp_path, workspace=workspace)

    assert result.pushed and result.attempts == 2
    subjects = [line.split("|")[1] for line in remote.log()]
    assert subjects[:2] == ["reconciler: pin 2 new tags", "human adds a tag meanwhile"]
    assert remote.show("s.yaml") == newer.rstrip()  # the human's change is on the branch
    lock = lock_of(remote)  # and the lock was computed from the newest manifests
    assert lock.get(TagRef(NS, "s", "one")).digest == one  # type: ignore[union-attr]
    assert lock.get(TagRef(NS, "s", "two")).digest == two  # type: ignore[union-attr]


def test_registry_down_keeps_last_good_digest(
    fresh_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path
) -> None:
    host = fresh_registry.host
    good = push_image(fresh_registry.url, "down/app", "latest", seed="down-1")
    remote = make_remote(
        {"s.yaml": stream("s", {"latest": f"{host}/down/app:latest"}, scheduled={"latest"})}
    )
    run(remote, tmp_path)
    before = lock_of(remote).get(TagRef(NS, "s", "latest"))
    assert before is not None and before.digest == good and before.condition is None

    fresh_registry.stop()
    result = run(remote, tmp_path)
    assert result.pushed  # the condition is recorded
    after = lock_of(remote).get(TagRef(NS, "s", "latest"))
    assert after is not None
    assert after.digest == good and after.history == before.history and after.image == before.image
    assert after.condition is not None and after.condition.reason == "RegistryUnavailable"
    assert host in after.condition.message
    assert TagRef(NS, "s", "latest") in result.plan.failures

    # Still down: the same failure does not rewrite the lock.
    assert run(remote, tmp_path).commit is None


def test_registry_garbage_keeps_last_good_digest(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    host = local_registry.host
    good = push_image(local_registry.url, unique_repo, "latest", seed="garbage-1")
    remote = make_remote(
        {"s.yaml": stream("s", {"latest": f"{host}/{unique_repo}:latest"}, scheduled={"latest"})}
    )
    run(remote, tmp_path)

    def garbage(request: httpx.Request) -> httpx.Response:
        # A misconfigured proxy: 200 with an HTML page, no digest header.
        return httpx.Response(
            200, headers={"Content-Type": "text/html"}, content=b"<html>proxy error</html>"
        )

    with RegistryClient(transport=httpx.MockTransport(garbage), max_concurrency=2) as client:
        result = run(remote, tmp_path, client=client)
    entry = lock_of(remote).get(TagRef(NS, "s", "latest"))
    assert entry is not None and entry.digest == good
    assert entry.condition is not None
    assert entry.condition.reason in {"DigestMismatch", "InvalidResponse"}
    assert result.plan.failures


def test_invalid_object_is_skipped_and_keeps_its_lock(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    host = local_registry.host
    a1 = push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="inv-a1")
    b1 = push_image(local_registry.url, f"{unique_repo}/b", "latest", seed="inv-b1")
    a_src, b_src = f"{host}/{unique_repo}/a:latest", f"{host}/{unique_repo}/b:latest"
    remote = make_remote(
        {
            "a.yaml": stream("a", {"latest": a_src}, scheduled={"latest"}),
            "b.yaml": stream("b", {"latest": b_src}, scheduled={"latest"}),
        }
    )
    run(remote, tmp_path)
    a_entry = lock_of(remote).get(TagRef(NS, "a", "latest"))

    # Someone breaks stream a (bad importMode); both images move.
    broken = stream("a", {"latest": a_src}, scheduled={"latest"}).replace(
        "insecure: true", "insecure: true\n        importMode: Sometimes"
    )
    remote.commit({"a.yaml": broken})
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="inv-a2")
    b2 = push_image(local_registry.url, f"{unique_repo}/b", "latest", seed="inv-b2")
    result = run(remote, tmp_path)

    assert result.plan.skipped == [f"ImageStream/{NS}/a"]
    errors = [v.text() for v in result.plan.report.errors]
    assert any(e.startswith("a.yaml:") and "importMode" in e for e in errors), errors
    lock = lock_of(remote)
    assert lock.get(TagRef(NS, "a", "latest")) == a_entry  # untouched
    assert a_entry is not None and a_entry.digest == a1
    assert lock.get(TagRef(NS, "b", "latest")).digest == b2  # type: ignore[union-attr]
    assert b1 != b2
    message = git("log", "-1", "--format=%B", "main", cwd=remote.bare)
    assert "Skipped (invalid, lock entries kept):\n  ImageStream/team/a" in message


def test_unparseable_file_drops_no_lock_entry(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    host = local_registry.host
    push_image(local_registry.url, f"{unique_repo}/a", "latest", seed="yaml-a")
    push_image(local_registry.url, f"{unique_repo}/b", "latest", seed="yaml-b")
    remote = make_remote(
        {
            "a.yaml": stream("a", {"latest": f"{host}/{unique_repo}/a:latest"}),
            "b.yaml": stream("b", {"latest": f"{host}/{unique_repo}/b:latest"}),
        }
    )
    run(remote, tmp_path)
    before = lock_of(remote)

    # A YAML syntax error hides which streams a.yaml holds; a new tag lands in b.yaml.
    remote.commit(
        {
            "a.yaml": "kind: ImageStream\nmetadata: [\n",
            "b.yaml": stream(
                "b",
                {
                    "latest": f"{host}/{unique_repo}/b:latest",
                    "v2": f"{host}/{unique_repo}/b:latest",
                },
            ),
        }
    )
    result = run(remote, tmp_path)
    after = lock_of(remote)
    assert any(v.file == "a.yaml" and v.line == 3 for v in result.plan.report.errors)
    assert after.get(TagRef(NS, "a", "latest")) == before.get(TagRef(NS, "a", "latest"))
    assert after.get(TagRef(NS, "b", "v2")) is not None  # the rest still reconciled

    # Once a.yaml is gone for real (deleted, parsing fine), its entries go too.
    remote.commit({"a.yaml": None})
    run(remote, tmp_path)
    assert lock_of(remote).get(TagRef(NS, "a", "latest")) is None


def test_review_branch_mode(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    host, url = local_registry.host, local_registry.url
    first = push_image(url, unique_repo, "latest", seed="review-1")
    source = f"{host}/{unique_repo}:latest"
    remote = make_remote(
        {
            "s.yaml": stream("s", {"latest": source}, scheduled={"latest"}),
            "web.yaml": deployment("web", "s:latest"),
        }
    )
    main_head = remote.head()
    review = "reconciler/lock"
    ws = Workspace(remote.url, "main", tmp_path / "work", review_branch=review)

    result = run(remote, tmp_path, workspace=ws)
    assert result.pushed
    assert remote.head() == main_head  # the tracked branch is untouched
    branch = f"refs/heads/{review}"
    assert git("rev-parse", f"{branch}^", cwd=remote.bare) == main_head  # on top of main
    assert (
        parse_lock(remote.show("images.lock.yaml", branch)).get(TagRef(NS, "s", "latest")).digest
        == first
    )  # type: ignore[union-attr]
    review_head = git("rev-parse", branch, cwd=remote.bare)
    assert "for review" in git("log", "-1", "--format=%s", branch, cwd=remote.bare)

    # Nothing new: the review branch is left as it is.
    ws2 = Workspace(remote.url, "main", tmp_path / "work", review_branch=review)
    assert not run(remote, tmp_path, workspace=ws2).pushed
    assert git("rev-parse", branch, cwd=remote.bare) == review_head

    # main moves (a human adds a tag) and the image moves: the branch is rebuilt on top,
    # with the history recorded so far kept.
    remote.commit({"s.yaml": stream("s", {"latest": source, "v2": source}, scheduled={"latest"})})
    second = push_image(url, unique_repo, "latest", seed="review-2")
    run(remote, tmp_path, workspace=Workspace(remote.url, "main", tmp_path / "work", review))
    assert git("rev-parse", f"{branch}^", cwd=remote.bare) == remote.head()
    lock = parse_lock(remote.show("images.lock.yaml", branch))
    entry = lock.get(TagRef(NS, "s", "latest"))
    assert entry is not None and [h.digest for h in entry.history] == [second, first]
    assert lock.get(TagRef(NS, "s", "v2")) is not None
    records = [p for p in remote.files(branch) if p.startswith("triggers/")]
    assert len(records) == 2 and not [p for p in remote.files() if p.startswith("triggers/")]

    # A reviewer merges it: the review branch has nothing left to say and is deleted.
    git("fetch", "-q", "origin", cwd=remote.human)
    git("merge", "-q", "--ff-only", f"origin/{review}", cwd=remote.human)
    git("push", "-q", "origin", "HEAD:main", cwd=remote.human)
    run(remote, tmp_path, workspace=Workspace(remote.url, "main", tmp_path / "work", review))
    assert git("branch", "--list", review, cwd=remote.bare) == ""


def test_a_registry_that_stays_down_is_one_commit(make_remote: MakeRemote, tmp_path: Path) -> None:
    """Behind a registries.conf rewrite to a dead mirror: the failure is recorded once,
    with the logical name, and later passes (connection refused, then the circuit breaker
    backing off) change nothing."""
    from reconciler.core.registries import parse_registries_conf

    remote = make_remote({"s.yaml": stream("s", {"x": "quay.io/team/app:1"}, scheduled={"x"})})
    conf = parse_registries_conf(
        '[[registry]]\nprefix = "quay.io"\nlocation = "127.0.0.1:9/mirror"\ninsecure = true\n'
    )
    settings = Settings(registries=conf, cache_dir=tmp_path / "cache", timeout=2.0)
    workspace = Workspace(remote.url, "main", tmp_path / "work")
    with RegistryClient(max_concurrency=2, timeout=2.0) as client:
        commits = [run_pass(workspace, settings, client, Clock()).commit for _ in range(7)]
    assert commits[0] is not None and commits[1:] == [None] * 6
    entry = lock_of(remote).get(TagRef(NS, "s", "x"))
    assert entry is not None and entry.condition is not None
    assert entry.condition.reason == "RegistryUnavailable"
    assert "quay.io/team/app" in entry.condition.message
    assert "127.0.0.1:9" not in entry.condition.message


def test_a_stale_git_lock_in_the_work_clone_does_not_stop_passes(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    """A process killed mid-git leaves index.lock behind in our own clone."""
    push_image(local_registry.url, unique_repo, "v1", seed="stale-lock")
    remote = make_remote({"s.yaml": stream("s", {"v1": f"{local_registry.host}/{unique_repo}:v1"})})
    run(remote, tmp_path)
    (tmp_path / "work" / ".git" / "index.lock").write_text("")
    remote.commit(
        {
            "s.yaml": stream(
                "s",
                {
                    "v1": f"{local_registry.host}/{unique_repo}:v1",
                    "v2": f"{local_registry.host}/{unique_repo}:v1",
                },
            )
        }
    )
    assert run(remote, tmp_path).pushed
    assert lock_of(remote).get(TagRef(NS, "s", "v2")) is not None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:ghp_TOKEN@git.example.com/o/r.git", "https://***@git.example.com/o/r.git"),
        ("https://ghp_TOKEN@git.example.com/o/r.git", "https://***@git.example.com/o/r.git"),
        ("ssh://git@git.example.com/o/r.git", "ssh://***@git.example.com/o/r.git"),
        ("git@git.example.com:o/r.git", "git@git.example.com:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_repo_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    from reconciler.gitrepo.workspace import display_url

    assert display_url(url) == shown


def test_a_token_in_the_repo_url_never_reaches_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reconciler.cli import main as cli

    code = cli.main(
        [
            "reconcile",
            "--repo",
            "http://user:ghp_SECRETTOKEN@127.0.0.1:9/o/r.git",
            "--cache-dir",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    assert "ghp_SECRETTOKEN" not in captured.out + captured.err
    assert "***@127.0.0.1:9" in captured.err


def test_a_search_registry_that_is_down_does_not_hand_the_tag_to_the_next(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    """Unqualified `team/app:1` with search registries [a, b], both holding an image of
    that name: while a is down the tag keeps a's digest and records the failure; only a
    NotFound from a moves on to b."""
    from reconciler.core.registries import parse_registries_conf

    with LocalRegistry() as reg_a, LocalRegistry() as reg_b:
        from_a = push_image(reg_a.url, "team/app", "1", seed="search-a")
        push_image(reg_b.url, "team/app", "1", seed="search-b")
        only_b = push_image(reg_b.url, "team/other", "1", seed="search-b-other")
        conf = parse_registries_conf(
            'unqualified-search-registries = ["a.example", "b.example"]\n'
            f'[[registry]]\nprefix = "a.example"\nlocation = "{reg_a.host}"\ninsecure = true\n'
            f'[[registry]]\nprefix = "b.example"\nlocation = "{reg_b.host}"\ninsecure = true\n'
        )
        settings = Settings(registries=conf, cache_dir=tmp_path / "cache", timeout=2.0)
        remote = make_remote(
            {
                "s.yaml": stream(
                    "s", {"app": "team/app:1", "other": "team/other:1"}, scheduled={"app"}
                )
            }
        )
        workspace = Workspace(remote.url, "main", tmp_path / "work")
        with RegistryClient(max_concurrency=2, timeout=2.0) as client:
            run_pass(workspace, settings, client, Clock())
            lock = lock_of(remote)
            assert lock.get(TagRef(NS, "s", "app")).digest == from_a  # type: ignore[union-attr]
            assert lock.get(TagRef(NS, "s", "other")).digest == only_b  # type: ignore[union-attr]
            reg_a.stop()
            run_pass(workspace, settings, client, Clock())
        entry = lock_of(remote).get(TagRef(NS, "s", "app"))
        assert entry is not None and entry.digest == from_a
        assert entry.condition is not None and entry.condition.reason == "RegistryUnavailable"


def test_an_image_pin_that_cannot_be_followed_is_a_failure(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    """A tag pinning an image its stream never had: recorded as a condition and reported
    as a failure (exit code 1), like a registry failure."""
    push_image(local_registry.url, unique_repo, "v1", seed="pin-missing")
    missing = "sha256:" + "9" * 64
    manifests = stream("s", {"v1": f"{local_registry.host}/{unique_repo}:v1"}) + (
        "    - name: pinned\n"
        "      from:\n"
        "        kind: ImageStreamImage\n"
        f"        name: s@{missing}\n"
    )
    remote = make_remote({"s.yaml": manifests})
    result = run(remote, tmp_path)
    failure = result.plan.failures.get(TagRef(NS, "s", "pinned"))
    assert failure is not None and failure.reason == "NotFound"
    assert missing in failure.message
