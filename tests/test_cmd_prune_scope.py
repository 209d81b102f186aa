"""prune in one namespace respects pins from another, and checks Local-policy images
where they were imported from."""

from __future__ import annotations

import datetime as dt

from reconciler.cli.verbs.prune import missing_images
from reconciler.core.lockfile import Lock, TagLock, TagSource
from reconciler.core.prune import PrunePolicy, pinned_images, prune_lock
from reconciler.core.registries import RegistriesConf
from reconciler.core.streams import TagRef
from reconciler.registry import errors as e
from reconciler.registry.models import Resolved, ResolveRequest

OLD, NEW = "sha256:" + "1" * 64, "sha256:" + "2" * 64
T0, T1 = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def moved(source: TagSource, repo: str, resolved_from: str | None = None) -> TagLock:
    entry = TagLock(source, resolved_from=resolved_from)
    entry = entry.moved_to(OLD, f"{repo}@{OLD}", T0)
    return entry.moved_to(NEW, f"{repo}@{NEW}", T1)


def test_a_pin_in_another_namespace_protects_the_image() -> None:
    src = TagRef("other", "src", "latest")
    pin = TagRef("toms-project", "app", "pinned")
    lock = Lock(
        tags={
            src: moved(
                TagSource("DockerImage", "docker.io/engine/mv:latest"), "docker.io/engine/mv"
            ),
            pin: TagLock(TagSource("ImageStreamImage", f"src@{OLD}", namespace="other")),
        }
    )
    scoped = Lock(tags={src: lock.tags[src]})
    policy = PrunePolicy(0, dt.timedelta(0))
    _, without = prune_lock(scoped, policy, NOW)
    assert [r.item.digest for r in without] == [OLD]  # what went wrong before
    _, removals = prune_lock(scoped, policy, NOW, (), pinned_images(lock))
    assert removals == []


class OnlyAt:
    """A client whose registry holds images under one repository only."""

    def __init__(self, repository: str) -> None:
        self.repository = repository
        self.asked: list[str] = []

    def resolve(self, request: ResolveRequest) -> Resolved:
        self.asked.append(str(request.reference))
        if request.reference.name == self.repository:
            return Resolved(
                request.reference.digest or "", "application/vnd.oci.image.manifest.v1+json"
            )
        raise e.ResolveError(e.NOT_FOUND, "manifest unknown", registry="x")


def test_local_policy_images_are_checked_where_they_came_from() -> None:
    ref = TagRef("toms-project", "lp", "latest")
    source = TagSource("DockerImage", "quay.io/engine/lp:latest", reference_policy="Local")
    entry = moved(source, "local.example/toms-project/lp", "quay.io/engine/lp:latest")
    client = OnlyAt("quay.io/engine/lp")
    missing, unknown = missing_images(
        Lock(tags={ref: entry}),
        RegistriesConf(),
        client,
        None,  # type: ignore[arg-type]
    )
    assert missing == set() and unknown == []
    assert client.asked == [f"quay.io/engine/lp@{OLD}"]
