"""Credential sources and matching (reconciler.registry.credentials) and the redacting Secret
(reconciler.core.secrets): key normalisation, most-specific match, precedence, helpers,
Kubernetes pull secrets, default file locations, and secrets kept out of text."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import stat
import sys
from pathlib import Path

import pytest

from reconciler.core.secrets import Secret
from reconciler.registry.authfiles import (
    default_auth_files,
    load_credential_store,
    load_secrets_dir,
    parse_auth_config,
)
from reconciler.registry.credentials import (
    AuthConfig,
    Credential,
    CredentialsError,
    CredentialStore,
    lookup_keys,
    normalise_key,
    run_credential_helper,
)

PW = "pw-Secret-c0ffee"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# -- Secret -----------------------------------------------------------------------------------


def test_secret_is_redacted_everywhere(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret(PW)
    assert secret.reveal() == PW
    for text in (
        str(secret),
        repr(secret),
        f"{secret}",
        f"{secret!r}",
        "%-5s" % (secret,),  # noqa: UP031 - the %-operator path too
        str([secret]),
    ):
        assert PW not in text
    caplog.set_level(logging.DEBUG)
    logging.getLogger("t").debug("password %s %r", secret, secret)
    assert PW not in caplog.text
    with pytest.raises(TypeError):
        json.dumps({"password": secret})
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]
    assert secret == Secret(PW) and secret != Secret("other") and bool(secret)
    credential = Credential("alice", secret, "somewhere")
    assert PW not in repr(credential) and PW not in str(credential)


# -- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "normalised"),
    [
        ("https://index.docker.io/v1/", "docker.io"),
        ("index.docker.io", "docker.io"),
        ("registry-1.docker.io", "docker.io"),
        ("docker.io/library/nginx", "docker.io/library/nginx"),
        ("https://Quay.IO/org/", "quay.io/org"),
        ("http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("ghcr.io/v2/", "ghcr.io"),
    ],
)
def test_normalise_key(key: str, normalised: str) -> None:
    assert normalise_key(key) == normalised


def test_lookup_keys_most_specific_first() -> None:
    assert lookup_keys("quay.io", "org/team/app") == [
        "quay.io/org/team/app",
        "quay.io/org/team",
        "quay.io/org",
        "quay.io",
    ]
    assert lookup_keys("index.docker.io", None) == ["docker.io"]


def store(
    *documents: dict[str, object], secrets: dict[str, dict[str, object]] | None = None
) -> CredentialStore:
    return CredentialStore(
        [parse_auth_config(d, f"file{i}") for i, d in enumerate(documents)],
        {name: parse_auth_config(d, f"secret {name}") for name, d in (secrets or {}).items()},
    )


def test_most_specific_key_wins_across_sources() -> None:
    s = store(
        {"auths": {"quay.io": {"auth": b64("host-user:a")}}},
        {"auths": {"quay.io/org": {"username": "org-user", "password": "b"}}},
    )
    found = s.lookup("quay.io", "org/app")
    assert found is not None and found.username == "org-user"
    assert s.lookup("quay.io", "other/app").username == "host-user"  # type: ignore[union-attr]
    assert s.lookup("ghcr.io", "org/app") is None


def test_earlier_source_wins_for_equal_keys_and_pull_secrets_come_first() -> None:
    s = store(
        {"auths": {"https://index.docker.io/v1/": {"auth": b64("first:a")}}},
        {"auths": {"docker.io": {"auth": b64("second:b")}}},
        secrets={"ns-pull": {"auths": {"docker.io": {"auth": b64("linked:c")}}}},
    )
    assert s.lookup("docker.io", "library/nginx").username == "first"  # type: ignore[union-attr]
    linked = s.lookup("docker.io", "library/nginx", secrets=["ns-pull"])
    assert linked is not None and linked.username == "linked"
    # A secret name the store does not have is ignored (it lives on another server).
    assert s.lookup("docker.io", None, secrets=["missing"]).username == "first"  # type: ignore[union-attr]


def test_empty_placeholder_and_identity_token() -> None:
    config = parse_auth_config(
        {"auths": {"a.io": {}, "b.io": {"identitytoken": "tok"}}, "credsStore": "desktop"}, "f"
    )
    assert "a.io" not in config.auths
    assert config.auths["b.io"].identity_token == Secret("tok")
    assert config.store == "desktop"


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        ({"auths": {"a.io": {"auth": "%%%"}}}, "not base64"),
        ({"auths": {"a.io": {"auth": b64("no-colon")}}}, "not base64 of user:password"),
        ({"auths": []}, "'auths' is not an object"),
        ({"credHelpers": {"a.io": "../../bin/sh"}}, "invalid credential helper name"),
        ([], "not a JSON object"),
    ],
)
def test_parse_errors_name_the_file_not_the_secret(document: object, fragment: str) -> None:
    with pytest.raises(CredentialsError) as info:
        parse_auth_config(document, "/etc/auth.json")
    assert fragment in str(info.value) and "/etc/auth.json" in str(info.value)


def test_invalid_json_error_has_no_content(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"auths": {"a.io": {"auth": "' + PW)
    with pytest.raises(CredentialsError) as info:
        load_credential_store({}, auth_files=[path])
    assert str(path) in str(info.value) and PW not in str(info.value)


# -- helpers ----------------------------------------------------------------------------------


def make_helper(tmp_path: Path, body: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "docker-credential-fake"
    script.write_text(f"#!{sys.executable}\nimport json, sys\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": str(bin_dir)}


def test_helper_protocol(tmp_path: Path) -> None:
    env = make_helper(
        tmp_path,
        "url = sys.stdin.read()\n"
        "if url == 'https://index.docker.io/v1/':\n"
        "    print(json.dumps({'ServerURL': url, 'Username': 'hub', 'Secret': 'x'}))\n"
        "elif url == 'tok.io':\n"
        "    print(json.dumps({'ServerURL': url, 'Username': '<token>', 'Secret': 'idt'}))\n"
        "else:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n",
    )
    hub = run_credential_helper("fake", "https://index.docker.io/v1/", env=env)
    assert hub is not None and (hub.username, hub.password.reveal()) == ("hub", "x")
    token = run_credential_helper("fake", "tok.io", env=env)
    assert token is not None and token.identity_token == Secret("idt")
    assert run_credential_helper("fake", "none.io", env=env) is None


def test_helper_failures(tmp_path: Path) -> None:
    env = make_helper(tmp_path, "sys.stderr.write('keychain locked'); sys.exit(3)")
    with pytest.raises(CredentialsError, match="failed \\(exit 3\\): keychain locked"):
        run_credential_helper("fake", "a.io", env=env)
    with pytest.raises(CredentialsError, match="not installed"):
        run_credential_helper("absent", "a.io", env=env)


def test_store_asks_cred_helpers_then_creds_store_and_caches() -> None:
    asked: list[tuple[str, str]] = []

    def runner(helper: str, url: str) -> Credential | None:
        asked.append((helper, url))
        return Credential(helper, Secret("s"), f"helper {helper}")

    s = CredentialStore(
        [
            AuthConfig("f", helpers={"gcr.io": "gcloud"}, store="desktop"),
        ],
        helper_runner=runner,
    )
    assert s.lookup("gcr.io", "p/app").username == "gcloud"  # type: ignore[union-attr]
    assert s.lookup("docker.io", "library/x").username == "desktop"  # type: ignore[union-attr]
    assert s.lookup("gcr.io", "p/other").username == "gcloud"  # type: ignore[union-attr]
    assert asked == [("gcloud", "gcr.io"), ("desktop", "https://index.docker.io/v1/")]


# -- files and secrets ------------------------------------------------------------------------


def test_default_auth_files() -> None:
    env = {"HOME": "/h", "XDG_RUNTIME_DIR": "/run/u"}
    assert default_auth_files(env) == [
        Path("/run/u/containers/auth.json"),
        Path("/h/.config/containers/auth.json"),
        Path("/h/.docker/config.json"),
        Path("/h/.dockercfg"),
    ]
    env = {"HOME": "/h", "REGISTRY_AUTH_FILE": "/a.json", "DOCKER_CONFIG": "/d"}
    assert default_auth_files(env) == [
        Path("/a.json"),
        Path("/d/config.json"),
        Path("/h/.dockercfg"),
    ]


def test_load_store_from_home(tmp_path: Path) -> None:
    (tmp_path / ".config" / "containers").mkdir(parents=True)
    (tmp_path / ".config" / "containers" / "auth.json").write_text(
        json.dumps({"auths": {"quay.io": {"auth": b64("c:1")}}})
    )
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(
        json.dumps({"auths": {"quay.io": {"auth": b64("d:2")}, "ghcr.io": {"auth": b64("d:3")}}})
    )
    (tmp_path / ".dockercfg").write_text(json.dumps({"https://old.io": {"auth": b64("o:4")}}))
    s = load_credential_store({"HOME": str(tmp_path)})
    assert s.lookup("quay.io").username == "c"  # type: ignore[union-attr]
    assert s.lookup("ghcr.io").username == "d"  # type: ignore[union-attr]
    assert s.lookup("old.io").username == "o"  # type: ignore[union-attr]
    with pytest.raises(CredentialsError, match="does not exist"):
        load_credential_store({"HOME": str(tmp_path), "REGISTRY_AUTH_FILE": "/nope.json"})


def test_secrets_dir_formats(tmp_path: Path) -> None:
    config = json.dumps({"auths": {"quay.io": {"auth": b64("y:1")}}})
    (tmp_path / "list.yaml").write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: Secret\n  metadata: {name: from-list}\n"
        "  type: kubernetes.io/dockerconfigjson\n"
        f"  data: {{.dockerconfigjson: {b64(config)}}}\n"
        "- apiVersion: v1\n  kind: Secret\n  metadata: {name: opaque}\n  type: Opaque\n"
        "  data: {x: eA==}\n"
    )
    (tmp_path / "string.json").write_text(
        json.dumps(
            {
                "kind": "Secret",
                "metadata": {"name": "from-string-data"},
                "type": "kubernetes.io/dockerconfigjson",
                "stringData": {".dockerconfigjson": config},
            }
        )
    )
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy" / ".dockercfg").write_text(json.dumps({"quay.io": {"auth": b64("l:2")}}))
    found = load_secrets_dir(tmp_path)
    assert sorted(found) == ["from-list", "from-string-data", "legacy"]
    assert found["legacy"].auths["quay.io"].username == "l"
    (tmp_path / "dup.yaml").write_text(
        "kind: Secret\nmetadata: {name: legacy}\ntype: kubernetes.io/dockercfg\n"
        f"data: {{.dockercfg: {b64('{}')}}}\n"
    )
    with pytest.raises(CredentialsError, match="defined twice"):
        load_secrets_dir(tmp_path)


# -- pull secret links (oc secrets link) ------------------------------------------------------


def test_pull_secret_links_mapping_and_service_accounts() -> None:
    from reconciler.core.secrets import parse_pull_secret_links

    links, problems = parse_pull_secret_links({"web": ["quay-pull", "hub-pull", "quay-pull"]})
    assert problems == []
    assert links.for_namespace("web") == ("quay-pull", "hub-pull")
    assert links.for_namespace("other") == ()
    links, problems = parse_pull_secret_links(
        [
            {
                "metadata": {"namespace": "api", "name": "default"},
                "imagePullSecrets": [{"name": "ghcr-pull"}, "Bad_Name"],
            },
            {"metadata": {}},
        ]
    )
    assert links.for_namespace("api") == ("ghcr-pull",)
    assert problems == [
        "pullSecrets[0].imagePullSecrets[1]: invalid secret name 'Bad_Name'",
        "pullSecrets[1]: needs metadata.namespace and imagePullSecrets",
    ]
    assert parse_pull_secret_links("x")[1] == [
        "pullSecrets: must be a mapping of namespace to secret names"
    ]
