"""Run the reconciler on sample-repo/ against a real local registry, as a new user would.

Starts a CNCF distribution registry on loopback, fills it with images standing in for
docker.io, quay.io, registry.marsrover.space, registry.spacedev.com and the cluster's
internal registry (a registries.conf redirects those names to it, the way a mirror
would), makes a bare git remote from sample-repo/, and then:

1. reconciles: every tag is pinned, trigger records open for marsview and example-app;
2. reconciles again: nothing changes, no commit;
3. pushes a new marsview:latest and bitnami/apache:2.4.59, and reconciles: the tag moves
   (old digest in history), one redeploy trigger opens; approved-apache:2, which picks the
   newest 2.x by its semver policy, moves from 2.4.58 to 2.4.59; the unscheduled
   my-python tag does not move;
4. lists the trigger records, the remote's history and the lockfile.

Everything lives under .work/sample/ (the remote stays there to look at); the registry
stops when the script ends.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from reconciler.cli import main as cli
from reconciler.core.platforms import Platform
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".work" / "sample"

# Logical registry -> repository prefix inside the local registry.
STAND_INS = {
    "docker.io": "dockerhub",
    "quay.io": "quay",
    "registry.marsrover.space": "marsrover",
    "registry.spacedev.com": "spacedev",
    "image-registry.openshift-image-registry.svc:5000": "internal",
}


def section(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m" if sys.stdout.isatty() else f"\n== {title}", flush=True)


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def make_remote() -> Path:
    remote = WORK / "remote.git"
    seed = WORK / "seed-checkout"
    git("init", "--bare", "--initial-branch=main", str(remote), cwd=WORK)
    shutil.copytree(ROOT / "sample-repo", seed)
    git("init", "--initial-branch=main", cwd=seed)
    git("add", "-A", cwd=seed)
    git(
        "-c",
        "user.name=Tom",
        "-c",
        "user.email=tom@example.com",
        "commit",
        "-qm",
        "Image streams, a build and a deployment",
        cwd=seed,
    )
    git("push", "-q", str(remote), "main", cwd=seed)
    return remote


def registries_conf(host: str) -> Path:
    lines = ['unqualified-search-registries = ["docker.io"]', ""]
    for logical, prefix in STAND_INS.items():
        lines += [
            "[[registry]]",
            f'prefix = "{logical}"',
            f'location = "{host}/{prefix}"',
            "insecure = true",
            "",
        ]
    path = WORK / "registries.conf"
    path.write_text("\n".join(lines))
    return path


def reconcile(remote: Path, conf: Path) -> int:
    return cli.main(
        [
            "reconcile",
            "--repo",
            str(remote),
            "--registries-conf",
            str(conf),
            "--workdir",
            str(WORK / "clone"),
        ]
    )


def main() -> int:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    with LocalRegistry() as registry:
        url = registry.url
        section(f"local registry at {registry.host}: pushing the sample images")
        pushes = [
            ("dockerhub/bitnami/apache", "2.4", "apache-2.4", None),
            ("dockerhub/bitnami/apache", "2.4.57", "apache-2.4.57", None),
            ("dockerhub/bitnami/apache", "2.4.58", "apache-2.4.58", None),
            ("quay/tdonohue/python-hello-world", "latest", "python-hello-1", None),
            ("marsrover/engine/marsview", "latest", "marsview-1", None),
            ("spacedev/engine/marsview", "develop", "marsview-dev-1", None),
            (
                "dockerhub/centos/nodejs-8-centos7",
                "latest",
                "nodejs-8",
                [Platform("linux", "amd64"), Platform("linux", "arm64")],
            ),
        ]
        for repository, tag, seed, platforms in pushes:
            digest = push_image(url, repository, tag, seed=seed, platforms=platforms)
            print(f"  {repository}:{tag}  {digest}")
        conf = registries_conf(registry.host)
        remote = make_remote()
        print(f"  git remote: {remote}\n  registries.conf: {conf}")

        section("pass 1: pin every tag, open triggers")
        codes = [reconcile(remote, conf)]

        section("pass 2: nothing changed")
        codes.append(reconcile(remote, conf))

        section("a new marsview:latest is pushed, and a build pushes example-app:latest")
        print("  " + push_image(url, "marsrover/engine/marsview", "latest", seed="marsview-2"))
        print("  " + push_image(url, "internal/toms-project/example-app", "latest", seed="app-1"))
        print(
            "  "
            + push_image(url, "quay/tdonohue/python-hello-world", "latest", seed="python-hello-2")
            + "  (my-python is not scheduled: it stays put)"
        )
        print(
            "  "
            + push_image(url, "dockerhub/bitnami/apache", "2.4.59", seed="apache-2.4.59")
            + "  (bitnami/apache:2.4.59: approved-apache:2 picks it by semver ^2)"
        )

        section("pass 3: marsview:latest moves, one redeploy opens, approved-apache:2 picks 2.4.59")
        codes.append(reconcile(remote, conf))

        section("trigger records")
        clone = WORK / "clone"
        codes.append(cli.main(["triggers", "list", "--repo", str(clone)]))

        section("the history of the remote")
        print(git("log", "--format=%h %an: %s", "main", cwd=remote))
        section(f"the lockfile ({clone / 'images.lock.yaml'})")
        print((clone / "images.lock.yaml").read_text())
    return max(codes)


if __name__ == "__main__":
    raise SystemExit(main())
