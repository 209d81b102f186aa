"""Table tests for reconciler.core.signatures (the gate as data) and the lock's signature
record: the settings and which one applies, key screening, the simplesigning payload
(cosign's own payloads as fixtures, tests/fixtures/cosign/README.md), verdicts, and a lock
with a signature and a SignatureVerified condition that round-trips byte for byte."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from reconciler.core import cosignpayload
from reconciler.core import signatures as s
from reconciler.core.lockdiff import lock_changes
from reconciler.core.lockfile import (
    SIGNATURE_VERIFIED,
    Lock,
    SignatureRecord,
    TagLock,
    TagSource,
    parse_lock,
    render_lock,
)
from reconciler.core.manifests import parse_manifests
from reconciler.core.repoconfig import parse_repo_config
from reconciler.core.streams import TagRef
from testsupport.cosign import Signer, payload

COSIGN = Path(__file__).resolve().parents[1] / "fixtures" / "cosign"
D1, D2, IDX = ("sha256:" + c * 64 for c in "12f")
FP = "sha256:" + "e" * 64


# -- settings --------------------------------------------------------------------------


def config(text: str) -> tuple[s.SignatureConfig, list[str]]:
    parsed, problems = parse_repo_config(text, ".reconciler.yaml")
    return parsed.signatures, [f"{p.line}:{p.column} {p.path}: {p.message}" for p in problems]


def test_the_signatures_section_reads_keys_and_requirements() -> None:
    pem = Signer.generate().public_pem().replace("\n", "\n      ")
    got, problems = config(
        "signatures:\n"
        "  keys:\n"
        "    release: keys/release.pub\n"
        f"    partner: |\n      {pem}\n"
        "  require: release\n"
        "  namespaces:\n"
        "    payments: {require: [partner, release]}\n"
    )
    assert problems == []
    assert [(k.name, k.inline, k.pem is not None) for k in got.keys] == [
        ("release", False, False),
        ("partner", True, True),
    ]
    assert got.require == ("release",)
    assert got.for_namespace("payments") == ("partner", "release")
    assert got.for_namespace("other") == ()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("signatures: yes\n", "1:1 signatures: must be a mapping"),
        ("signatures:\n  keyz: {}\n", "2:3 signatures.keyz: unknown setting"),
        ("signatures:\n  require: []\n", "2:3 signatures.require: names no key"),
        ("signatures:\n  require: [a b]\n", "2:3 signatures.require: 'a b' is not a key name"),
        ("signatures:\n  namespaces:\n    x: [a]\n", "3:5 signatures.namespaces.x: must be"),
        ("signatures:\n  keys:\n    k: ''\n", "3:5 signatures.keys.k: must be a repo-relative"),
    ],
)
def test_a_wrong_signatures_setting_is_a_problem_and_fails_closed(text: str, problem: str) -> None:
    got, problems = config(text)
    assert len(problems) == 1 and problems[0].startswith(problem), problems
    # A requirement that cannot be read requires a key no one has: nothing is pinned
    # unverified because of a typo.
    if "require" in text or "namespaces" in text or text.startswith("signatures: yes"):
        required = got.require or got.for_namespace("x")
        assert required == ("(invalid)",)


def test_an_inline_private_key_is_refused_without_being_quoted() -> None:
    private = Signer.generate().private_pem().replace("\n", "\n      ")
    got, problems = config(f"signatures:\n  keys:\n    release: |\n      {private}\n")
    assert got.keys[0].pem is None and got.keys[0].problem is not None
    assert len(problems) == 1 and "private key" in problems[0]
    assert "MII" not in problems[0]  # nothing of the key's body


def stream(name: str, annotation: str | None = None, namespace: str = "team") -> str:
    meta = f"  name: {name}\n  namespace: {namespace}\n"
    if annotation is not None:
        meta += f"  annotations:\n    imagestream-reconciler.io/require-signature: {annotation!r}\n"
    return (
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n"
        + meta
        + "spec:\n  tags:\n    - name: t\n      from: {kind: DockerImage, name: r.io/a:1}\n"
    )


def sources(*refs: TagRef, kind: str = "DockerImage") -> dict[TagRef, TagSource]:
    return {ref: TagSource(kind, "r.io/a:1") for ref in refs}


A, B, C = TagRef("team", "a", "t"), TagRef("team", "b", "t"), TagRef("other", "c", "t")


def test_the_most_specific_setting_applies() -> None:
    objects = [
        *parse_manifests(stream("a", "ops, release"), "a.yaml").objects,
        *parse_manifests(stream("b"), "b.yaml").objects,
        *parse_manifests(stream("c", namespace="other"), "c.yaml").objects,
    ]
    settings = s.SignatureConfig(require=("repo",), namespaces=(("team", ("ns",)),))
    got = s.requirements(objects, sources(A, B, C), settings)
    assert got[A].keys == ("ops", "release") and "annotation" in got[A].origin
    assert got[B].keys == ("ns",) and "namespaces.team" in got[B].origin
    assert got[C].keys == ("repo",) and got[C].origin == ".reconciler.yaml signatures.require"


def test_only_registry_tags_are_gated() -> None:
    objects = parse_manifests(stream("a", "release"), "a.yaml").objects
    assert s.requirements(objects, sources(A, kind="Push"), s.SignatureConfig()) == {}
    assert s.requirements(objects, sources(A, kind="ImageStreamTag"), s.SignatureConfig()) == {}
    reference = {A: TagSource("DockerImage", "r.io/a:1", reference=True)}
    assert s.requirements(objects, reference, s.SignatureConfig()) == {}
    assert s.requirements([], sources(A), s.SignatureConfig()) == {}


def test_the_machine_key_wins_a_shared_name() -> None:
    repo = s.SignatureConfig(keys=(s.RepoKey("release", "keys/r.pub", "repo pem"),))
    machine = [s.KeyText("release", "machine pem", "--signature-key release=/etc/r.pub")]
    keys, notes = s.key_texts(repo, machine)
    assert keys["release"].pem == "machine pem"
    assert notes == [
        "signature key 'release': this machine's (--signature-key release=/etc/r.pub) is used,"
        " not .reconciler.yaml signatures.keys.release (keys/r.pub)"
    ]


# -- keys as text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "keys_test.validecp256.pem",  # EC PRIVATE KEY
        "keys_test.validecpkcs8.pem",  # PRIVATE KEY
        "keys_test.ed25519key.pem",
        "keys_test.validrsapkcs8.pem",
        "keys_test.pemcosignkey.pem",  # ENCRYPTED COSIGN PRIVATE KEY
        "keys_test.pemsigstorekey.pem",  # ENCRYPTED SIGSTORE PRIVATE KEY
        "keys_test.invalidkey.pem",  # PGP PRIVATE KEY BLOCK
        "cosign-test.key",
    ],
)
def test_cosign_private_keys_are_refused(name: str) -> None:
    text = (COSIGN / name).read_text()
    problem = s.screen_public_key(text)
    assert problem is not None and problem.startswith("refused: this is a private key")
    # Hidden in a public key file too: a public block first does not make it one.
    public = (COSIGN / "release-cosign.pub").read_text()
    assert s.screen_public_key(public + text) == problem


@pytest.mark.parametrize(
    "name",
    [
        "release-cosign.pub",
        "cosign-test.pub",
        "testdata-google.pub",
        "keys_test.invalidrsawithpubkey.pem",
    ],
)
def test_cosign_public_keys_pass_the_screen(name: str) -> None:
    assert s.screen_public_key((COSIGN / name).read_text()) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not a PEM public key"),
        ("ssh-ed25519 AAAAC3Nz... me@host", "not a PEM public key"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "'CERTIFICATE' block"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n", "not closed"),
        ("-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----\n", "not base64"),
        (
            "-----BEGIN PUBLIC KEY-----\nAA==\n-----END PUBLIC KEY-----\n" * 2,
            "holds 2 PEM blocks",
        ),
    ],
)
def test_what_is_not_one_public_key(text: str, fragment: str) -> None:
    problem = s.screen_public_key(text)
    assert problem is not None and fragment in problem


# -- the payload -----------------------------------------------------------------------


def test_cosign_payloads_parse() -> None:
    readme = cosignpayload.parse_payload((COSIGN / "readme-tcpconnect.payload.json").read_bytes())
    assert readme.docker_reference == "localhost:5000/tcpconnect"
    assert (
        readme.digest == "sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6"
    )
    obsolete = cosignpayload.parse_payload((COSIGN / "obsolete_test.payload.json").read_bytes())
    # go-containerregistry's name for Docker Hub; the lock's is docker.io.
    assert obsolete.docker_reference == "index.docker.io/namespace/image"
    assert cosignpayload.signed_repository(obsolete.docker_reference) == "docker.io/namespace/image"


def test_the_test_signer_writes_cosigns_bytes() -> None:
    """testsupport.cosign.payload is byte-identical to what cosign wrote in its README."""
    expected = (COSIGN / "readme-tcpconnect.payload.json").read_bytes()
    got = payload(
        "localhost:5000/tcpconnect",
        "sha256:7a91c50d922925f152fec96ed1d84b7bc6b2079c169d68826f6cf307f22d40e6",
    )
    assert got == expected


def doc(**critical: object) -> bytes:
    body: dict[str, object] = {
        "identity": {"docker-reference": "r.io/a"},
        "image": {"docker-manifest-digest": D1},
        "type": "cosign container image signature",
    }
    body.update(critical)
    return json.dumps({"critical": body, "optional": None}).encode()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"garbage", "not JSON"),
        (b"[1]", "the payload is not an object"),
        (b"{}", "critical is not an object"),
        (doc(type="atomic container signature"), "critical.type"),
        (doc(image={"docker-manifest-digest": "sha256:abc"}), "not a sha256 digest"),
        (doc(image={"Docker-manifest-digest": D1}), "unknown field 'Docker-manifest-digest'"),
        (doc(identity={}), "docker-reference is not a string"),
        (doc(extra=1), "critical has unknown field 'extra'"),
        (
            b'{"critical":{"identity":{"docker-reference":"r.io/a"},"image":{"docker-manifest-digest":"'
            + D1.encode()
            + b'","docker-manifest-digest":"'
            + D2.encode()
            + b'"},"type":"cosign container image signature"}}',
            "repeats a key",
        ),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_a_payload_that_is_not_cosigns_is_refused(body: bytes, fragment: str) -> None:
    with pytest.raises(
        cosignpayload.PayloadError, match=fragment.replace("(", r"\(").replace(")", r"\)")
    ):
        cosignpayload.parse_payload(body)


# -- verdicts --------------------------------------------------------------------------


def judge(claims: s.SignedClaims, index: str | None = None) -> s.Verdict:
    return s.judge_claims(
        claims, key="release", public_key=FP, digest=D1, index_digest=index, repository="r.io/a"
    )


@pytest.mark.parametrize(
    ("reference", "digest", "index", "expected"),
    [
        ("r.io/a", D1, None, SignatureRecord("release", FP)),
        ("r.io/a:1.0", D1, None, SignatureRecord("release", FP)),  # a tag is not the identity
        ("r.io/a", IDX, IDX, SignatureRecord("release", FP, signed_digest=IDX)),
        ("r.io/a", D2, None, s.SIGNED_DIGEST_MISMATCH),
        ("r.io/a", D2, IDX, s.SIGNED_DIGEST_MISMATCH),
        ("r.io/b", D1, None, s.SIGNED_IDENTITY_MISMATCH),
        ("mirror.local/r.io/a", D1, None, s.SIGNED_IDENTITY_MISMATCH),
        ("not a reference", D1, None, s.SIGNED_IDENTITY_MISMATCH),
    ],
)
def test_a_verified_payload_must_name_the_digest_and_the_repository(
    reference: str, digest: str, index: str | None, expected: object
) -> None:
    verdict = judge(s.SignedClaims(reference, digest), index)
    if isinstance(expected, str):
        assert isinstance(verdict, s.Refused) and verdict.reason == expected
    else:
        assert verdict == expected


def test_docker_hub_names_are_one_repository() -> None:
    claims = s.SignedClaims("index.docker.io/library/nginx", D1)
    verdict = s.judge_claims(
        claims,
        key="k",
        public_key=FP,
        digest=D1,
        index_digest=None,
        repository="docker.io/library/nginx",
    )
    assert isinstance(verdict, SignatureRecord)


def test_the_refusal_that_says_the_most_wins() -> None:
    found = [
        s.Refused(s.UNSIGNED, "a"),
        s.Refused(s.MALFORMED, "b"),
        s.Refused(s.UNTRUSTED, "c"),
        s.Refused(s.SIGNED_DIGEST_MISMATCH, "d"),
        s.Refused(s.MALFORMED, "e"),
    ]
    assert s.strongest(found) == s.Refused(s.SIGNED_DIGEST_MISMATCH, "d")
    assert s.strongest(found[:2]) == s.Refused(s.MALFORMED, "b")
    assert s.strongest([]) is None


REQ = s.Requirement(("release", "partner"), "test")
SRC = TagSource("DockerImage", "r.io/a:1", scheduled=True)


def pinned(record: SignatureRecord | None, digest: str = D1) -> TagLock:
    entry = TagLock(SRC, resolved_from="r.io/a:1").moved_to(
        digest, f"r.io/a@{digest}", "2026-01-01T00:00:00Z"
    )
    return dataclasses.replace(entry, signature=record)


@pytest.mark.parametrize(
    ("record", "digest", "fingerprints", "kept"),
    [
        (SignatureRecord("release", FP), D1, {"release": FP}, True),
        (SignatureRecord("partner", FP), D1, {"partner": FP, "release": FP}, True),
        (SignatureRecord("release", FP), D2, {"release": FP}, False),  # another digest
        (SignatureRecord("release", FP), D1, {"release": "sha256:" + "0" * 64}, False),  # new key
        (SignatureRecord("old", FP), D1, {"old": FP}, False),  # no longer required
        (None, D1, {"release": FP}, False),
    ],
)
def test_what_the_lock_records_is_trusted_only_while_it_still_holds(
    record: SignatureRecord | None, digest: str, fingerprints: dict[str, str], kept: bool
) -> None:
    entry = pinned(record)
    assert (s.still_verified(entry, digest, REQ, fingerprints) is not None) is kept
    lock = Lock(tags={A: entry})
    assert s.unverified_pins(lock, {A: REQ}, fingerprints) == ([] if kept or digest != D1 else [A])


# -- the lock --------------------------------------------------------------------------


def test_a_signature_record_and_a_signature_condition_round_trip() -> None:
    entry = pinned(SignatureRecord("release", FP, signed_digest=IDX))
    refused = entry.failed(
        s.UNSIGNED, "sha256:222… not pinned", "2026-01-02T00:00:00Z", SIGNATURE_VERIFIED
    )
    lock = Lock(tags={A: refused})
    text = render_lock(lock)
    assert b"          signature:\n            key: release\n" in text
    assert b"signedDigest: " + IDX.encode() in text
    assert b"type: SignatureVerified\n" in text
    again = parse_lock(text)
    assert again == lock and render_lock(again) == text
    # The same refusal again changes nothing; an import failure replaces it.
    assert (
        refused.failed(
            s.UNSIGNED, "sha256:222… not pinned", "2026-01-03T00:00:00Z", SIGNATURE_VERIFIED
        )
        is refused
    )
    other = refused.failed(s.UNSIGNED, "sha256:222… not pinned", "2026-01-03T00:00:00Z")
    assert other.condition is not None and other.condition.type == "ImportSuccess"


def test_a_move_forgets_the_old_digests_signature() -> None:
    entry = pinned(SignatureRecord("release", FP))
    moved = entry.moved_to(D2, f"r.io/a@{D2}", "2026-01-02T00:00:00Z")
    assert moved.signature is None
    assert entry.moved_to(D1, f"r.io/a@{D1}", "2026-01-02T00:00:00Z").signature == entry.signature


def test_a_lock_without_signatures_reads_as_before() -> None:
    golden = Path(__file__).parent / "golden" / "lock_basic.yaml"
    lock = parse_lock(golden.read_bytes())
    assert all(entry.signature is None for entry in lock.tags.values())
    assert render_lock(lock) == golden.read_bytes()


def test_reviewers_read_which_key_verified_a_move() -> None:
    old = Lock(tags={A: pinned(SignatureRecord("release", FP))})
    moved = pinned(None, D2)
    new = Lock(tags={A: dataclasses.replace(moved, signature=SignatureRecord("partner", FP))})
    [change] = lock_changes(old, new)
    assert change.text.endswith("(signed: key partner)")
    refused = Lock(
        tags={A: old.tags[A].failed(s.UNTRUSTED, "why", "2026-01-02T00:00:00Z", SIGNATURE_VERIFIED)}
    )
    [change] = lock_changes(old, refused)
    assert change.kind == "failed" and "signature refused (UntrustedSignature): why" in change.text
    verified = Lock(tags={A: pinned(SignatureRecord("release", FP))})
    [change] = lock_changes(Lock(tags={A: pinned(None)}), verified)
    assert change.kind == "verified" and "signature verified by key release" in change.text
