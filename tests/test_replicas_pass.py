"""Two reconcilers on one repository, one pass at a time, made deterministic: the second
replica commits a newer digest between the first one's registry answer and its push, so
the first one's push is rejected and its retry starts from a head that already records
something newer than what it was told. The retry must never move the tag back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from git_fixtures import GitRemote
from test_reconcile_integration import Clock, deployment, lock_of, settings, stream, triggers_of

from reconciler.core.streams import TagRef
from reconciler.gitrepo.workspace import PushOutcome, Workspace
from reconciler.passes.run import run_pass
from reconciler.registry.client import RegistryClient
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
NS = "team"
MakeRemote = Callable[[Mapping[str, str]], GitRemote]


class OvertakenWorkspace(Workspace):
    """A replica whose first push is overtaken: just before it, ``meanwhile`` runs (a
    registry push and the other replica's whole pass)."""

    def __init__(self, url: str, path: Path, meanwhile: Callable[[], None]) -> None:
        super().__init__(url, "main", path)
        self.meanwhile = meanwhile
        self.overtaken = False

    def push(self) -> PushOutcome:
        if not self.overtaken:
            self.overtaken = True
            self.meanwhile()
        return super().push()


def test_a_retry_after_a_rejected_push_never_moves_a_tag_backwards(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    url, host = local_registry.url, local_registry.host
    first = push_image(url, f"{unique_repo}/app", "latest", seed="back-1")
    steady = push_image(url, f"{unique_repo}/base", "1.0", seed="back-base")
    remote = make_remote(
        {
            "app.yaml": stream(
                "app",
                {
                    "latest": f"{host}/{unique_repo}/app:latest",
                    "base": f"{host}/{unique_repo}/base:1.0",
                },
                scheduled={"latest", "base"},
            ),
            "web.yaml": deployment("web", "app:latest"),
        }
    )
    ref = TagRef(NS, "app", "latest")
    with RegistryClient(max_concurrency=4, timeout=5.0) as client:
        run_pass(Workspace(remote.url, "main", tmp_path / "b"), settings(tmp_path), client, Clock())
        assert lock_of(remote).get(ref).digest == first  # type: ignore[union-attr]

        second = push_image(url, f"{unique_repo}/app", "latest", seed="back-2")
        third: list[str] = []

        def other_replica_moves_on() -> None:
            # Replica A was told `second`; now the registry moves on and replica B pins it.
            third.append(push_image(url, f"{unique_repo}/app", "latest", seed="back-3"))
            b = run_pass(
                Workspace(remote.url, "main", tmp_path / "b"), settings(tmp_path), client, Clock()
            )
            assert b.pushed

        a = OvertakenWorkspace(remote.url, tmp_path / "a", other_replica_moves_on)
        result = run_pass(a, settings(tmp_path), client, Clock())

    assert a.overtaken and result.attempts == 2
    entry = lock_of(remote).get(ref)
    assert entry is not None
    # The retry asked again about the tag whose entry B changed: no move back to `second`.
    assert entry.digest == third[0]
    assert [h.digest for h in entry.history] == [third[0], first]
    assert second != third[0]
    opened = [remote.show(p) for p in triggers_of(remote)]
    assert not [t for t in opened if f"toDigest: {second}" in t]
    assert len([t for t in opened if "kind: DeploymentConfig" in t]) == 2  # first, third
    # The tag B did not touch keeps its pin (its cached answer was still good).
    assert lock_of(remote).get(TagRef(NS, "app", "base")).digest == steady  # type: ignore[union-attr]
