"""reconciler.registry.publickeys and the machine's keys (config.settings): cosign's key
types verified with ``cryptography``, against cosign's own test vectors
(tests/fixtures/cosign/README.md) and signatures of the test signer
(testsupport.cosign), and every private key refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from reconciler.config.settings import SettingsError, load_settings
from reconciler.core.manifests import parse_manifests
from reconciler.core.repoconfig import parse_repo_config
from reconciler.core.signatures import key_names
from reconciler.daemon.config import DaemonConfigError, parse_daemon_config
from reconciler.files import loader
from reconciler.files.schemas import check_schema, schema_dir
from reconciler.registry.publickeys import KeyLoadError, load_public_key, verify
from testsupport.cosign import Signer

COSIGN = Path(__file__).resolve().parent / "fixtures" / "cosign"


def public_pem(private: object) -> str:
    pem: bytes = private.public_key().public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def cosign_private(name: str) -> object:
    return serialization.load_pem_private_key((COSIGN / f"keys_test.{name}.pem").read_bytes(), None)


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("release-cosign.pub", "ECDSA P-256"),
        ("cosign-test.pub", "ECDSA P-256"),
        ("verify_blob_attestation.pub", "ECDSA P-256"),
        ("testdata-google.pub", "RSA 4096"),
        ("keys_test.invalidrsawithpubkey.pem", "RSA 2048"),
    ],
)
def test_cosign_public_keys_load(name: str, algorithm: str) -> None:
    key = load_public_key("k", (COSIGN / name).read_text())
    assert key.algorithm == algorithm
    assert key.fingerprint.startswith("sha256:") and len(key.fingerprint) == 71


def test_a_signature_cosign_made_verifies() -> None:
    """cosign's DSSE vector: ECDSA P-256 over SHA-256 of the PAE bytes, DER, base64."""
    key = load_public_key("k", (COSIGN / "verify_blob_attestation.pub").read_text())
    envelope = json.loads(
        base64.b64decode((COSIGN / "verify_blob_attestation.dsse.b64").read_text())
    )
    body = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    assert verify(key, signature, pae)
    assert not verify(key, signature, pae + b" ")
    assert not verify(key, base64.b64decode("c29tZXRoaW5nCg=="), pae)  # cosign's "bad sig"
    other = load_public_key("k", (COSIGN / "release-cosign.pub").read_text())
    assert not verify(other, signature, pae)


@pytest.mark.parametrize(
    ("private", "kind", "algorithm"),
    [
        ("validecp256", "p256", "ECDSA P-256"),
        ("validecp384", "p384", "ECDSA P-384"),
        ("validecp521", "p521", "ECDSA P-521"),
        ("ed25519key", "ed25519", "Ed25519"),
        ("validrsapkcs8", "rsa2048", "RSA 2048"),
    ],
)
def test_every_cosign_key_type_verifies_what_it_signs(
    private: str, kind: str, algorithm: str
) -> None:
    """cosign's test keys (keys_test.go) sign as sigstore does; their public halves
    verify, and nothing else does."""
    signer = Signer(kind, cosign_private(private))
    key = load_public_key("k", signer.public_pem())
    assert key.algorithm == algorithm
    message = b'{"critical":{}}'
    signature = signer.sign(message)
    assert verify(key, signature, message)
    assert not verify(key, signature, message + b"x")
    assert not verify(load_public_key("o", Signer.generate().public_pem()), signature, message)


def test_p384_signed_over_sha256_verifies_too() -> None:
    """``cosign verify`` hashes with SHA-256 whatever the curve unless told otherwise."""
    private = cosign_private("validecp384")
    key = load_public_key("k", public_pem(private))
    signature = private.sign(b"m", ec.ECDSA(hashes.SHA256()))  # type: ignore[attr-defined]
    assert verify(key, signature, b"m")
    assert not verify(key, b"", b"m")
    assert not verify(key, b"x" * 2000, b"m")


@pytest.mark.parametrize(
    ("pem", "fragment"),
    [
        (lambda: public_pem(cosign_private("invalidecp224")), "secp224r1 is not a cosign key type"),
        (
            lambda: public_pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)),
            "RSA key of 1024 bits",
        ),
        (lambda: (COSIGN / "keys_test.validecp256.pem").read_text(), "private key"),
        (lambda: (COSIGN / "cosign-test.key").read_text(), "private key"),
        (
            lambda: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not a public key cryptography can read",
        ),
    ],
)
def test_keys_that_cannot_be_used_are_refused(pem: object, fragment: str) -> None:
    with pytest.raises(KeyLoadError, match=fragment):
        load_public_key("k", pem())  # type: ignore[operator]


# -- the machine's keys ------------------------------------------------------------------


def test_machine_keys_from_flags_and_environment(tmp_path: Path) -> None:
    one, two = tmp_path / "one.pub", tmp_path / "two.pub"
    one.write_text(Signer.generate().public_pem())
    two.write_text((COSIGN / "release-cosign.pub").read_text())
    settings = load_settings({}, signature_keys={"one": str(one)})
    assert [(k.name, k.origin) for k in settings.signature_keys] == [
        ("one", f"--signature-key one={one}")
    ]
    env = {"RECONCILER_SIGNATURE_KEYS": f"one={one}, two={two}"}
    assert [k.name for k in load_settings(env).signature_keys] == ["one", "two"]
    # A flag replaces the environment, as for every other setting.
    assert [
        k.name for k in load_settings(env, signature_keys={"one": str(one)}).signature_keys
    ] == ["one"]


