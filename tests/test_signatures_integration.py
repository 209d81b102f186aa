"""The signed-image gate end to end: a real docker-registry, images signed by the test
signer (testsupport.cosign, written from cosign's SIGNATURE_SPEC.md), a bare git remote,
and the ``reconcile`` / ``plan`` / ``validate`` commands.

Every signature the reconciler accepts is checked again here by an independent verifier:
``openssl`` over the payload blob as the registry serves it, plus the payload's digest
and repository read with plain ``json`` (:func:`independently_verified`).
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
import pytest
from git_fixtures import GitRemote, git

from reconciler.cli import main as cli
from reconciler.config.settings import Settings
from reconciler.core.lockfile import SIGNATURE_VERIFIED, Lock, TagLock, parse_lock
from reconciler.core.platforms import Platform
from reconciler.core.registries import RegistriesConf, parse_registries_conf_files
from reconciler.core.signatures import Refused
from reconciler.core.streams import TagRef
from reconciler.gitrepo.workspace import Workspace
from reconciler.passes.run import PassResult, run_pass
from reconciler.registry import signatures as registry_signatures
from reconciler.registry.client import RegistryClient
from reconciler.registry.publickeys import load_public_key
from reconciler.registry.signatures import SignatureCache, SignatureCheck
from testsupport.cosign import (
    OCI_INDEX,
    OCI_MANIFEST,
    SIGNATURE_ANNOTATION,
    SignatureLayer,
    Signer,
    payload,
    push_referrers_tag,
    push_signatures,
    sign_image,
    signature_tag,
    signed_layer,
)
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
NS = "team"
REF = TagRef(NS, "s", "latest")
MakeRemote = Callable[[Mapping[str, str]], GitRemote]


# -- the independent check ---------------------------------------------------------------

_OPENSSL_DIGEST = {"p256": "-sha256", "p384": "-sha384", "p521": "-sha512", "rsa2048": "-sha256"}


def independently_verified(
    registry_url: str,
    repository: str,
    digest: str,
    public_pem: str,
    docker_reference: str,
    work: Path,
    *,
    kind: str = "p256",
    manifest: str | None = None,
) -> dict[str, object]:
    """A signature of ``digest`` that ``openssl`` verifies with ``public_pem``, whose
    payload names ``digest`` and ``docker_reference``: read from the registry with plain
    httpx (the ``.sig`` tag, or ``manifest`` by digest), checked without any of our code.
    Returns the payload. Fails the test when there is none."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "pub.pem").write_text(public_pem)
    base = f"{registry_url}/v2/{repository}"
    with httpx.Client(timeout=10.0) as http:
        document = http.get(
            f"{base}/manifests/{manifest or signature_tag(digest)}",
            headers={"Accept": OCI_MANIFEST},
        ).json()
        for layer in document["layers"]:
            body = http.get(f"{base}/blobs/{layer['digest']}").content
            signature = base64.b64decode(layer.get("annotations", {}).get(SIGNATURE_ANNOTATION, ""))
            (work / "payload").write_bytes(body)
            (work / "sig.der").write_bytes(signature)
            if kind == "ed25519":
                command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem"]
                command += ["-rawin", "-in", "payload", "-sigfile", "sig.der"]
            else:
                command = ["openssl", "dgst", _OPENSSL_DIGEST[kind], "-verify", "pub.pem"]
                command += ["-signature", "sig.der", "payload"]
            result = subprocess.run(command, cwd=work, capture_output=True, text=True)
            if result.returncode != 0 or "Verified" not in result.stdout + result.stderr:
                continue
            claims = json.loads(body)
            critical = claims["critical"]
            assert critical["type"] == "cosign container image signature"
            assert critical["image"]["docker-manifest-digest"] == digest
            assert critical["identity"]["docker-reference"] == docker_reference
            return dict(claims)
    raise AssertionError(f"openssl verifies no signature of {digest} in {repository}")


# -- a repository that requires signatures -----------------------------------------------


