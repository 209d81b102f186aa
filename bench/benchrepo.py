"""What the benchmarks share: a bare git remote holding N scheduled tags of one
repository in S image streams, optionally with a DeploymentConfig per stream."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_out(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(
    tmp: Path, host: str, repo: str, tags: list[str], streams: int, *, deployments: bool = False
) -> Path:
    bare, seed = tmp / "remote.git", tmp / "seed"
    git_out("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=tmp)
    seed.mkdir()
    per = -(-len(tags) // streams)
    for s in range(streams):
        chunk = tags[s * per : (s + 1) * per]
        if not chunk:
            continue
        lines = ["apiVersion: image.openshift.io/v1", "kind: ImageStream", "metadata:"]
        lines += [f"  name: app{s}", "  namespace: bench", "spec:", "  tags:"]
        for tag in chunk:
            lines += [f'    - name: "{tag}"', "      from:", "        kind: DockerImage"]
            lines += [f"        name: {host}/{repo}:{tag}", "      importPolicy:"]
            lines += ["        insecure: true", "        scheduled: true"]
        (seed / f"app{s}.yaml").write_text("\n".join(lines) + "\n")
        if deployments:
            (seed / f"dc{s}.yaml").write_text(
                f"""apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {{name: web{s}, namespace: bench}}
spec:
  template: {{spec: {{containers: [{{name: web, image: app}}]}}}}
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [web]
        from: {{kind: ImageStreamTag, name: "app{s}:{chunk[0]}"}}
"""
            )
    git_out("init", "-q", "--initial-branch=main", cwd=seed)
    git_out("add", "-A", cwd=seed)
    git_out("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "bench", cwd=seed)
    git_out("push", "-q", str(bare), "main", cwd=seed)
    return bare