@pytest.mark.parametrize(
    ("content", "entry", "fragment"),
    [
        ((COSIGN / "keys_test.pemsigstorekey.pem").read_text(), "k={f}", "private key"),
        (None, "k={f}", "cannot read"),
        ("x", "bad name={f}", "not a key name"),
        ("x", "k", "expected NAME=FILE"),
        ("not pem", "k={f}", "not a PEM public key"),
    ],
)
def test_a_machine_key_that_cannot_be_used_stops_the_start(
    tmp_path: Path, content: str | None, entry: str, fragment: str
) -> None:
    file = tmp_path / "key.pub"
    if content is not None:
        file.write_text(content)
    env = {"RECONCILER_SIGNATURE_KEYS": entry.format(f=file)}
    with pytest.raises(SettingsError, match=fragment) as raised:
        load_settings(env)
    # Nothing of the file's content is echoed (a private key's body least of all).
    body = (content or "").splitlines()[1:2]
    assert not body or body[0] not in str(raised.value)


# -- the schemas agree with the readers ------------------------------------------------

ANNOTATIONS = [
    ("release", True),
    ("release, partner", True),
    (" a.b_c-1 ,x ", True),
    ("", False),
    ("release,", False),
    ("a,,b", False),
    ("has space", False),
    ("-lead", False),
    ("x" * 64, False),
]


@pytest.mark.parametrize(("value", "valid"), ANNOTATIONS)
def test_the_stream_annotation_schema_agrees_with_the_reader(value: str, valid: bool) -> None:
    text = (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: s\n"
        f"  annotations:\n    imagestream-reconciler.io/require-signature: {json.dumps(value)}\n"
    )
    [obj] = parse_manifests(text, "s.yaml").objects
    problems = check_schema(obj)
    assert (not problems) is valid, problems
    assert isinstance(key_names(value), tuple) is valid
    if not valid:
        assert "must be comma-separated key names" in problems[0].message


@pytest.mark.parametrize(
    "text",
    [
        "signatures:\n  keys: {release: keys/r.pub}\n  require: release\n",
        "signatures:\n  require: [a, b]\n  namespaces:\n    ns: {require: c}\n",
        "signatures: {}\n",
        "signatures:\n  require: []\n",
        "signatures:\n  require: 'a,'\n",
        "signatures:\n  keys: {'bad name': x}\n",
        "signatures:\n  namespaces:\n    ns: {}\n",
        "signatures:\n  extra: 1\n",
        "signatures: [1]\n",
        "defaultNamespace: Toms_Project\n",
        "defaultNamespace: toms-project\n",
    ],
)
def test_the_repo_config_schema_agrees_with_the_reader(text: str) -> None:

    schema = json.loads((schema_dir() / "repo-config.json").read_text())
    errors = list(Draft202012Validator(schema).iter_errors(YAML(typ="safe").load(text)))
    _, problems = parse_repo_config(text, ".reconciler.yaml")
    assert bool(errors) == bool(problems), (errors, problems)


def test_the_daemon_configuration_names_machine_keys(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ops.pub").write_text(Signer.generate().public_pem())
    file = str(tmp_path / "daemon.yaml")
    text = "repo: {url: /srv/git/images.git}\nsignatures:\n  keys:\n    ops: keys/ops.pub\n"
    config = parse_daemon_config(text, file, {})
    assert config.signature_keys == (("ops", str(tmp_path / "keys" / "ops.pub")),)
    settings = load_settings(
        {},
        signature_keys=dict(config.signature_keys),
        signature_keys_from=f"{file} signatures.keys",
    )
    assert [(k.name, k.origin.startswith(file)) for k in settings.signature_keys] == [("ops", True)]
    with pytest.raises(DaemonConfigError, match=r"signatures\.keys"):
        parse_daemon_config(text.replace("ops:", "'bad name':"), file, {})


# -- the repository's key files ----------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("keys/missing.pub", "no such file in the repository"),
        ("/etc/passwd", "give a path inside the repository"),
        ("../outside.pub", "give a path inside the repository"),
        ("keys/link.pub", "a symlink; refused"),
        ("linked/release.pub", "a symlink; refused"),
        ("keys/private.pem", "refused: this is a private key"),
        ("keys/bin.pub", "not UTF-8 text"),
        ("keys/nul\\0.pub", "not a path"),
    ],
)
def test_a_repository_key_file_that_cannot_be_used(
    tmp_path: Path, written: str, fragment: str
) -> None:
    repo = tmp_path / "repo"
    (repo / "keys").mkdir(parents=True)
    outside = tmp_path / "outside.pub"
    outside.write_text(Signer.generate().public_pem())
    (repo / "keys" / "link.pub").symlink_to(outside)
    (repo / "linked").symlink_to(tmp_path)
    (repo / "keys" / "private.pem").write_text((COSIGN / "keys_test.validecpkcs8.pem").read_text())
    (repo / "keys" / "bin.pub").write_bytes(b"\xff\xfe")
    (repo / ".reconciler.yaml").write_text(f'signatures:\n  keys:\n    release: "{written}"\n')
    config, problems = loader.read_repo_config(repo)
    [key] = config.signatures.keys
    assert key.pem is None and key.problem is not None and fragment in key.problem
    assert len(problems) == 1 and fragment in problems[0].message


def test_a_repository_key_file_is_read(tmp_path: Path) -> None:
    pem = Signer.generate().public_pem()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "release.pub").write_text(pem)
    (tmp_path / ".reconciler.yaml").write_text(
        "signatures:\n  keys:\n    release: keys/release.pub\n"
    )
    config, problems = loader.read_repo_config(tmp_path)
    assert problems == [] and config.signatures.keys[0].pem == pem
