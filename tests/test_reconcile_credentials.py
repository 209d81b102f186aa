"""The pass with the machine's credentials and import policy: an htpasswd registry
resolved with an auth file or with a namespace's linked pull secret, wrong credentials
recorded without the secret, and allowedRegistriesForImport refusing a registry without
a request."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote

from reconciler.cli import main as cli
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from testsupport.htpasswd import write_htpasswd
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
USER, PASSWORD = "puller", "pa55-w0rd-never-shown"


@pytest.fixture(scope="module")
def private_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalRegistry, str]]:
    directory = tmp_path_factory.mktemp("private")
    htpasswd = write_htpasswd(directory / "htpasswd", {USER: PASSWORD})
    auth = {"htpasswd": {"realm": "private", "path": str(htpasswd)}}
    with LocalRegistry(auth=auth) as registry, httpx.Client(auth=(USER, PASSWORD)) as http:
        digest = push_image(registry.url, "engine/marsview", "latest", seed="mars", client=http)
        yield registry, digest


def manifests(host: str, namespace: str = "toms-project") -> dict[str, str]:
    return {
        ".reconciler.yaml": f"defaultNamespace: {namespace}\npullSecrets:\n  {namespace}: [my-mars-secret]\n",
        "marsview.yaml": f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: marsview
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {host}/engine/marsview:latest
      importPolicy:
        insecure: true
""",
    }


def auth_json(host: str, user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": token}}})


def reconcile(remote: GitRemote, tmp: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(
        [
            "reconcile",
            "--repo",
            remote.url,
            "--cache-dir",
            str(tmp / "cache"),
            "-o",
            "json",
            *extra,
        ],
        out=out,
    )
    return code, out.getvalue()


def digest_of(remote: GitRemote) -> tuple[str | None, str | None]:
    entry = parse_lock(remote.show("images.lock.yaml")).get(
        TagRef("toms-project", "marsview", "latest")
    )
    assert entry is not None
    return entry.digest, entry.condition.reason if entry.condition else None


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Only what the test names may supply credentials.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "no-registries.conf"))
    (tmp_path / "no-registries.conf").write_text("")


def test_auth_file_credentials(
    private_registry: tuple[LocalRegistry, str], make_remote: MakeRemote, tmp_path: Path
) -> None:
    registry, digest = private_registry
    remote = make_remote(manifests(registry.host))

    code, out = reconcile(remote, tmp_path / "anon")
    assert code == 1
    assert digest_of(remote) == (None, "Unauthorized")
    assert registry.host in json.loads(out)["failures"]["toms-project/marsview:latest"]["message"]

    wrong = tmp_path / "wrong.json"
    wrong.write_text(auth_json(registry.host, USER, "not-the-password"))
    code, out = reconcile(remote, tmp_path / "wrong", "--authfile", str(wrong))
    assert code == 1 and "not-the-password" not in out
    assert "not-the-password" not in remote.show("images.lock.yaml")

    good = tmp_path / "auth.json"
    good.write_text(auth_json(registry.host, USER, PASSWORD))
    code, out = reconcile(remote, tmp_path / "good", "--authfile", str(good))
    assert code == 0, out
    assert digest_of(remote) == (digest, None)
    for text in (out, remote.show("images.lock.yaml"), "\n".join(remote.log())):
        assert PASSWORD not in text


def test_linked_pull_secret(
    private_registry: tuple[LocalRegistry, str], make_remote: MakeRemote, tmp_path: Path
) -> None:
    """The repo names the secret (`oc secrets link`); the machine holds its contents."""
    registry, digest = private_registry
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    config = base64.b64encode(auth_json(registry.host, USER, PASSWORD).encode()).decode()
    (secrets / "my-mars-secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: my-mars-secret\n"
        "type: kubernetes.io/dockerconfigjson\n"
        f"data:\n  .dockerconfigjson: {config}\n"
    )
    remote = make_remote(manifests(registry.host))
    code, out = reconcile(remote, tmp_path, "--pull-secrets-dir", str(secrets))
    assert code == 0, out
    assert digest_of(remote) == (digest, None)


def test_allowed_registries_refuse_without_a_request(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path
) -> None:
    push_image(local_registry.url, "engine/marsview", "latest", seed="allowed")
    allowed = tmp_path / "allowed.yaml"
    allowed.write_text("- domainName: quay.io\n")
    remote = make_remote(manifests(local_registry.host))
    code, out = reconcile(remote, tmp_path, "--allowed-registries-for-import", str(allowed))
    data = json.loads(out)
    assert code == 1
    assert data["skipped"] == ["ImageStream/toms-project/marsview"]
    assert any(
        e.startswith(
            "marsview.yaml:10:9: ImageStream/toms-project/marsview: spec.tags[0].from.name: not allowed for import"
        )
        for e in data["errors"]
    ), data["errors"]
    assert data["requested"] == []

    out2 = io.StringIO()
    code = cli.main(
        ["validate", str(remote.human), "--allowed-registries-for-import", str(allowed)], out=out2
    )
    assert code == 1 and "not allowed for import" in out2.getvalue()
