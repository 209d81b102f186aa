"""RegistryClient against real docker-registry processes that demand credentials: htpasswd
Basic auth, token auth with a token server the test runs (JWT RS256, x5c chain trusted via
the registry's rootcertbundle), and both over TLS with a test CA. Credentials come from each
source the ecosystem keeps them in; failures name the registry and never the secret."""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from reconciler.core.references import parse_image_reference
from reconciler.registry.authfiles import load_credential_store
from reconciler.registry.client import RegistryClient
from reconciler.registry.credentials import CredentialStore
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import RegistryLimits
from reconciler.registry.models import Resolved, ResolveRequest
from testsupport.certs import make_test_ca
from testsupport.htpasswd import write_htpasswd
from testsupport.images import push_image
from testsupport.registry import LocalRegistry
from testsupport.tokens import TokenServer

pytestmark = pytest.mark.integration

USER, PASSWORD = "alice", "pw-Secret-9f2c1"
WRONG = "wrong-Secret-77ab"
IDENTITY_TOKEN = "idtok-Secret-31d0"
QUICK = RegistryLimits(backoff_base=0.01, backoff_cap=0.05)


@dataclass
class Env:
    registry: LocalRegistry
    digests: dict[str, str]
    tokens: TokenServer | None = None
    ca: Path | None = None


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture(scope="module")
def basic_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("htpasswd")
    htpasswd = write_htpasswd(directory / "htpasswd", {USER: PASSWORD})
    auth = {"htpasswd": {"realm": "test-registry", "path": str(htpasswd)}}
    with LocalRegistry(auth=auth) as registry, httpx.Client(auth=(USER, PASSWORD)) as http:
        digests = {
            tag: push_image(registry.url, "team/app", tag, seed=f"basic-{tag}", client=http)
            for tag in ("v1", "v2")
        }
        yield Env(registry, digests)


@pytest.fixture(scope="module")
def token_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("token")
    with (
        TokenServer(directory, {USER: PASSWORD}, identity_tokens={IDENTITY_TOKEN: USER}) as tokens,
        LocalRegistry(auth={"token": tokens.registry_auth_config()}) as registry,
    ):
        push_token = tokens.issue(USER, ["repository:team/app:pull,push"])
        with httpx.Client(headers={"Authorization": f"Bearer {push_token}"}) as http:
            digests = {
                tag: push_image(registry.url, "team/app", tag, seed=f"token-{tag}", client=http)
                for tag in ("v1", "v2", "v3")
            }
        yield Env(registry, digests, tokens)


@pytest.fixture(scope="module")
def tls_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    directory = tmp_path_factory.mktemp("tls-auth")
    ca, cert, key = make_test_ca(directory)
    with (
        TokenServer(directory, {USER: PASSWORD}, tls=(cert, key)) as tokens,
        LocalRegistry(
            tls=(cert, key), tls_ca=ca, auth={"token": tokens.registry_auth_config()}
        ) as registry,
    ):
        push_token = tokens.issue(USER, ["repository:team/app:pull,push"])
        with httpx.Client(
            headers={"Authorization": f"Bearer {push_token}"}, verify=_context(ca)
        ) as http:
            digest = push_image(registry.url, "team/app", "v1", seed="tls-v1", client=http)
        yield Env(registry, {"v1": digest}, tokens, ca)


def _context(ca: Path) -> object:
    import ssl

    return ssl.create_default_context(cafile=str(ca))


def request(
    env: Env, tag: str, *, secrets: tuple[str, ...] = (), insecure: bool = True
) -> ResolveRequest:
    reference = parse_image_reference(f"{env.registry.host}/team/app:{tag}")
    return ResolveRequest(reference, insecure=insecure, pull_secrets=secrets)


