"""The seed's flow end to end with the oc-style verbs, against real docker-registry
processes and a bare git remote: import-image through a search registry, tag from a
second registry, describe, new-app, a new push, reconcile, describe again, prune."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote, git

from reconciler.cli import main as cli
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from testsupport.htpasswd import write_htpasswd
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

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

    # 4. new-app: a Deployment following the tag, and a Service for the exposed ports
    code, text = run("new-app", "--image-stream=approved-apache:2.4", "--repo", repo, "--commit")
    assert code == 0, text
    app = (remote.human / "deployments/approved-apache.yaml").read_text()
    assert "kind: Deployment\n" in app and "kind: Service" in app
    assert "image.openshift.io/triggers:" in app
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
    assert list((remote.human / "triggers").glob("deploy-approved-apache-*.yaml"))

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
    from testsupport.images import push_tags

    # By name the cap would take 1.10, 1.2 and 1.9; OpenShift takes latest, then the
    # newest versions (library-go imageutil.PrioritizeTags).
    push_tags(
        local_registry.url, unique_repo, ["1.9", "1.10", "1.2", "edge", "latest"], unique_repo
    )
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".reconciler.yaml").write_text("defaultNamespace: default\n")  # a checkout
    code, text = run(
        "import-image", "many", f"--from={local_registry.host}/{unique_repo}", "--all",
        "--insecure", "--max-images=3", "--confirm", "--repo", str(repo),
    )  # fmt: skip
    assert code == 0, text
    lock = parse_lock((repo / "images.lock.yaml").read_bytes())
    assert sorted(r.tag for r in lock.tags) == ["1.10", "1.9", "latest"]
    manifest = (repo / "imagestreams/many.yaml").read_text()
    assert manifest.count("insecure: true") == 3


def test_docker_image_repository_is_refused_then_imported(
    local_registry: LocalRegistry, unique_repo: str, tmp_path: Path
) -> None:
    """A stream with spec.dockerImageRepository is refused (exit 1, the error says what to
    run); ``import-image NAME --all --confirm`` imports its tags from it and removes it."""
    from testsupport.images import push_tags

    push_tags(local_registry.url, unique_repo, ["1.0", "1.1", "latest"], unique_repo)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "complex.yaml").write_text(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: complex\n"
        f"spec:\n  dockerImageRepository: {local_registry.host}/{unique_repo}\n"
    )
    out = io.StringIO()
    assert cli.main(["validate", str(repo)], out) == 1
    assert "run `reconciler import-image complex --all --confirm`" in out.getvalue()

    code, text = run(
        "import-image", "complex", "--all", "--insecure", "--max-images=2", "--confirm",
        "--repo", str(repo),
    )  # fmt: skip
    assert code == 0, text
    manifest = (repo / "complex.yaml").read_text()
    assert "dockerImageRepository" not in manifest
    lock = parse_lock((repo / "images.lock.yaml").read_bytes())
    assert sorted(r.tag for r in lock.tags) == ["1.1", "latest"]
    assert cli.main(["validate", str(repo)], io.StringIO()) == 0


def test_verbs_use_the_machines_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """import-image --all, new-app and prune ask through the one registry client, with
    the auth files and the pull secrets linked to the namespace."""
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))
    (tmp_path / "registries.conf").write_text("")
    user, password = "puller", "pa55-w0rd-never-shown"
    htpasswd = write_htpasswd(tmp_path / "htpasswd", {user: password})
    auth = {"htpasswd": {"realm": "private", "path": str(htpasswd)}}
    with LocalRegistry(auth=auth) as registry, httpx.Client(auth=(user, password)) as http:
        for tag in ("1", "2"):
            push_image(
                registry.url, "engine/app", tag, seed=tag, exposed_ports=["8080/tcp"], client=http
            )
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        config = json.dumps({"auths": {registry.host: {"auth": token}}})
        authfile = tmp_path / "auth.json"
        authfile.write_text(config)
        secrets = tmp_path / "secrets"
        secrets.mkdir()
        (secrets / "app-pull.yaml").write_text(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app-pull\n"
            "type: kubernetes.io/dockerconfigjson\n"
            f"data:\n  .dockerconfigjson: {base64.b64encode(config.encode()).decode()}\n"
        )
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / ".reconciler.yaml").write_text(
            f"defaultNamespace: {NS}\npullSecrets:\n  {NS}: [app-pull]\n"
        )
        source = f"--from={registry.host}/engine/app"
        where = ("--repo", str(repo))

        # anonymous: the tag list is refused
        code, _ = run("import-image", "app", source, "--all", "--insecure", "--confirm", *where)
        assert code == 1
        err = capsys.readouterr().err
        assert "cannot list the tags" in err and "credentials" in err, err

        # the namespace's linked pull secret
        code, text = run(
            "import-image", "app", source, "--all", "--insecure", "--confirm", *where,
            "--pull-secrets-dir", str(secrets),
        )  # fmt: skip
        assert code == 0, text
        lock = parse_lock((repo / "images.lock.yaml").read_bytes())
        assert sorted(r.tag for r in lock.tags) == ["1", "2"]

        # new-app reads the image config with an auth file
        code, text = run(
            "new-app", "--image-stream=app:1", "--dry-run", *where, "--authfile", str(authfile)
        )
        assert code == 0, text
        assert "8080" in text

        # prune checks the old image of app:1 (moved) with credentials, else keeps it
        push_image(registry.url, "engine/app", "1", seed="1b", client=http)
        code, text = run("import-image", "app:1", "--confirm", *where, "--authfile", str(authfile))
        assert code == 0, text
        capsys.readouterr()
        code, text = run("prune", "--keep-tag-revisions=1", "--keep-younger-than=0s", *where)
        assert code == 0 and "would remove 1 history entry" in text
        assert "could not check" in capsys.readouterr().err
        code, text = run(
            "prune", "--keep-tag-revisions=1", "--keep-younger-than=0s", *where,
            "--authfile", str(authfile),
        )  # fmt: skip
        assert code == 0 and "would remove 1 history entry" in text
        assert "could not check" not in capsys.readouterr().err


def test_a_verb_asks_each_tag_once_and_nothing_else(
    make_remote: MakeRemote,
    local_registry: LocalRegistry,
    unique_repo: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """import-image --confirm previews and pins with the same answers (one request per
    tag), and never asks about another stream's scheduled tags: a verb that edits one
    stream moves nothing else."""
    from reconciler.registry.client import RegistryClient

    push_image(local_registry.url, f"{unique_repo}/app", "1", seed=f"{unique_repo}-app")
    push_image(local_registry.url, f"{unique_repo}/other", "1", seed=f"{unique_repo}-other")
    other = (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: other\n"
        "spec:\n  tags:\n  - name: '1'\n    from:\n      kind: DockerImage\n"
        f"      name: {local_registry.host}/{unique_repo}/other:1\n"
        "    importPolicy:\n      scheduled: true\n      insecure: true\n"
    )
    remote = make_remote(
        {".reconciler.yaml": f"defaultNamespace: {NS}\n", "imagestreams/other.yaml": other}
    )
    asked: list[str] = []
    real = RegistryClient.resolve_many

    def counting(self: RegistryClient, requests: list, *a: object, **k: object):  # type: ignore[no-untyped-def,type-arg]
        asked.extend(str(r.reference) for r in requests)
        return real(self, requests, *a, **k)

    monkeypatch.setattr(RegistryClient, "resolve_many", counting)
    code, text = run(
        "import-image", "app:1", f"--from={local_registry.host}/{unique_repo}/app:1",
        "--insecure", "--confirm", "--repo", str(remote.human),
    )  # fmt: skip
    assert code == 0, text
    assert asked == [f"{local_registry.host}/{unique_repo}/app:1"], asked
    lock = parse_lock((remote.human / "images.lock.yaml").read_bytes())
    assert lock.get(TagRef(NS, "app", "1")) is not None
    assert lock.get(TagRef(NS, "other", "1")) is None  # the pass's to pin, not this verb's
