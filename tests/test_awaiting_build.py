"""A BuildConfig's output tag that no registry can answer for yet is awaiting its build,
not a failure: the pass exits 0 and says so, whether the registry has no such image yet
(NotFound) or the cluster's registry is not reachable from here (its in-cluster name does
not resolve). Once a build pushes, the next pass pins it."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from git_fixtures import GitRemote

from reconciler.cli import main as cli
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
REF = TagRef("team", "example-app", "latest")

BUILD = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: example-app
---
kind: BuildConfig
apiVersion: build.openshift.io/v1
metadata:
  name: example-app
spec:
  source:
    git:
      uri: https://github.com/sclorg/nodejs-ex.git
  strategy:
    type: Docker
    dockerStrategy: {}
  output:
    to:
      kind: ImageStreamTag
      name: example-app:latest
"""


def reconcile(remote: GitRemote, tmp: Path) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    code = cli.main(
        ["reconcile", "--repo", remote.url, "--cache-dir", str(tmp / "cache"), "-o", "json"], out
    )
    return code, json.loads(out.getvalue())


@pytest.fixture(autouse=True)
def no_registries_conf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "registries.conf").write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))


def test_not_pushed_yet_then_pushed(
    local_registry: LocalRegistry, unique_repo: str, make_remote: MakeRemote, tmp_path: Path
) -> None:
    local = f"{local_registry.host}/{unique_repo}"
    remote = make_remote(
        {
            ".reconciler.yaml": (
                f"defaultNamespace: team\nlocalRegistry: {local}\nlocalRegistryInsecure: true\n"
            ),
            "build.yaml": BUILD,
        }
    )
    code, data = reconcile(remote, tmp_path)
    assert code == 0, data
    assert data["failures"] == {}
    assert data["notes"] == [
        "awaiting build: team/example-app:latest, pushed by "
        "BuildConfig/team/example-app: not in the registry yet"
    ]
    entry = parse_lock(remote.show("images.lock.yaml")).get(REF)
    assert entry is not None and entry.digest is None and entry.condition is None

    digest = push_image(local_registry.url, f"{unique_repo}/team/example-app", "latest", seed="b1")
    code, data = reconcile(remote, tmp_path)
    assert code == 0, data
    assert data["notes"] == []
    entry = parse_lock(remote.show("images.lock.yaml")).get(REF)
    assert entry is not None and entry.digest == digest


def test_the_cluster_registry_is_not_reachable(make_remote: MakeRemote, tmp_path: Path) -> None:
    # The default localRegistry, image-registry.openshift-image-registry.svc:5000, is a
    # name only the cluster resolves.
    remote = make_remote({".reconciler.yaml": "defaultNamespace: team\n", "build.yaml": BUILD})
    code, data = reconcile(remote, tmp_path)
    assert code == 0, data
    assert data["failures"] == {}
    (note,) = data["notes"]  # type: ignore[misc]
    assert note.startswith(
        "awaiting build: team/example-app:latest, pushed by BuildConfig/team/example-app: its "
        "registry cannot be reached from here: RegistryUnavailable: "
        "image-registry.openshift-image-registry.svc:5000/team/example-app"
    ), note
