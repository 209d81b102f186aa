"""The oc-style verbs on a checkout, without a registry: short digests in get and tag, the
exit codes of get, describe and tag -d (1 = not found or invalid input, 2 = could not run),
and output into a pipe whose reader went away."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main as cli

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-01-01T12:00:00Z"
# The digests of approved-apache's history in the fixture's lock.
D83 = "sha256:83fbb416389b1555a7978ce1577e9934782b485a2e04f122c204629a00d3bf2d"
D6C = "sha256:6c9ed0ed01769236210e7b69c2438717b87c6f7e58a56a978ce2af0fd38d8acd"
D83_TWIN = "sha256:83fbb416" + "0" * 56  # shares 8 hex characters with D83


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout with one stream, approved-apache, and a lock with three images of it."""
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    repo = tmp_path / "repo"
    shutil.copytree(GOLDEN / "get" / "isimage" / "before", repo)
    return repo


def run(repo: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main([*argv, "--repo", str(repo), "--now", NOW], out)
    return code, out.getvalue()


def with_twin(repo: Path) -> None:
    """Make the 6c9e... image a second digest starting sha256:83fbb416."""
    lock = repo / "images.lock.yaml"
    lock.write_text(lock.read_text().replace(D6C, D83_TWIN))


# ---------------------------------------------------------------- short digests


@pytest.mark.parametrize("short", [D83[:14], D83[:20], D83])
def test_get_istag_takes_a_unique_digest_prefix(checkout: Path, short: str) -> None:
    code, out = run(checkout, "get", "istag", f"approved-apache@{short}", "-o", "name")
    assert code == 0
    assert out == f"imagestreamtag.image.openshift.io/approved-apache@{D83}\n"


def test_get_istag_short_digest_gives_the_full_object(checkout: Path) -> None:
    code, out = run(checkout, "get", "istag", f"approved-apache@{D6C[:14]}", "-o", "yaml")
    assert code == 0
    assert "kind: ImageStreamImage" in out
    assert f"name: approved-apache@{D6C}" in out


def test_get_istag_ambiguous_prefix_lists_the_candidates(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_twin(checkout)
    code, out = run(checkout, "get", "istag", "approved-apache@sha256:83fbb41")
    err = capsys.readouterr().err
    assert code == 1
    assert out == ""
    assert "ambiguous" in err and D83 in err and D83_TWIN in err
    assert "not found" not in err
    # one more character is unique again
    code, out = run(checkout, "get", "istag", f"approved-apache@{D83[:16]}", "-o", "name")
    assert (code, out) == (0, f"imagestreamtag.image.openshift.io/approved-apache@{D83}\n")


def test_get_istag_too_short_prefix_is_refused(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(checkout, "get", "istag", "approved-apache@sha256:83fbb4")
    assert code == 1
    assert "at least 7 hex characters" in capsys.readouterr().err


def test_get_istag_found_and_missing_names_together(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(
        checkout, "get", "istag", f"approved-apache@{D83[:14]}", "approved-apache@sha256:1234567",
        "-o", "name",
    )  # fmt: skip
    assert code == 1
    assert out == f"imagestreamtag.image.openshift.io/approved-apache@{D83}\n"
    assert '"approved-apache@sha256:1234567" not found' in capsys.readouterr().err


def test_get_images_takes_a_unique_digest_prefix(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = run(checkout, "get", "images", D6C[:14], "-o", "name")
    assert (code, out) == (0, f"image.image.openshift.io/{D6C}\n")
    with_twin(checkout)
    code, out = run(checkout, "get", "images", "sha256:83fbb41")
    assert code == 1
    assert "ambiguous" in capsys.readouterr().err


def test_tag_from_a_short_digest_pins_the_full_one(checkout: Path) -> None:
    code, out = run(checkout, "tag", f"approved-apache@{D6C[:14]}", "approved-apache:rollback")
    assert code == 0, out
    assert f"Tag approved-apache:rollback set to approved-apache@{D6C}." in out
    manifest = (checkout / "imagestreams" / "approved-apache.yaml").read_text()
    assert f"name: approved-apache@{D6C}" in manifest


def test_tag_from_an_ambiguous_digest_changes_nothing(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with_twin(checkout)
    before = (checkout / "imagestreams" / "approved-apache.yaml").read_text()
    code, _ = run(checkout, "tag", "approved-apache@sha256:83fbb41", "approved-apache:rollback")
    assert code == 1
    assert "ambiguous" in capsys.readouterr().err
    assert (checkout / "imagestreams" / "approved-apache.yaml").read_text() == before


# ---------------------------------------------------------------- exit codes


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["get", "istag", "approved-apache:nope"], id="get-istag"),
        pytest.param(["get", "is", "nope"], id="get-is"),
        pytest.param(["get", "images", "sha256:" + "0" * 64], id="get-images"),
        pytest.param(["get", "streams"], id="get-unknown-type"),
        pytest.param(["describe", "is/nope"], id="describe"),
        pytest.param(["describe", "deploy/web"], id="describe-not-a-stream"),
        pytest.param(["tag", "-d", "approved-apache:nope"], id="tag-d"),
        pytest.param(["tag", "-d", "nope:latest"], id="tag-d-no-stream"),
        pytest.param(["tag", "-d", "approved-apache"], id="tag-d-no-tag"),
        pytest.param(["tag", "nope:1", "approved-apache:x", "--source", "istag"], id="tag-src"),
    ],
)
def test_not_found_and_invalid_input_exit_1(checkout: Path, argv: list[str]) -> None:
    code, _ = run(checkout, *argv)
    assert code == 1


@pytest.mark.parametrize(
    "argv",
    [["get", "istag", "x:y"], ["describe", "is/x"], ["tag", "-d", "x:y"]],
    ids=["get", "describe", "tag-d"],
)
def test_could_not_run_exits_2(tmp_path: Path, argv: list[str]) -> None:
    code, _ = run(tmp_path / "not-a-checkout", *argv)
    assert code == 2


@pytest.mark.parametrize("verb", ["get", "describe", "tag"])
def test_help_epilog_states_the_exit_codes(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main([verb, "--help"], io.StringIO())
    text = capsys.readouterr().out
    assert "exit codes:" in text
    assert "\n  1  " in text and "not found" in text
    assert "\n  2  could not run" in text


# ---------------------------------------------------------------- a closed pipe


class ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_in_process_exits_141(checkout: Path) -> None:
    code = cli.main(["get", "istag", "-o", "json", "--repo", str(checkout)], ClosedPipe())
    assert code == 141


def test_broken_pipe_has_no_traceback(checkout: Path) -> None:
    """`reconciler get istag -o json | head -1`, with the reader gone before the output."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", "get", "istag", "-o", "json"],
            cwd=checkout,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""


def test_verbs_never_ask_a_registry_outside_the_allow_list(
    checkout: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """allowedRegistriesForImport keeps every verb's requests away, not just reconcile's:
    the preview of import-image and --all refuse before asking (a refused name would
    otherwise reach 127.0.0.1:9, which answers nothing)."""
    allowed = tmp_path / "allowed.yaml"
    allowed.write_text("- domainName: quay.io\n")
    flags = ["--allowed-registries-for-import", str(allowed), "--timeout", "1"]
    code, out = run(checkout, "import-image", "x:1", "--from=127.0.0.1:9/team/x:1", *flags)
    assert code == 1
    assert "importing from 127.0.0.1:9 is not allowed" in out + capsys.readouterr().err
    code, out = run(checkout, "import-image", "x", "--from=127.0.0.1:9/team/x", "--all", *flags)
    assert code == 1
    assert "importing from 127.0.0.1:9 is not allowed" in out + capsys.readouterr().err


def test_tag_reads_an_unqualified_source_from_the_current_namespace(checkout: Path) -> None:
    """`tag approved-apache:2.4 other/approved-apache:copy` pins the image of
    toms-project/approved-apache:2.4 (the current namespace), not other's."""
    from dataclasses import replace

    from reconciler.core.lockfile import parse_lock, render_lock
    from reconciler.core.streams import TagRef

    text = (checkout / "imagestreams" / "approved-apache.yaml").read_text()
    other = text.replace(
        "  name: approved-apache\n", "  name: approved-apache\n  namespace: other\n", 1
    )
    (checkout / "imagestreams" / "other.yaml").write_text(other)
    lock_path = checkout / "images.lock.yaml"
    lock = parse_lock(lock_path.read_bytes())
    mine = lock.tags[TagRef("toms-project", "approved-apache", "2.4")]
    theirs_digest = "sha256:" + "e" * 64
    theirs = replace(mine, history=()).moved_to(
        theirs_digest, f"docker.io/bitnami/apache@{theirs_digest}", "2026-01-01T00:00:00Z"
    )
    tags = dict(lock.tags)
    for ref, entry in lock.tags.items():
        tags[TagRef("other", ref.stream, ref.tag)] = theirs if ref.tag == "2.4" else entry
    lock_path.write_bytes(render_lock(replace(lock, tags=tags)))

    code, out = run(checkout, "tag", "approved-apache:2.4", "other/approved-apache:copy")
    assert code == 0, out
    written = (checkout / "imagestreams" / "other.yaml").read_text()
    assert f"approved-apache@{mine.digest}" in written
    assert "namespace: toms-project" in written
    assert theirs_digest not in written


def test_edits_keep_crlf_line_endings_and_a_bom(checkout: Path) -> None:
    path = checkout / "imagestreams" / "approved-apache.yaml"
    lines = path.read_text().splitlines()
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    before = path.read_bytes()
    code, out = run(checkout, "tag", "bitnami/apache:2.6", "approved-apache:next", "--reference")
    assert code == 0, out
    after = path.read_bytes()
    assert after.startswith(b"\xef\xbb\xbf")
    assert after.count(b"\n") == after.count(b"\r\n")  # every line still CRLF
    old_lines, new_lines = before.split(b"\r\n"), after.split(b"\r\n")
    assert [line for line in old_lines if line not in new_lines] == []  # only additions
    assert any(b"bitnami/apache:2.6" in line for line in new_lines)
