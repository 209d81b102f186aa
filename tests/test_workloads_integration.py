"""Kubernetes workloads following image stream tags, through the whole loop against a
real docker-registry and a bare git remote: a Deployment, a StatefulSet and a CronJob
with the image.openshift.io/triggers annotation, a Deployment whose trigger is paused,
and one that names the stream through image lookup. A push moves one tag: exactly one
record per unpaused follower, none for the paused one. With ``writeBack: true`` the
manifests' image lines follow in the same commit, comments kept; without, they stay."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from git_fixtures import GitRemote, git

from reconciler.cli.planview import print_plan
from reconciler.config.settings import Settings
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from reconciler.gitrepo.workspace import Workspace
from reconciler.passes.run import PassResult, run_pass
from reconciler.registry.client import RegistryClient
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
NS = "shop"
MakeRemote = Callable[[Mapping[str, str]], GitRemote]


def streams(host: str, repo: str) -> str:
    return f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
  namespace: {NS}
spec:
  lookupPolicy:
    local: true
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {host}/{repo}/app:latest
      importPolicy:
        insecure: true
        scheduled: true
---
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: worker
  namespace: {NS}
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {host}/{repo}/worker:latest
      importPolicy:
        insecure: true
        scheduled: true
"""


def trigger(tag: str, container: str, *, cron: bool = False, paused: bool = False) -> str:
    spec = "spec.jobTemplate.spec.template.spec" if cron else "spec.template.spec"
    pause = ',"paused":true' if paused else ""
    return (
        f'[{{"from":{{"kind":"ImageStreamTag","name":"{tag}"}},'
        f'"fieldPath":"{spec}.containers[?(@.name==\\"{container}\\")].image"{pause}}}]'
    )


def deployment(name: str, tag: str, *, paused: bool = False) -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {NS}
  annotations:
    image.openshift.io/triggers: |-
      {trigger(tag, name, paused=paused)}
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          # filled in from the image stream tag
          image: " "
          ports:
            - containerPort: 8080
"""


STATEFUL_SET = f"""\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: cache
  namespace: {NS}
  annotations:
    image.openshift.io/triggers: '{trigger("app:latest", "cache")}'
spec:
  serviceName: cache
  selector:
    matchLabels: {{app: cache}}
  template:
    metadata:
      labels: {{app: cache}}
    spec:
      containers:
        - name: cache
          image: app  # the trigger keeps this pinned
"""

CRON_JOB = f"""\
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: {NS}
  annotations:
    image.openshift.io/triggers: >-
      {trigger("app:latest", "report", cron=True)}
spec:
  schedule: "0 2 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: report
              image: " "
"""

LOOKUP = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: lookup
  namespace: {NS}
spec:
  selector:
    matchLabels: {{app: lookup}}
  template:
    metadata:
      labels: {{app: lookup}}
    spec:
      containers:
        - name: lookup
          image: app:latest  # resolved by the stream's local lookup
"""

DEPLOYMENT_CONFIG = f"""\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: legacy
  namespace: {NS}
spec:
  replicas: 1
  selector:
    app: legacy
  template:
    metadata:
      labels:
        app: legacy
    spec:
      containers:
        - name: legacy
          image: app:latest
  triggers:
    - type: ConfigChange
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [legacy]
        from:
          kind: ImageStreamTag
          name: "app:latest"
"""

BUILD_CONFIG = f"""\
apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata:
  name: report
  namespace: {NS}
spec:
  source:
    git:
      uri: https://example.com/report.git
  strategy:
    dockerStrategy:
      from:
        kind: DockerImage
        name: quay.io/shop/base:1  # pinned by the trigger below
  triggers:
    - type: ImageChange
      imageChange:
        from:
          kind: ImageStreamTag
          name: "worker:latest"
"""


class Clock:
    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> dt.datetime:
        return dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=next(self._ticks))


def run(remote: GitRemote, tmp_path: Path) -> PassResult:
    settings = Settings(cache_dir=tmp_path / "cache", max_concurrency=4, timeout=5.0)
    with RegistryClient(max_concurrency=4, timeout=5.0) as client:
        return run_pass(Workspace(remote.url, "main", tmp_path / "work"), settings, client, Clock())


def records(remote: GitRemote) -> set[str]:
    return {f for f in remote.files() if f.startswith("triggers/")}


def committed_files(remote: GitRemote) -> set[str]:
    return set(git("show", "--name-only", "--format=", "main", cwd=remote.bare).splitlines())


def repo_files(host: str, repo: str, write_back: bool) -> dict[str, str]:
    files = {
        "streams.yaml": streams(host, repo),
        "deploy/web.yaml": deployment("web", "app:latest"),
        "deploy/canary.yaml": deployment("canary", "app:latest", paused=True),
        "deploy/other.yaml": deployment("other", "worker:latest"),
        "deploy/cache.yaml": STATEFUL_SET,
        "jobs/nightly.yaml": CRON_JOB,
        "deploy/lookup.yaml": LOOKUP,
    }
    if write_back:
        files[".reconciler.yaml"] = f"defaultNamespace: {NS}\nwriteBack: true\n"
        files["deploy/legacy.yaml"] = DEPLOYMENT_CONFIG
        files["builds/report.yaml"] = BUILD_CONFIG
    return files