def client(store: CredentialStore | None, **kwargs: object) -> RegistryClient:
    return RegistryClient(
        max_concurrency=4,
        timeout=5.0,
        credentials=store,
        default_limits=QUICK,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_no_secret(error: ResolveError) -> None:
    for text in (str(error), repr(error), error.message):
        for secret in (PASSWORD, WRONG, IDENTITY_TOKEN, b64(f"{USER}:{PASSWORD}")):
            assert secret not in text


# -- credential sources, each against the htpasswd registry ----------------------------------


def docker_config(host: str, password: str) -> dict[str, object]:
    return {"auths": {host: {"auth": b64(f"{USER}:{password}")}}}


def helper_script(directory: Path, answers: dict[str, tuple[str, str]]) -> Path:
    """A docker-credential-testhelper on a PATH of its own, answering from ``answers``."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    script = bin_dir / "docker-credential-testhelper"
    table = {url: {"ServerURL": url, "Username": u, "Secret": s} for url, (u, s) in answers.items()}
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"table = {json.dumps(table)!r}\n"
        "assert sys.argv[1:] == ['get']\n"
        "url = sys.stdin.read().strip()\n"
        "found = json.loads(table).get(url)\n"
        "if found is None:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(found))\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return bin_dir


SOURCES = ["docker-config", "auth-json", "k8s-secret-yaml", "k8s-secret-mounted", "cred-helper"]


def store_for(source: str, host: str, directory: Path) -> tuple[CredentialStore, tuple[str, ...]]:
    """A store holding the right credential in ``source`` only (others empty)."""
    env = {"HOME": str(directory / "home")}
    if source == "docker-config":
        (directory / "docker").mkdir()
        (directory / "docker" / "config.json").write_text(json.dumps(docker_config(host, PASSWORD)))
        env["DOCKER_CONFIG"] = str(directory / "docker")
        return load_credential_store(env), ()
    if source == "auth-json":
        path = directory / "auth.json"
        # auth.json keyed by namespace, with username/password fields: most specific match.
        path.write_text(
            json.dumps(
                {
                    "auths": {
                        host: {"auth": b64(f"{USER}:{WRONG}")},
                        f"{host}/team": {"username": USER, "password": PASSWORD},
                    }
                }
            )
        )
        env["REGISTRY_AUTH_FILE"] = str(path)
        return load_credential_store(env), ()
    if source.startswith("k8s-secret"):
        secrets = directory / "secrets"
        secrets.mkdir()
        dockerconfigjson = json.dumps(docker_config(f"https://{host}/v1/", PASSWORD))
        if source == "k8s-secret-yaml":
            (secrets / "pull.yaml").write_text(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: team-pull\n"
                "type: kubernetes.io/dockerconfigjson\ndata:\n"
                f"  .dockerconfigjson: {b64(dockerconfigjson)}\n"
            )
        else:
            (secrets / "team-pull").mkdir()
            (secrets / "team-pull" / ".dockerconfigjson").write_text(dockerconfigjson)
        return load_credential_store(env, secrets_dir=secrets), ("team-pull",)
    if source == "cred-helper":
        bin_dir = helper_script(directory, {host: (USER, PASSWORD)})
        (directory / "docker").mkdir()
        (directory / "docker" / "config.json").write_text(
            json.dumps({"auths": {}, "credHelpers": {host: "testhelper"}})
        )
        env["DOCKER_CONFIG"] = str(directory / "docker")
        env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
        return load_credential_store(env), ()
    raise AssertionError(source)


@pytest.mark.parametrize("source", SOURCES)
def test_basic_auth_with_credentials_from_each_source(
    basic_env: Env, tmp_path: Path, source: str
) -> None:
    store, secrets = store_for(source, basic_env.registry.host, tmp_path)
    with client(store) as c:
        results = c.resolve_many([request(basic_env, t, secrets=secrets) for t in ("v1", "v2")])
    assert {r.reference.tag: v for r, v in results.items()} == {
        tag: Resolved(digest, "application/vnd.oci.image.manifest.v1+json")
        for tag, digest in basic_env.digests.items()
    }


@pytest.mark.parametrize("source", SOURCES)
def test_token_auth_with_credentials_from_each_source(
    token_env: Env, tmp_path: Path, source: str
) -> None:
    assert token_env.tokens is not None
    store, secrets = store_for(source, token_env.registry.host, tmp_path)
    before = len(token_env.tokens.requests)
    with client(store) as c:
        results = c.resolve_many(
            [request(token_env, t, secrets=secrets) for t in ("v1", "v2", "v3")]
        )
    for req, outcome in results.items():
        assert isinstance(outcome, Resolved), outcome
        assert outcome.digest == token_env.digests[req.reference.tag or ""]
    # One token for the repository, fetched with the user's credentials.
    assert token_env.tokens.requests[before:] == [(USER, "repository:team/app:pull", "basic")]


def test_basic_auth_without_credentials_names_registry(basic_env: Env, tmp_path: Path) -> None:
    with client(CredentialStore()) as c, pytest.raises(ResolveError) as info:
        c.resolve(request(basic_env, "v1"))
    error = info.value
    assert error.reason == "Unauthorized" and error.retryable is False
    assert basic_env.registry.host in error.message
    assert "no credentials are configured" in error.message


def test_basic_auth_wrong_password_is_clear_and_secret_free(basic_env: Env, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(docker_config(basic_env.registry.host, WRONG)))
    store = load_credential_store({}, auth_files=[path])
    with client(store) as c, pytest.raises(ResolveError) as info:
        c.resolve(request(basic_env, "v1"))
    error = info.value
    assert error.reason == "Unauthorized"
    assert f"{basic_env.registry.host} rejected the credentials from {path}" in error.message
    assert_no_secret(error)


def test_token_auth_wrong_password_is_clear_and_secret_free(token_env: Env, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(docker_config(token_env.registry.host, WRONG)))
    store = load_credential_store({}, auth_files=[path])
    with client(store) as c, pytest.raises(ResolveError) as info:
        c.resolve(request(token_env, "v1"))
    error = info.value
    assert error.reason == "Unauthorized"
    assert token_env.registry.host in error.message
    assert "rejected the credentials" in error.message and str(path) in error.message
    assert_no_secret(error)


def test_token_auth_anonymous_gets_no_access(token_env: Env) -> None:
    with client(None) as c, pytest.raises(ResolveError) as info:
        c.resolve(request(token_env, "v1"))
    error = info.value
    assert error.reason == "Unauthorized"
    assert token_env.registry.host in error.message
    assert "no credentials are configured" in error.message


def test_token_auth_with_identity_token(token_env: Env, tmp_path: Path) -> None:
    assert token_env.tokens is not None
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"auths": {token_env.registry.host: {"identitytoken": IDENTITY_TOKEN}}})
    )
    before = len(token_env.tokens.requests)
    with client(load_credential_store({}, auth_files=[path])) as c:
        assert c.resolve(request(token_env, "v2")).digest == token_env.digests["v2"]
    assert token_env.tokens.requests[before:] == [
        (USER, "repository:team/app:pull", "refresh_token")
    ]


# -- TLS with a test CA: registry and token realm both https --------------------------------


def test_tls_token_auth_with_test_ca(tls_env: Env, tmp_path: Path) -> None:
    assert tls_env.ca is not None
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(docker_config(tls_env.registry.host, PASSWORD)))
    store = load_credential_store({}, auth_files=[path])
    with client(store, verify=str(tls_env.ca)) as c:
        resolved = c.resolve(request(tls_env, "v1", insecure=False))
    assert resolved.digest == tls_env.digests["v1"]


def test_tls_without_the_ca_fails_verification(tls_env: Env, tmp_path: Path) -> None:
    path = tmp_path / "auth.json"
    path.write_text(json.dumps(docker_config(tls_env.registry.host, PASSWORD)))
    with (
        client(load_credential_store({}, auth_files=[path])) as c,
        pytest.raises(ResolveError) as info,
    ):
        c.resolve(request(tls_env, "v1", insecure=False))
    assert info.value.reason == "TLSVerificationFailed"
    assert_no_secret(info.value)
