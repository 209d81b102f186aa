"""Realistic GitOps repositories of any size, for the scale bench (``bench/scale.py``) and
the tests that check the fast paths against the full ones on the same shape.

The shape is a platform team's repo: namespaces of ~200 tags each; per application a
directory with an ImageStream of 3-5 scheduled tags plus an ``stable`` alias that follows
the first; every second application a DeploymentConfig with two containers and two
ImageChange triggers (plus ConfigChange) on its stream's tags; every other a BuildConfig
whose strategy builds from the stream's alias (ImageChange and ConfigChange triggers).
About 5 tags per stream, 2 objects per stream: a 10,000-tag repo holds ~4,000 objects in
~4,000 files.

Owns: the file texts, and which registry tags they name (``RepoShape.images``) so a caller
can push exactly those. Must not push or run git: the bench does (``testsupport.images``,
the git binary).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

TAGS_PER_TEAM = 200
VERSIONS = ("1.0", "1.1", "1.2", "2.0", "2.1")


@dataclass
class RepoShape:
    """What :func:`write_repo` wrote: counts, and ``images``: registry repository ->
    the tags manifests name in it (to push before a pass)."""

    tags: int = 0
    streams: int = 0
    deployment_configs: int = 0
    build_configs: int = 0
    files: int = 0
    bytes: int = 0
    images: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    @property
    def objects(self) -> int:
        return self.streams + self.deployment_configs + self.build_configs

    @property
    def scheduled(self) -> int:
        return sum(len(tags) for tags in self.images.values())


def _stream(name: str, namespace: str, host: str, repo: str, versions: list[str]) -> str:
    lines = [
        "apiVersion: image.openshift.io/v1",
        "kind: ImageStream",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {namespace}",
        "  labels:",
        f"    app: {name}",
        f"    team: {namespace}",
        "  annotations:",
        f"    openshift.io/display-name: {name} images",
        "spec:",
        "  lookupPolicy:",
        "    local: false",
        "  tags:",
    ]
    for version in versions:
        lines += [
            f'    - name: "{version}"',
            "      annotations:",
            f"        description: {name} release {version}",
            "      from:",
            "        kind: DockerImage",
            f"        name: {host}/{repo}:{name}-{version}",
            "      importPolicy:",
            "        scheduled: true",
            "        insecure: true",
            "        importMode: Legacy",
            "      referencePolicy:",
            "        type: Source",
        ]
    lines += [
        "    - name: stable",
        "      from:",
        "        kind: ImageStreamTag",
        f'        name: "{name}:{versions[0]}"',
        "      referencePolicy:",
        "        type: Source",
    ]
    return "\n".join(lines) + "\n"


def _deployment_config(name: str, namespace: str, stream: str, versions: list[str]) -> str:
    return f"""apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app: {stream}
spec:
  replicas: 2
  selector:
    deploymentconfig: {name}
  strategy:
    type: Rolling
  template:
    metadata:
      labels:
        deploymentconfig: {name}
    spec:
      containers:
        - name: web
          image: {stream}
          ports:
            - containerPort: 8080
              protocol: TCP
          resources:
            limits:
              memory: 512Mi
        - name: sidecar
          image: {stream}-sidecar
          imagePullPolicy: Always
  triggers:
    - type: ConfigChange
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames:
          - web
        from:
          kind: ImageStreamTag
          name: "{stream}:{versions[0]}"
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames:
          - sidecar
        from:
          kind: ImageStreamTag
          namespace: {namespace}
          name: "{stream}:{versions[1]}"
"""


def _build_config(name: str, namespace: str, stream: str, host: str, repo: str) -> str:
    return f"""apiVersion: build.openshift.io/v1
kind: BuildConfig
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    app: {stream}
spec:
  source:
    type: Git
    git:
      uri: https://git.example.com/{namespace}/{stream}.git
      ref: main
  strategy:
    type: Source
    sourceStrategy:
      from:
        kind: ImageStreamTag
        name: "{stream}:stable"
      incremental: true
  output:
    to:
      kind: DockerImage
      name: {host}/{repo}-builds:{stream}
  triggers:
    - type: ConfigChange
    - type: ImageChange
"""


def write_repo(root: Path, tags: int, host: str, prefix: str = "scale") -> RepoShape:
    """Write a repo of about ``tags`` image stream tags (aliases included) under
    ``root``; images are named ``{host}/{prefix}/{namespace}:{app}-{version}``.
    Deterministic: the same arguments write the same bytes."""
    shape = RepoShape()
    root.mkdir(parents=True, exist_ok=True)
    (root / ".reconciler.yaml").write_text("defaultNamespace: default\n")
    teams = max(1, tags // TAGS_PER_TEAM)
    index = 0
    while shape.tags < tags:
        scheduled = 3 + index % 3
        # The last stream takes only what is left (at least one scheduled tag + alias).
        scheduled = max(1, min(scheduled, tags - shape.tags - 1))
        versions = list(VERSIONS[:scheduled])
        namespace = f"team{index % teams:03d}"
        app = f"app{index:05d}"
        repo = f"{prefix}/{namespace}"
        directory = root / namespace / app
        directory.mkdir(parents=True, exist_ok=True)
        texts = {"imagestream.yaml": _stream(app, namespace, host, repo, versions)}
        shape.streams += 1
        shape.tags += scheduled + 1
        shape.images[repo].extend(f"{app}-{v}" for v in versions)
        if index % 2 == 0 and scheduled >= 2:
            texts["deploymentconfig.yaml"] = _deployment_config(app, namespace, app, versions)
            shape.deployment_configs += 1
        else:
            texts["buildconfig.yaml"] = _build_config(app, namespace, app, host, repo)
            shape.build_configs += 1
        for filename, text in texts.items():
            (directory / filename).write_text(text)
            shape.files += 1
            shape.bytes += len(text)
        index += 1
    return shape
