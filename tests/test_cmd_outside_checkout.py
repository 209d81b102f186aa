"""Every verb that works on a checkout exits 2 ("could not run", as its --help says) in
a directory that is not one, writes nothing there, and says why; a fresh ``git init``
or a directory of manifests is a checkout."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from reconciler.cli import main as cli
from reconciler.core.errors import EXIT_CANNOT_RUN, EXIT_OK

VERBS = [
    ["validate"],
    ["plan"],
    ["get", "is"],
    ["get", "images"],
    ["describe", "is"],
    ["describe", "isimage", "web@sha256:" + "a" * 64],
    ["tag", "a:b", "c:d"],
    ["hold", "a:b", "--reason", "r"],
    ["release", "a:b"],
    ["import-image", "x", "--from=quay.io/a/b"],
    ["new-app", "--image-stream=x"],
    ["prune"],
    ["triggers", "list"],
    ["set", "triggers", "deploy/web", "--from-image=web:latest", "-c", "web"],
    ["set", "image-lookup", "web"],
]


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "not-a-checkout"
    directory.mkdir()
    (directory / "notes.txt").write_text("not a manifest\n")
    monkeypatch.chdir(directory)
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    return directory


@pytest.mark.parametrize("argv", VERBS, ids=[" ".join(v[:2]) for v in VERBS])
def test_outside_a_checkout_exits_2(
    empty: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(argv, io.StringIO())
    err = capsys.readouterr().err
    assert code == EXIT_CANNOT_RUN, err
    assert "not a checkout of the GitOps repository" in err
    assert sorted(p.name for p in empty.iterdir()) == ["notes.txt"]


def test_validate_names_the_directory(empty: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["validate", str(empty)], io.StringIO()) == EXIT_CANNOT_RUN
    assert str(empty) in capsys.readouterr().err


def test_a_fresh_git_repository_is_a_checkout(empty: Path) -> None:
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    out = io.StringIO()
    assert cli.main(["get", "is"], out) == EXIT_OK
    assert out.getvalue() == "No resources found in default namespace.\n"
    (empty / "sub").mkdir()
    assert cli.main(["get", "is", "--repo", str(empty / "sub")], io.StringIO()) == EXIT_OK


def test_a_directory_of_manifests_is_a_checkout(empty: Path) -> None:
    (empty / "web.yaml").write_text(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: web\n"
    )
    out = io.StringIO()
    assert cli.main(["validate"], out) == EXIT_OK
    assert out.getvalue().startswith("valid: 1 objects in 1 files")