def stream_yaml(
    source: str | Mapping[str, str],
    *,
    annotation: str | None = "release",
    tags: tuple[str, ...] = ("latest",),
    insecure: bool = True,
) -> str:
    """Stream ``s`` whose ``tags`` all import ``source`` (or a tag -> source mapping),
    scheduled, requiring ``annotation``'s keys."""
    sources = dict.fromkeys(tags, source) if isinstance(source, str) else dict(source)
    meta = f"  name: s\n  namespace: {NS}\n"
    if annotation is not None:
        meta += f'  annotations:\n    imagestream-reconciler.io/require-signature: "{annotation}"\n'
    lines = ""
    for tag, name in sources.items():
        lines += (
            f"    - name: {tag}\n      from:\n        kind: DockerImage\n        name: {name}\n"
        )
        lines += "      importPolicy:\n        scheduled: true\n"
        lines += "        insecure: true\n" if insecure else ""
    head = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n"
    return f"{head}{meta}spec:\n  tags:\n{lines}"


def repo_files(source: str, key_pem: str, **stream: object) -> dict[str, str]:
    return {
        ".reconciler.yaml": (
            f"defaultNamespace: {NS}\nsignatures:\n  keys:\n    release: keys/release.pub\n"
        ),
        "keys/release.pub": key_pem,
        "s.yaml": stream_yaml(source, **stream),  # type: ignore[arg-type]
    }


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The commands see no registries.conf, no machine keys, a cache of their own."""
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "no-registries.conf"))
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RECONCILER_SIGNATURE_KEYS", raising=False)
    # Each test starts without the verdicts of the tests before it.
    monkeypatch.setattr(registry_signatures, "PROCESS_CACHE", SignatureCache())


def command(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out)
    return code, out.getvalue()


def reconcile(remote: GitRemote, tmp_path: Path, *extra: str) -> tuple[int, str]:
    return command("reconcile", "--repo", remote.url, "--workdir", str(tmp_path / "work"), *extra)


def plan_checkout(remote: GitRemote, *extra: str) -> tuple[int, str]:
    git("pull", "-q", "--rebase", "origin", "main", cwd=remote.human)
    return command("plan", "--repo", str(remote.human), *extra)


def entry_of(remote: GitRemote, ref: TagRef = REF) -> TagLock:
    lock: Lock = parse_lock(remote.show("images.lock.yaml"))
    entry = lock.get(ref)
    assert entry is not None
    return entry


@pytest.fixture
def release() -> Signer:
    return Signer.generate("p256")


@pytest.fixture
def signed_v1(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> tuple[GitRemote, str]:
    """A repo whose stream requires ``release``, pinned to v1, which ``release`` signed."""
    host, url = local_registry.host, local_registry.url
    v1 = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-v1")
    sign_image(url, unique_repo, v1, release)
    remote = make_remote(repo_files(f"{host}/{unique_repo}:latest", release.public_pem()))
    code, out = reconcile(remote, tmp_path)
    assert code == 0, out
    assert "(signed: key release)" in out
    return remote, v1


# -- accepted --------------------------------------------------------------------------


def test_a_signed_digest_is_pinned_with_the_key_that_verified_it(
    local_registry: LocalRegistry,
    unique_repo: str,
    signed_v1: tuple[GitRemote, str],
    release: Signer,
    tmp_path: Path,
) -> None:
    remote, v1 = signed_v1
    host, url = local_registry.host, local_registry.url
    entry = entry_of(remote)
    fingerprint = load_public_key("release", release.public_pem()).fingerprint
    assert entry.digest == v1 and entry.condition is None
    assert entry.signature is not None
    assert (entry.signature.key, entry.signature.public_key) == ("release", fingerprint)
    assert entry.signature.signed_digest is None
    lock_text = remote.show("images.lock.yaml")
    assert (
        f"signature:\n            key: release\n            publicKey: {fingerprint}" in lock_text
    )
    independently_verified(
        url, unique_repo, v1, release.public_pem(), f"{host}/{unique_repo}", tmp_path / "v1"
    )

    # A new digest signed by the key moves the tag, and the lock says which key.
    v2 = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-v2")
    sign_image(url, unique_repo, v2, release)
    code, out = reconcile(remote, tmp_path)
    assert code == 0, out
    assert f"{REF}: {v1[:19]} -> {v2[:19]} (signed: key release)" in out
    moved = entry_of(remote)
    assert moved.digest == v2 and moved.signature == entry.signature
    assert [h.digest for h in moved.history] == [v2, v1]
    independently_verified(
        url, unique_repo, v2, release.public_pem(), f"{host}/{unique_repo}", tmp_path / "v2"
    )


class Counting(httpx.BaseTransport):
    """The real transport, noting each request path."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def run(
    remote: GitRemote, tmp_path: Path, transport: httpx.BaseTransport, **settings: object
) -> PassResult:
    workspace = Workspace(remote.url, "main", tmp_path / "work-run")
    with RegistryClient(max_concurrency=4, timeout=5.0, transport=transport) as client:
        return run_pass(workspace, Settings(cache_dir=tmp_path / "c", **settings), client)  # type: ignore[arg-type]