@pytest.mark.parametrize("write_back", [False, True], ids=["write-back-off", "write-back-on"])
def test_workloads_follow_a_moving_tag(
    local_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    unique_repo: str,
    write_back: bool,
) -> None:
    host, url = local_registry.host, local_registry.url
    first = push_image(url, f"{unique_repo}/app", "latest", seed="app-1")
    worker = push_image(url, f"{unique_repo}/worker", "latest", seed="worker-1")
    original = repo_files(host, unique_repo, write_back)
    remote = make_remote(original)
    app_image = f"{host}/{unique_repo}/app@{first}"
    worker_image = f"{host}/{unique_repo}/worker@{worker}"

    # Pass 1: both tags pinned; a record for every unpaused follower, none for canary.
    result = run(remote, tmp_path)
    assert result.pushed
    assert "paused: deploy/canary follows app:latest (no record)" in result.plan.notes
    opened = records(remote)
    prefixes = sorted(name.split("/")[1].rsplit("-", 1)[0] for name in opened)
    expected = ["cj-nightly", "deploy-lookup", "deploy-other", "deploy-web", "sts-cache"]
    if write_back:
        # A new DeploymentConfig's first sight is one rollout: its ImageChange record
        # (a ConfigChange record would ask for the same rollout twice).
        expected = sorted([*expected, "bc-report", "dc-legacy"])
    assert prefixes == expected
    lock = parse_lock(remote.show("images.lock.yaml"))
    assert lock.get(TagRef(NS, "app", "latest")).image == app_image  # type: ignore[union-attr]
    web = remote.show("deploy/web.yaml")
    if write_back:
        # Lock, records and manifests in one commit; one line changed per manifest.
        assert committed_files(remote) >= {
            "images.lock.yaml",
            "deploy/web.yaml",
            "deploy/cache.yaml",
            "deploy/other.yaml",
            "jobs/nightly.yaml",
            "deploy/legacy.yaml",
            "builds/report.yaml",
            *opened,
        }
        assert f'          image: "{app_image}"' in web
        assert "# filled in from the image stream tag" in web
        for name, image in [
            ("deploy/web.yaml", app_image),
            ("deploy/cache.yaml", app_image),
            ("jobs/nightly.yaml", app_image),
            ("deploy/other.yaml", worker_image),
            ("deploy/legacy.yaml", app_image),
            ("builds/report.yaml", worker_image),
        ]:
            _assert_one_line_changed(original[name], remote.show(name), image)
        assert f"image: {app_image}  # the trigger keeps this pinned" in remote.show(
            "deploy/cache.yaml"
        )
        assert f"name: {worker_image}  # pinned by the trigger below" in remote.show(
            "builds/report.yaml"
        )
        # Paused, and found by lookup: never written.
        assert remote.show("deploy/canary.yaml") == original["deploy/canary.yaml"].rstrip("\n")
        assert remote.show("deploy/lookup.yaml") == original["deploy/lookup.yaml"].rstrip("\n")
    else:
        assert web == original["deploy/web.yaml"].rstrip("\n")

    # Pass 2: nothing changed, no commit (the written images are no change either).
    count = remote.commit_count()
    assert run(remote, tmp_path).commit is None
    assert remote.commit_count() == count

    # A push moves app:latest only: one record per unpaused follower of it.
    second = push_image(url, f"{unique_repo}/app", "latest", seed="app-2")
    moved = run(remote, tmp_path)
    assert moved.pushed and remote.commit_count() == count + 1
    new = records(remote) - opened
    names = sorted(name.split("/")[1].rsplit("-", 1)[0] for name in new)
    want = ["cj-nightly", "deploy-lookup", "deploy-web", "sts-cache"]
    # The DeploymentConfig's image written back is its ImageChange, not a ConfigChange.
    assert names == (sorted([*want, "dc-legacy"]) if write_back else want)
    for name in new:
        text = remote.show(name)
        assert f"fromDigest: {first}" in text and f"toDigest: {second}" in text
    assert "paused: deploy/canary follows app:latest (no record)" in moved.plan.notes
    shown = io.StringIO()
    print_plan(moved.plan, shown, show_diff=True)
    assert "\npaused: deploy/canary follows app:latest (no record)\n" in shown.getvalue()
    assert ("+++ b/deploy/web.yaml" in shown.getvalue()) == write_back
    new_image = f"{host}/{unique_repo}/app@{second}"
    if write_back:
        assert f'image: "{new_image}"' in remote.show("deploy/web.yaml")
        assert worker_image in remote.show("deploy/other.yaml")
        assert {"deploy/web.yaml", "deploy/cache.yaml", "jobs/nightly.yaml"} <= committed_files(
            remote
        )
        assert "deploy/other.yaml" not in committed_files(remote)
        message = git("log", "-1", "--format=%B", "main", cwd=remote.bare)
        assert "write back 4 images" in message and "Written back:" in message
    else:
        assert remote.show("deploy/web.yaml") == original["deploy/web.yaml"].rstrip("\n")

    # And once more: nothing.
    assert run(remote, tmp_path).commit is None
    assert remote.commit_count() == count + 1


def _assert_one_line_changed(before: str, after: str, image: str) -> None:
    old, new = before.rstrip("\n").splitlines(), after.splitlines()
    assert len(old) == len(new)
    changed = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    assert len(changed) == 1, changed
    assert image in changed[0][1]
