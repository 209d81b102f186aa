"""The seed's flow end to end with the oc-style verbs, against real docker-registry
processes and a bare git remote: import-image through a search registry, tag from a
second registry, describe, new-app, a new push, reconcile, describe again, prune."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from git_fixtures import GitRemote, git

from reconciler import cli
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from reconciler.devregistry import LocalRegistry, push_image

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
NS = "toms-project"


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out)
    return code, out.getvalue()


def test_seed_flow(
    make_remote: MakeRemote,
    local_registry: LocalRegistry,
    fresh_registry: LocalRegistry,
    unique_repo: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # docker.io, the search registry, is the local registry (under a prefix of our own).
    apache = push_image(
        local_registry.url,
        f"{unique_repo}/bitnami/apache",
        "2.4",
        seed=f"{unique_repo}-apache",
        exposed_ports=["8080/tcp", "8443/tcp"],
        labels={"io.openshift.expose-services": "8080:http"},
    )
    conf = tmp_path / "registries.conf"
    conf.write_text(
        'unqualified-search-registries = ["docker.io"]\n\n[[registry]]\nprefix = "docker.io"\n'
        f'location = "{local_registry.host}/{unique_repo}"\ninsecure = true\n'
    )
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    remote = make_remote({".reconciler.yaml": f"defaultNamespace: {NS}\n"})
    repo = str(remote.human)

    # 1. oc import-image approved-apache:2.4 --from=bitnami/apache:2.4 --confirm
    code, text = run(
        "import-image", "approved-apache:2.4", "--from=bitnami/apache:2.4", "--confirm",
        "--repo", repo, "--commit",
    )  # fmt: skip
    assert code == 0, text
    assert f"docker.io/bitnami/apache@{apache}" in text
    manifest = (remote.human / "imagestreams/approved-apache.yaml").read_text()
    assert 'name: "2.4"' in manifest and "name: bitnami/apache:2.4" in manifest

    # 2. a develop tag from a second registry, re-checked on every pass
    develop = f"{fresh_registry.host}/engine/apache:develop"
    first = push_image(fresh_registry.url, "engine/apache", "develop", seed="develop-1")
    code, text = run(
        "tag", develop, "approved-apache:develop", "--scheduled", "--insecure",
        "--repo", repo, "--commit",
    )  # fmt: skip
    assert code == 0, text
    assert "set to import" in text

    # 3. describe shows both tags
    code, text = run("describe", "is/approved-apache", "--repo", repo)
    assert code == 0, text
    assert f"updates automatically from registry {develop}" in text
    assert "tagged from bitnami/apache:2.4" in text
    assert "Tags:              2" in text

    # 4. new-app: a DeploymentConfig and a Service for the exposed ports
    code, text = run("new-app", "--image-stream=approved-apache:2.4", "--repo", repo, "--commit")
    assert code == 0, text
    app = (remote.human / "deployments/approved-apache.yaml").read_text()
    assert "kind: DeploymentConfig" in app and "kind: Service" in app
    assert "name: http" in app and "port: 8443" in app
    git("push", "-q", "origin", "HEAD:main", cwd=remote.human)
    assert [line.split("|")[1].split()[1] for line in remote.log()[:3]] == [
        "new-app",
        "tag",
        "import-image",
    ]

    # 5. a new image on the develop tag; a reconcile pass moves it
    second = push_image(fresh_registry.url, "engine/apache", "develop", seed="develop-2")
    assert second != first
    code, text = run(
        "reconcile", "--repo", remote.url, "--registries-conf", str(conf),
        "--workdir", str(tmp_path / "clone"),
    )  # fmt: skip
    assert code == 0, text
    git("pull", "-q", "origin", "main", cwd=remote.human)
    lock = parse_lock((remote.human / "images.lock.yaml").read_bytes())
    entry = lock.get(TagRef(NS, "approved-apache", "develop"))
    assert entry is not None and [h.digest for h in entry.history] == [second, first]
    assert list((remote.human / "triggers").glob("dc-approved-apache-*.yaml"))

    # 6. describe shows the two history entries, newest (current) first
    code, text = run("describe", "is/approved-apache", "--repo", repo)
    assert code == 0, text
    assert f"  * {fresh_registry.host}/engine/apache@{second}" in text
    assert f"    {fresh_registry.host}/engine/apache@{first}" in text
    code, text = run("describe", "is/approved-apache", "--repo", repo, "-o", "json")
    data = json.loads(text)
    tags = {t["name"]: t for t in data["tags"]}
    assert [i["digest"] for i in tags["develop"]["items"]] == [second, first]
    assert data["uniqueImages"] == 3

    # 7. prune --keep-tag-revisions=1 --confirm leaves one (an hour later: past 60m)
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, text = run(
        "prune", "--keep-tag-revisions=1", "--confirm", "--repo", repo, "--now", later, "--commit"
    )
    assert code == 0, text
    lock = parse_lock((remote.human / "images.lock.yaml").read_bytes())
    entry = lock.get(TagRef(NS, "approved-apache", "develop"))
    assert entry is not None and [h.digest for h in entry.history] == [second]
    assert entry.digest == second
    code, text = run("get", "images", "--repo", repo)
    assert first not in text and second in text and apache in text


def test_import_all_tags_up_to_the_bulk_limit(
    local_registry: LocalRegistry, unique_repo: str, tmp_path: Path
) -> None:
    from reconciler.devregistry import push_tags

    push_tags(local_registry.url, unique_repo, [f"v{i}" for i in range(5)], unique_repo)
    repo = tmp_path / "repo"
    repo.mkdir()
    code, text = run(
        "import-image", "many", f"--from={local_registry.host}/{unique_repo}", "--all",
        "--insecure", "--max-images=3", "--confirm", "--repo", str(repo),
    )  # fmt: skip
    assert code == 0, text
    lock = parse_lock((repo / "images.lock.yaml").read_bytes())
    assert sorted(r.tag for r in lock.tags) == ["v0", "v1", "v2"]
    manifest = (repo / "imagestreams/many.yaml").read_text()
    assert manifest.count("insecure: true") == 3
