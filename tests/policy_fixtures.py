"""Helpers for the version-policy, hold and minimum-age tests against a real registry
(tests/test_policies_integration.py, tests/test_holds_integration.py): the issue's
upstream repository, streams whose tags carry our annotations, a settable clock, one
pass, and reading the lock back.

A plugin (tests/conftest.py), for its fixture ``upstream`` (function): the issue's tags
pushed to a repository of the session registry of its own; ``(repository, {tag: digest})``.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote, git

from reconciler.cli import main as cli
from reconciler.config.settings import Settings
from reconciler.core.lockfile import Lock, TagLock, parse_lock
from reconciler.core.streams import TagRef
from reconciler.gitrepo.workspace import Workspace
from reconciler.passes.run import PassResult, run_pass
from reconciler.registry.client import RegistryClient
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry

NS = "shop"
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
# The repository of the "done means".
UPSTREAM = ["1.2.0", "1.4.6", "1.4.7", "1.5.0-rc.1", "2.0.0", "latest"]
P = "imagestream-reconciler.io/"
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def stream_yaml(
    tags: Mapping[str, tuple[str, Mapping[str, str]]], stream_annotations: Mapping[str, str] = {}
) -> str:
    """ImageStream ``app``: each tag -> (from.name, its annotations without our prefix),
    scheduled and insecure (the test registry speaks plain HTTP)."""
    meta = ""
    if stream_annotations:
        meta = "  annotations:\n" + "".join(
            f"    {P}{k}: '{v}'\n" for k, v in stream_annotations.items()
        )
    out = ""
    for name, (source, ours) in tags.items():
        out += f"    - name: {name}\n"
        if ours:
            out += "      annotations:\n" + "".join(
                f"        {P}{k}: '{v}'\n" for k, v in ours.items()
            )
        out += (
            f"      from:\n        kind: DockerImage\n        name: {source}\n"
            "      importPolicy:\n        scheduled: true\n        insecure: true\n"
        )
    return (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\n"
        f"metadata:\n  name: app\n  namespace: {NS}\n{meta}spec:\n  tags:\n{out}"
    )


def deployment(name: str, tag: str) -> str:
    """A Deployment following ``app:<tag>`` through the trigger annotation."""
    trigger = (
        f'[{{"from":{{"kind":"ImageStreamTag","name":"app:{tag}"}},'
        f'"fieldPath":"spec.template.spec.containers[?(@.name==\\"{name}\\")].image"}}]'
    )
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {NS}
  annotations:
    image.openshift.io/triggers: '{trigger}'
spec:
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
        - name: {name}
          image: " "
"""


class Clock:
    """The pass's clock, set by the test."""

    def __init__(self, start: dt.datetime = T0) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)

    @property
    def text(self) -> str:
        return self.now.strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(remote: GitRemote, tmp_path: Path, clock: Clock) -> PassResult:
    """One pass over ``remote`` at the clock's time."""
    settings = Settings(cache_dir=tmp_path / "cache", max_concurrency=4, timeout=5.0)
    with RegistryClient(max_concurrency=4, timeout=5.0) as client:
        return run_pass(Workspace(remote.url, "main", tmp_path / "work"), settings, client, clock)


def command(*argv: str) -> tuple[int, str]:
    """A ``reconciler`` command; its exit code and output."""
    out = io.StringIO()
    code = cli.main(list(argv), out)
    return code, out.getvalue()


def lock_of(remote: GitRemote) -> Lock:
    return parse_lock(remote.show("images.lock.yaml"))


def entry(remote: GitRemote, tag: str) -> TagLock:
    found = lock_of(remote).get(TagRef(NS, "app", tag))
    assert found is not None
    return found


def picked(remote: GitRemote) -> dict[str, str | None]:
    """Each tag of stream ``app``: the upstream tag its policy picked (None: none yet)."""
    return {
        ref.tag: (e.chosen.tag if e.chosen else None)
        for ref, e in lock_of(remote).tags.items()
        if ref.stream == "app"
    }


def records(remote: GitRemote) -> set[str]:
    return {f for f in remote.files() if f.startswith("triggers/")}


def last_message(remote: GitRemote) -> str:
    return git("log", "-1", "--format=%B", "main", cwd=remote.bare)


def delete_tag(registry_url: str, repository: str, digest: str) -> None:
    """Remove a tag upstream: delete its manifest (each pushed tag has its own digest)."""
    reply = httpx.delete(f"{registry_url}/v2/{repository}/manifests/{digest}", timeout=10.0)
    assert reply.status_code == 202, reply.text


@pytest.fixture
def upstream(local_registry: LocalRegistry, unique_repo: str) -> tuple[str, dict[str, str]]:
    """The issue's repository: ``UPSTREAM`` pushed to ``unique_repo``."""
    digests = push_tags(local_registry.url, unique_repo, UPSTREAM, unique_repo)
    return f"{local_registry.host}/{unique_repo}", digests
