"""The ``set`` verbs' refusals and messages, as oc's (openshift/oc pkg/cli/set/triggers.go
and imagelookup.go): --from-image on another registry or without a tag, flag mixtures,
objects that are not there, BuildConfigs, and a refused edit that writes nothing."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from reconciler.cli import main as cli

FIXTURE = Path(__file__).parent / "golden" / "set-triggers" / "deployment" / "before"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "repo"
    shutil.copytree(FIXTURE, target)
    return target


def run(repo: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main([*argv, "--repo", str(repo)], out), out.getvalue()


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-image=quay.io/shop/web:prod", "-c", "web"], "must point to an image stream tag on this server"),
        (["--from-image=web@sha256:" + "a" * 64, "-c", "web"], "must point to an image stream tag on this server"),
        (["--from-image=web", "-c", "web"], "must include the tag you wish to pull from"),
        (["--auto", "--manual"], "at most one of --auto or --manual"),
        (["--remove"], "--remove requires a flag defining a trigger type"),
        (["--remove-all", "--from-config"], "--remove-all may not be used with any other flag"),
        (["--from-image=web:prod", "-c", "nope"], "not all container names exist: nope (accepts: migrate, sidecar, web)"),
        (["--from-image=web:prod"], "you must specify --containers when setting --from-image"),
        (["--from-image=web:nope", "-c", "web"], "ImageStreamTag shop/web:nope is not defined in the repo"),
    ],
)  # fmt: skip
def test_set_triggers_refusals_write_nothing(
    repo: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tree(repo)
    code, _ = run(repo, "set", "triggers", "deploy/web", *argv)
    assert code == 1
    assert message in capsys.readouterr().err
    assert tree(repo) == before


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (["deploy/nope"], 'deployments.apps "nope" not found in namespace shop'),
        (["dc/nope"], 'deploymentconfigs.apps.openshift.io "nope" not found'),
        (["bc/web"], "set triggers on a BuildConfig is not supported"),
        (["pod/web"], "expected TYPE/NAME"),
    ],
)
def test_set_triggers_objects(
    repo: Path, target: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(repo, "set", "triggers", *target, "--from-image=web:prod", "-c", "web")
    assert code == 1
    assert message in capsys.readouterr().err


def test_type_then_names(repo: Path) -> None:
    code, out = run(
        repo, "set", "triggers", "deployment", "web", "--from-image=web:prod", "-c", "web"
    )
    assert (code, out.splitlines()[0]) == (0, "deployment.apps/web triggers updated")


def test_commit(repo: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for key, value in (("user.name", "T"), ("user.email", "t@example.com")):
        subprocess.run(["git", "-C", str(repo), "config", key, value], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "init"], check=True)
    code, out = run(repo, "set", "image-lookup", "web", "--commit")
    assert code == 0, out
    log = subprocess.run(
        ["git", "-C", str(repo), "log", "-1", "--format=%B"], capture_output=True, text=True
    ).stdout
    assert log.startswith(
        "reconciler set image-lookup web\n\nimagestream.image.openshift.io/web image lookup updated"
    )


def test_image_lookup_refusals(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(repo, "set", "image-lookup", "nope")[0] == 1
    assert 'imagestreams.image.openshift.io "nope" not found' in capsys.readouterr().err
    assert run(repo, "set", "image-lookup", "deploy/web")[0] == 1
    assert "give STREAM" in capsys.readouterr().err