def _payload_digest(registry_url: str, repository: str, digest: str) -> str:
    document = httpx.get(
        f"{registry_url}/v2/{repository}/manifests/{signature_tag(digest)}",
        headers={"Accept": OCI_MANIFEST},
    ).json()
    return str(document["layers"][0]["digest"])


def signature_requests(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith(".sig") or "/referrers/" in p or "/blobs/" in p]


def test_a_pass_where_nothing_changed_does_not_verify_again(
    signed_v1: tuple[GitRemote, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's record is enough: no signature is fetched (the process's verdicts are
    emptied first, so it is the lock, not the cache)."""
    remote, _ = signed_v1
    monkeypatch.setattr(registry_signatures, "PROCESS_CACHE", SignatureCache())
    commits = remote.commit_count()
    transport = Counting()
    result = run(remote, tmp_path, transport)
    assert not result.plan.failures and result.commit is None
    assert remote.commit_count() == commits
    assert transport.paths and signature_requests(transport.paths) == []


def test_verified_digests_are_cached_in_memory(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    """Two tags of one digest: one verification; a tag added later for the same digest
    (a daemon's next pass): none."""
    host, url = local_registry.host, local_registry.url
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-c")
    sign_image(url, unique_repo, digest, release)
    source = f"{host}/{unique_repo}:latest"
    remote = make_remote(repo_files(source, release.public_pem(), tags=("a", "b")))
    cache = SignatureCache()
    transport = Counting()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(registry_signatures, "PROCESS_CACHE", cache)
        first = run(remote, tmp_path, transport)
        assert not first.plan.failures
        # One digest, one signature read: its .sig manifest and payload; no referrers.
        assert signature_requests(transport.paths) == [
            f"/v2/{unique_repo}/manifests/{signature_tag(digest)}",
            f"/v2/{unique_repo}/blobs/{_payload_digest(url, unique_repo, digest)}",
        ]
        assert len(cache) == 1
        remote.commit({"s.yaml": stream_yaml(source, tags=("a", "b", "c"))})
        transport.paths.clear()
        second = run(remote, tmp_path, transport)
    assert not second.plan.failures
    assert signature_requests(transport.paths) == []
    assert entry_of(remote, TagRef(NS, "s", "c")).signature is not None


def test_a_signature_of_the_index_verifies_the_platform_image_pinned_from_it(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    """``cosign sign image:tag`` signs the index; importMode Legacy pins a child of it."""
    host, url = local_registry.host, local_registry.url
    index = push_image(
        url,
        unique_repo,
        "latest",
        seed=f"{unique_repo}-multi",
        platforms=[Platform("linux", "amd64"), Platform("linux", "arm64")],
    )
    sign_image(url, unique_repo, index, release)
    remote = make_remote(repo_files(f"{host}/{unique_repo}:latest", release.public_pem()))
    code, out = reconcile(remote, tmp_path)
    assert code == 0, out
    entry = entry_of(remote)
    assert entry.digest is not None and entry.digest != index
    assert entry.signature is not None and entry.signature.signed_digest == index
    independently_verified(
        url, unique_repo, index, release.public_pem(), f"{host}/{unique_repo}", tmp_path / "i"
    )


class ReferrersAPI(httpx.BaseTransport):
    """The real registry, plus the OCI 1.1 referrers API it lacks (distribution 2.8):
    ``GET /v2/<name>/referrers/<digest>`` answers an image index of the referrers the test
    registered, filtered by ``artifactType`` as the spec says, with the header a
    filtering registry sends."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.referrers: dict[str, list[dict[str, object]]] = {}
        self.asked: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if "/referrers/" in request.url.path and request.method == "GET":
            self.asked.append(str(request.url))
            digest = request.url.path.rsplit("/", 1)[1]
            wanted = request.url.params.get("artifactType")
            found = [
                d for d in self.referrers.get(digest, []) if wanted in (None, d.get("artifactType"))
            ]
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found})
            headers = {"Content-Type": OCI_INDEX}
            if wanted:
                headers["OCI-Filters-Applied"] = "artifactType"
            return httpx.Response(200, headers=headers, content=body.encode())
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_a_signature_stored_as_a_referrer_is_found_through_the_referrers_api(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    host, url = local_registry.host, local_registry.url
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-ref")
    layer = signed_layer(release, f"{host}/{unique_repo}", digest)
    referrer = push_signatures(url, unique_repo, digest, [layer], referrer=True)
    api = ReferrersAPI()
    size = len(
        httpx.get(
            f"{url}/v2/{unique_repo}/manifests/{referrer}", headers={"Accept": OCI_MANIFEST}
        ).content
    )
    api.referrers[digest] = [
        {
            "mediaType": OCI_MANIFEST,
            "digest": referrer,
            "size": size,
            "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        },
        {"mediaType": OCI_MANIFEST, "digest": digest, "size": 1, "artifactType": "text/sbom"},
    ]
    remote = make_remote(repo_files(f"{host}/{unique_repo}:latest", release.public_pem()))
    result = run(remote, tmp_path, api)
    assert not result.plan.failures, result.plan.failures
    assert entry_of(remote).signature is not None
    assert (
        api.asked
        and "artifactType=application%2Fvnd.dev.cosign.artifact.sig.v1%2Bjson" in api.asked[0]
    )
    independently_verified(
        url,
        unique_repo,
        digest,
        release.public_pem(),
        f"{host}/{unique_repo}",
        tmp_path / "r",
        manifest=referrer,
    )


def test_without_a_referrers_api_the_referrers_tag_schema_is_read(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    host, url = local_registry.host, local_registry.url
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-tagschema")
    referrer = push_signatures(
        url,
        unique_repo,
        digest,
        [signed_layer(release, f"{host}/{unique_repo}", digest)],
        referrer=True,
    )
    push_referrers_tag(url, unique_repo, digest, [referrer])
    remote = make_remote(repo_files(f"{host}/{unique_repo}:latest", release.public_pem()))
    code, out = reconcile(remote, tmp_path)
    assert code == 0, out
    assert entry_of(remote).signature is not None
    independently_verified(
        url,
        unique_repo,
        digest,
        release.public_pem(),
        f"{host}/{unique_repo}",
        tmp_path / "t",
        manifest=referrer,
    )


@pytest.mark.parametrize("kind", ["p384", "p521", "ed25519", "rsa2048"])
def test_every_cosign_key_type_gates_a_pass(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
    cli_env: None,
    kind: str,
) -> None:
    host, url = local_registry.host, local_registry.url
    signer = Signer.generate(kind)
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-{kind}")
    sign_image(url, unique_repo, digest, signer)
    remote = make_remote(repo_files(f"{host}/{unique_repo}:latest", signer.public_pem()))
    code, out = reconcile(remote, tmp_path)
    assert code == 0, out
    assert entry_of(remote).signature is not None
    independently_verified(
        url,
        unique_repo,
        digest,
        signer.public_pem(),
        f"{host}/{unique_repo}",
        tmp_path / kind,
        kind=kind,
    )


def test_a_machine_key_and_a_namespace_requirement(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    tmp_path: Path,
    cli_env: None,
) -> None:
    """The repo requires key ``ops`` for its namespace; only the machine has it."""
    host, url = local_registry.host, local_registry.url
    ops = Signer.generate()
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-ops")
    sign_image(url, unique_repo, digest, ops)
    key_file = tmp_path / "machine" / "ops.pub"
    key_file.parent.mkdir()
    key_file.write_text(ops.public_pem())
    remote = make_remote(
        {
            ".reconciler.yaml": f"defaultNamespace: {NS}\nsignatures:\n  namespaces:\n    {NS}:\n      require: [ops]\n",
            "s.yaml": stream_yaml(f"{host}/{unique_repo}:latest", annotation=None),
        }
    )
    code, out = reconcile(remote, tmp_path)
    assert code == 1
    assert f"{REF}: SignatureVerified=False SignatureKeyUnavailable: " in out
    assert "ops: not configured" in out
    assert entry_of(remote).digest is None

    code, out = reconcile(remote, tmp_path, "--signature-key", f"ops={key_file}")
    assert code == 0, out
    entry = entry_of(remote)
    assert entry.digest == digest and entry.signature is not None and entry.signature.key == "ops"
    independently_verified(
        url, unique_repo, digest, ops.public_pem(), f"{host}/{unique_repo}", tmp_path / "o"
    )


def test_a_private_key_in_the_repository_is_refused(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    host, url = local_registry.host, local_registry.url
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-priv")
    sign_image(url, unique_repo, digest, release)
    private = release.private_pem()
    remote = make_remote(repo_files(f"{host}/{unique_repo}:latest", private))
    body = private.splitlines()[1]

    code, out = command("validate", str(remote.human))
    assert code == 1
    assert "keys/release.pub:1:1: signature key release: refused: this is a private key" in out
    code, out = reconcile(remote, tmp_path)
    assert code == 1
    assert f"{REF}: SignatureVerified=False SignatureKeyUnavailable: " in out
    assert body not in out and body not in remote.show("images.lock.yaml")
    assert entry_of(remote).digest is None


def test_a_requirement_added_later_verifies_what_is_pinned(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    """The pinned digest is checked without moving the tag: unsigned, it stays pinned and
    is flagged; once signed, the flag clears and the lock records the key."""
    host, url = local_registry.host, local_registry.url
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-later")
    source = f"{host}/{unique_repo}:latest"
    remote = make_remote(repo_files(source, release.public_pem(), annotation=None))
    assert reconcile(remote, tmp_path)[0] == 0
    assert entry_of(remote).digest == digest and entry_of(remote).signature is None

    remote.commit({"s.yaml": stream_yaml(source)})
    code, out = reconcile(remote, tmp_path)
    assert code == 1 and f"{REF}: SignatureVerified=False Unsigned: " in out
    flagged = entry_of(remote)
    assert flagged.digest == digest and flagged.condition is not None
    assert flagged.condition.type == SIGNATURE_VERIFIED

    sign_image(url, unique_repo, digest, release)
    code, out = reconcile(remote, tmp_path)
    assert code == 0, out
    verified = entry_of(remote)
    assert verified.digest == digest and verified.condition is None
    assert verified.signature is not None and verified.signature.key == "release"
    independently_verified(
        url, unique_repo, digest, release.public_pem(), source.rsplit(":", 1)[0], tmp_path / "l"
    )


def test_through_a_mirror_the_signature_names_the_logical_repository(
    local_registry: LocalRegistry,
    unique_repo: str,
    make_remote: MakeRemote,
    release: Signer,
    tmp_path: Path,
    cli_env: None,
) -> None:
    """registries.conf sends example.invalid to a mirror; the signature lives beside the
    image on the mirror and must name the logical repository the lock records."""
    host, url = local_registry.host, local_registry.url
    conf = parse_registries_conf_files(
        [
            (
                "registries.conf",
                '[[registry]]\nprefix = "example.invalid"\nlocation = "example.invalid"\n'
                f'[[registry.mirror]]\nlocation = "{host}/{unique_repo}"\ninsecure = true\n',
            )
        ]
    )
    good = push_image(url, f"{unique_repo}/team/app", "good", seed=f"{unique_repo}-m1")
    bad = push_image(url, f"{unique_repo}/team/app", "bad", seed=f"{unique_repo}-m2")
    sign_image(
        url, f"{unique_repo}/team/app", good, release, docker_reference="example.invalid/team/app"
    )
    sign_image(url, f"{unique_repo}/team/app", bad, release)  # names the mirror's repository
    files = repo_files("example.invalid/team/app:good", release.public_pem())
    files["s.yaml"] = stream_yaml(
        {"latest": "example.invalid/team/app:good", "bad": "example.invalid/team/app:bad"},
        insecure=False,
    )
    remote = make_remote(files)
    result = run(remote, tmp_path, httpx.HTTPTransport(), registries=conf)
    entry = entry_of(remote)
    assert entry.digest == good and entry.signature is not None
    assert entry.resolved_from == "example.invalid/team/app:good"
    independently_verified(
        url,
        f"{unique_repo}/team/app",
        good,
        release.public_pem(),
        "example.invalid/team/app",
        tmp_path / "m",
    )
    failure = result.plan.failures[TagRef(NS, "s", "bad")]
    assert failure.reason == "SignedIdentityMismatch"
    assert (
        f"names repository '{host}/{unique_repo}/team/app', not example.invalid/team/app"
        in failure.message
    )
    assert host not in failure.message.split("names repository")[0]


# -- refused ---------------------------------------------------------------------------


def _refusal(
    case: str, signer: Signer, other: Signer, repo: str, v1: str, v2: str
) -> list[SignatureLayer] | None:
    body = payload(repo, v2)
    sign = base64.b64encode
    return {
        "unsigned": None,
        "signed-by-another-key": [signed_layer(other, repo, v2)],
        "names-another-digest": [signed_layer(signer, repo, v1)],
        "names-another-repository": [
            signed_layer(signer, repo.rsplit("/", 1)[0] + "/elsewhere", v2)
        ],
        "garbage-layer": [
            SignatureLayer(b"\x00garbage", sign(signer.sign(b"\x00garbage")).decode())
        ],
        "bad-base64": [SignatureLayer(body, "!!! not base64 !!!")],
        "missing-annotation": [SignatureLayer(body, None)],
        "not-a-simplesigning-layer": [
            SignatureLayer(body, sign(signer.sign(body)).decode(), media_type="application/json")
        ],
    }[case]


@pytest.mark.parametrize(
    ("case", "reason", "why"),
    [
        ("unsigned", "Unsigned", "no cosign signature for it in"),
        ("signed-by-another-key", "UntrustedSignature", "is not by key release (sha256:"),
        (
            "names-another-digest",
            "SignedDigestMismatch",
            "the signature by key release names sha256:",
        ),
        ("names-another-repository", "SignedIdentityMismatch", "/elsewhere', not "),
        (
            "garbage-layer",
            "MalformedSignature",
            "the payload is not a cosign simplesigning payload: not JSON",
        ),
        ("bad-base64", "MalformedSignature", "the signature annotation is not base64"),
        (
            "missing-annotation",
            "MalformedSignature",
            "has no dev.cosignproject.cosign/signature annotation",
        ),
        ("not-a-simplesigning-layer", "MalformedSignature", "not a simplesigning payload"),
        (
            "index-under-the-sig-tag",
            "MalformedSignature",
            "the .sig signature manifest is an index",
        ),
    ],
)
def test_a_refused_signature_keeps_the_last_good_digest(
    local_registry: LocalRegistry,
    unique_repo: str,
    signed_v1: tuple[GitRemote, str],
    release: Signer,
    tmp_path: Path,
    case: str,
    reason: str,
    why: str,
) -> None:
    remote, v1 = signed_v1
    host, url = local_registry.host, local_registry.url
    before = entry_of(remote)
    v2 = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-{case}")
    if case == "index-under-the-sig-tag":
        push_image(
            url, unique_repo, signature_tag(v2), seed="idx", platforms=[Platform("linux", "amd64")]
        )
    else:
        layers = _refusal(case, release, Signer.generate(), f"{host}/{unique_repo}", v1, v2)
        if layers is not None:
            push_signatures(url, unique_repo, v2, layers)

    code, out = reconcile(remote, tmp_path)
    assert code == 1, out
    failed = out.split("failed (last good digest kept):\n", 1)[1].splitlines()
    line = next(x for x in failed if x.startswith(f"  {REF}: "))
    assert line.startswith(f"  {REF}: SignatureVerified=False {reason}: {v2[:19]} not pinned: ")
    assert why in line and "the tag requires a signature by release" in line
    after = entry_of(remote)
    assert after.digest == v1 and after.history == before.history
    assert after.signature == before.signature  # v1's, still true of what is pinned
    assert after.condition is not None
    assert (after.condition.type, after.condition.reason) == (SIGNATURE_VERIFIED, reason)
    assert f"signature refused ({reason})" in git("log", "-1", "--format=%B", cwd=remote.bare)
    assert not [f for f in remote.files() if f.startswith("triggers/")]

    # plan, on a checkout, says the same and fails the same way.
    code, out = plan_checkout(remote)
    assert code == 1 and f"{REF}: SignatureVerified=False {reason}: " in out
    code, out = plan_checkout(remote, "-o", "json")
    failure = json.loads(out)["failures"][str(REF)]
    assert code == 1 and (failure["type"], failure["reason"]) == (SIGNATURE_VERIFIED, reason)

    # The same refusal again is no new commit.
    commits = remote.commit_count()
    assert reconcile(remote, tmp_path)[0] == 1
    assert remote.commit_count() == commits


def test_a_hostile_signature_manifest_costs_a_bounded_amount(
    local_registry: LocalRegistry, unique_repo: str, release: Signer
) -> None:
    """40 signatures in one manifest: refused without reading a payload; a layer that
    claims a payload over 64 KiB: refused without reading it."""
    host, url = local_registry.host, local_registry.url
    digest = push_image(url, unique_repo, "latest", seed=f"{unique_repo}-many")
    many = [signed_layer(release, f"{host}/{unique_repo}", digest)] * 40
    push_signatures(url, unique_repo, digest, many)
    big = push_image(url, unique_repo, "big", seed=f"{unique_repo}-big")
    huge = payload(f"{host}/{unique_repo}", big, optional={"pad": "x" * 70_000})
    push_signatures(
        url, unique_repo, big, [SignatureLayer(huge, base64.b64encode(release.sign(huge)).decode())]
    )
    key = load_public_key("release", release.public_pem())
    transport = Counting()
    with RegistryClient(max_concurrency=2, transport=transport) as client:
        verdicts = registry_signatures.check_signatures(
            {
                "many": SignatureCheck(f"{host}/{unique_repo}", digest, (key,), insecure=True),
                "big": SignatureCheck(f"{host}/{unique_repo}", big, (key,), insecure=True),
            },
            client,
            RegistriesConf(),
            cache=SignatureCache(),
        )
    many_verdict, big_verdict = verdicts["many"], verdicts["big"]
    assert isinstance(many_verdict, Refused)
    assert (
        many_verdict.reason == "MalformedSignature"
        and "has 40 layers, over 32" in many_verdict.message
    )
    assert isinstance(big_verdict, Refused)
    assert big_verdict.reason == "MalformedSignature" and "over 65536" in big_verdict.message
    assert not [p for p in transport.paths if "/blobs/" in p]
