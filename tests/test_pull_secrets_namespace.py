"""Imports use every pull secret of the stream's namespace, as OpenShift's importer does
(no `oc secrets link`: that is for pods); a secret without a namespace is used where
.reconciler.yaml links it. When credentials are missing or refused, the error names each
secret looked at and why it did not apply: another namespace, not linked, keyed by
another host, a mirror location, excluded. Against a real htpasswd registry."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote, git

from reconciler.cli import main as cli
from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from reconciler.registry.credentials import AuthConfig, CredentialStore
from reconciler.registry.secretchoice import secrets_for
from testsupport.htpasswd import write_htpasswd
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
USER, PASSWORD = "puller", "pa55-w0rd-never-shown"
NS = "toms-project"
REF = TagRef(NS, "marsview", "latest")


@pytest.fixture(scope="module")
def private_registry(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalRegistry, str]]:
    directory = tmp_path_factory.mktemp("private")
    htpasswd = write_htpasswd(directory / "htpasswd", {USER: PASSWORD})
    auth = {"htpasswd": {"realm": "private", "path": str(htpasswd)}}
    with LocalRegistry(auth=auth) as registry, httpx.Client(auth=(USER, PASSWORD)) as http:
        digest = push_image(
            registry.url, "engine/marsview", "latest", seed="ns-secrets", client=http
        )
        yield registry, digest


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    for name in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "registries.conf").write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "registries.conf"))


def stream(image: str) -> str:
    return (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: marsview\n"
        f"spec:\n  tags:\n    - name: latest\n      from:\n        kind: DockerImage\n"
        f"        name: {image}\n      importPolicy:\n        insecure: true\n"
    )


def secret(
    directory: Path,
    name: str,
    host: str,
    *,
    namespace: str | None = None,
    password: str = PASSWORD,
    exclude: bool = False,
) -> None:
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    config = json.dumps({"auths": {host: {"auth": token}}})
    meta = f"  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace else "")
    if exclude:
        meta += '  annotations:\n    openshift.io/image.excludeSecret: "true"\n'
    directory.mkdir(exist_ok=True)
    (directory / f"{namespace or 'none'}-{name}.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata:\n{meta}type: kubernetes.io/dockerconfigjson\n"
        f"data:\n  .dockerconfigjson: {base64.b64encode(config.encode()).decode()}\n"
    )


def reconcile(remote: GitRemote, tmp: Path, secrets: Path) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    code = cli.main(
        [
            "reconcile", "--repo", remote.url, "--cache-dir", str(tmp / "cache"),
            "--pull-secrets-dir", str(secrets), "-o", "json",
        ],
        out,
    )  # fmt: skip
    return code, json.loads(out.getvalue())


def failure(data: Mapping[str, object]) -> str:
    failures = data["failures"]
    assert isinstance(failures, dict), data
    message = failures[str(REF)]["message"]
    assert isinstance(message, str)
    return message


def test_every_secret_of_the_namespace_is_used_without_a_link(
    private_registry: tuple[LocalRegistry, str], make_remote: MakeRemote, tmp_path: Path
) -> None:
    registry, digest = private_registry
    secrets = tmp_path / "secrets"
    secret(secrets, "quay-pull", "quay.io", namespace=NS)  # another host: skipped
    secret(secrets, "mars-pull", registry.host, namespace=NS)
    remote = make_remote(
        {
            ".reconciler.yaml": f"defaultNamespace: {NS}\n",
            "is.yaml": stream(f"{registry.host}/engine/marsview:latest"),
        }
    )
    code, data = reconcile(remote, tmp_path, secrets)
    assert code == 0, data
    entry = parse_lock(remote.show("images.lock.yaml")).get(REF)
    assert entry is not None and entry.digest == digest


def test_missing_credentials_say_why_each_secret_did_not_apply(
    private_registry: tuple[LocalRegistry, str], make_remote: MakeRemote, tmp_path: Path
) -> None:
    registry, _ = private_registry
    secrets = tmp_path / "secrets"
    secret(secrets, "mars-pull", registry.host, namespace="other-team")
    secret(secrets, "unlinked", registry.host)
    secret(secrets, "quay-pull", "quay.io", namespace=NS)
    secret(secrets, "excluded", registry.host, namespace=NS, exclude=True)
    remote = make_remote(
        {
            ".reconciler.yaml": f"defaultNamespace: {NS}\n",
            "is.yaml": stream(f"{registry.host}/engine/marsview:latest"),
        }
    )
    code, data = reconcile(remote, tmp_path, secrets)
    assert code == 1
    message = failure(data)
    assert "no credentials are configured" in message, message
    assert f"pull secret {NS}/quay-pull: keyed by another host (quay.io)" in message
    assert "pull secret other-team/mars-pull: in namespace other-team, not toms-project" in message
    assert f"pull secret unlinked: not linked to {NS} (it has no metadata.namespace" in message
    assert (
        f'pull secret {NS}/excluded: annotated openshift.io/image.excludeSecret: "true"' in message
    )
    assert PASSWORD not in json.dumps(data)

    # Linking the namespace-less secret (.reconciler.yaml pullSecrets) makes it apply.
    git("pull", "-q", "--rebase", "origin", "main", cwd=remote.human)
    (remote.human / ".reconciler.yaml").write_text(
        f"defaultNamespace: {NS}\npullSecrets:\n  {NS}: [unlinked]\n"
    )
    git("commit", "-qam", "link", cwd=remote.human)
    git("push", "-q", "origin", "main", cwd=remote.human)
    code, data = reconcile(remote, tmp_path, secrets)
    assert code == 0, data


def test_refused_credentials_name_the_secret(
    private_registry: tuple[LocalRegistry, str], make_remote: MakeRemote, tmp_path: Path
) -> None:
    registry, _ = private_registry
    secrets = tmp_path / "secrets"
    secret(secrets, "mars-pull", registry.host, namespace=NS, password="not-the-password")
    remote = make_remote(
        {
            ".reconciler.yaml": f"defaultNamespace: {NS}\n",
            "is.yaml": stream(f"{registry.host}/engine/marsview:latest"),
        }
    )
    code, data = reconcile(remote, tmp_path, secrets)
    assert code == 1
    message = failure(data)
    assert "rejected the credentials from" in message and "secret mars-pull" in message, message
    assert f"pull secret {NS}/mars-pull: has credentials for {registry.host}" in message
    assert "not-the-password" not in json.dumps(data)


def test_a_secret_keyed_by_the_logical_name_does_not_follow_a_mirror_location(
    private_registry: tuple[LocalRegistry, str],
    make_remote: MakeRemote,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry, _ = private_registry
    conf = tmp_path / "mirror.conf"
    conf.write_text(
        '[[registry]]\nprefix = "registry.marsrover.space"\n'
        f'location = "{registry.host}"\ninsecure = true\n'
    )
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    secrets = tmp_path / "secrets"
    secret(secrets, "mars-pull", "registry.marsrover.space", namespace=NS)
    remote = make_remote(
        {
            ".reconciler.yaml": f"defaultNamespace: {NS}\n",
            "is.yaml": stream("registry.marsrover.space/engine/marsview:latest"),
        }
    )
    code, data = reconcile(remote, tmp_path, secrets)
    assert code == 1
    message = failure(data)
    assert (
        f"pull secret {NS}/mars-pull: keyed by registry.marsrover.space, but the request went "
        "to a mirror location of it"
    ) in message, message
    assert registry.host not in message  # the lock names the logical registry only


def test_secrets_for_orders_linked_first_then_the_namespace() -> None:
    def config(namespace: str | None, excluded: bool = False) -> AuthConfig:
        return AuthConfig("test", namespace=namespace, excluded=excluded)

    secrets = {
        "a/zeta": config("a"),
        "a/alpha": config("a"),
        "a/off": config("a", excluded=True),
        "b/alpha": config("b"),
        "loose": config(None),
        "spare": config(None),
    }
    assert secrets_for(secrets, "a", ["loose", "zeta", "missing"]) == (
        "loose", "a/zeta", "a/alpha",
    )  # fmt: skip
    assert secrets_for(secrets, "b") == ("b/alpha",)
    assert CredentialStore(secrets=secrets).secrets_for("c", ["spare", "off"]) == ("spare",)
