"""The command line as a user runs it: output formats, exit codes, and the verbs that
write (reconcile, triggers ack) against a real registry and a bare git remote."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from git_fixtures import GitRemote

from reconciler.cli import main as cli
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent
MakeRemote = Callable[[Mapping[str, str]], GitRemote]

GOOD = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: app
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {image}
      importPolicy:
        insecure: true
        scheduled: true
"""

BAD = """\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: broken
spec:
  tags:
    - name: v1
      from:
        kind: Dockerimage
        name: nginx:1
"""

DEPLOY = """\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: app
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [web]
        from:
          kind: ImageStreamTag
          name: app:latest
"""


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out=out)
    return code, out.getvalue()


def test_validate_valid_invalid_and_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD.format(image="nginx:1"))
    assert run("validate", str(tmp_path)) == (
        0,
        "valid: 1 objects in 1 files, 0 errors, 0 warnings\n",
    )

    (tmp_path / "bad.yaml").write_text(BAD)
    code, out = run("validate", str(tmp_path))
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("bad.yaml:9:9: ImageStream/default/broken: spec.tags[0].from.kind: ")
    assert "'Dockerimage'" in first and "DockerImage" in first

    code, _ = run("validate", str(tmp_path / "missing"))
    assert code == 2


def test_validate_json_and_github(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD)
    code, out = run("validate", str(tmp_path), "-o", "json")
    data = json.loads(out)
    assert code == 1 and data["valid"] is False and data["errors"] == 1
    violation = data["violations"][0]
    assert (violation["file"], violation["line"], violation["column"]) == ("bad.yaml", 9, 9)
    assert violation["object"] == "ImageStream/default/broken"
    assert violation["path"] == "spec.tags[0].from.kind"

    code, out = run("validate", str(tmp_path), "-o", "github")
    assert code == 1
    assert out.startswith("::error file=bad.yaml,line=9,col=9,title=ImageStream/default/broken::")


def test_validate_refuses_duplicate_keys_and_alias_bombs(tmp_path: Path) -> None:
    (tmp_path / "dup.yaml").write_text(GOOD.format(image="nginx:1") + "metadata: {}\n")
    bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(6)
    )
    (tmp_path / "bomb.yaml").write_text(bomb)
    code, out = run("validate", str(tmp_path))
    assert code == 1
    assert "dup.yaml:14:1: duplicate key" in out
    assert "bomb.yaml:4:4: refused: YAML aliases expand past" in out  # at the anchor


def test_sample_repo_is_valid() -> None:
    assert run("validate", str(ROOT / "sample-repo"))[0] == 0


@pytest.mark.integration
def test_reconcile_dry_run_then_real_then_ack(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path, unique_repo: str
) -> None:
    image = f"{local_registry.host}/{unique_repo}:latest"
    digest = push_image(local_registry.url, unique_repo, "latest", seed="cli-1")
    remote = make_remote({"app.yaml": GOOD.format(image=image), "web.yaml": DEPLOY})
    common = ("--repo", remote.url, "--cache-dir", str(tmp_path / "cache"))

    code, out = run("reconcile", *common, "--dry-run")
    assert code == 0
    assert "dry run: nothing written" in out
    assert f"+          digest: {digest}" in out  # the lock diff
    assert "redeploy DeploymentConfig/default/web" in out
    assert remote.commit_count() == 1

    code, out = run("reconcile", *common, "-o", "json")
    data = json.loads(out)
    assert code == 0 and data["pushed"] is True and data["commit"] == remote.head()
    assert [t["toDigest"] for t in data["triggers"]] == [digest]
    record_id = data["triggers"][0]["id"]

    code, out = run("reconcile", *common)
    assert code == 0 and out.rstrip().endswith("nothing changed: no commit")

    code, out = run("triggers", "ack", record_id[:10], *common)
    assert code == 0 and out.startswith(f"acknowledged {record_id}")
    assert "status: acknowledged" in remote.show(f"triggers/{record_id}.yaml")
    assert remote.log()[0] == f"imagestream-reconciler|reconciler: acknowledge {record_id}"

    code, out = run(
        "triggers", "list", "--repo", remote.url, "--cache-dir", str(tmp_path / "c2"), "-o", "json"
    )
    assert code == 0 and [r["status"] for r in json.loads(out)] == ["acknowledged"]

    # Acknowledging survives the next pass: the record is not reopened or rewritten.
    push_image(local_registry.url, unique_repo, "latest", seed="cli-1")
    assert run("reconcile", *common)[0] == 0
    assert "status: acknowledged" in remote.show(f"triggers/{record_id}.yaml")


@pytest.mark.integration
def test_reconcile_reports_unreadable_lock_and_keeps_it(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    remote = make_remote(
        {"app.yaml": GOOD.format(image="nginx:1"), "images.lock.yaml": "kind: [\n"}
    )
    code, _ = run("reconcile", "--repo", remote.url, "--cache-dir", str(tmp_path / "cache"))
    assert code == 2
    assert remote.show("images.lock.yaml") == "kind: ["
    assert remote.commit_count() == 1


@pytest.mark.integration
def test_sample_script_runs_end_to_end(tmp_path: Path) -> None:
    """The README's first command, minus the install step (scripts/setup is tested by CI
    running scripts/test on a clean machine)."""
    if shutil.which("docker-registry") is None:
        pytest.fail("docker-registry is not installed: run scripts/setup")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_sample.py")],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    pass2 = out.split("== pass 2")[1].split("==")[0]
    assert "nothing changed: no commit" in pass2
    pass3 = out.split("== pass 3")[1].split("== trigger records")[0]
    assert "toms-project/marsview:latest: sha256:" in pass3
    assert pass3.count("redeploy DeploymentConfig/toms-project/marsview") == 1
    assert "my-python" not in pass3
    # The sample's policy tag: picked by semver ^2, and moved by the new release.
    pass1 = out.split("== pass 1")[1].split("== pass 2")[0]
    assert "picked 2.4.58 over 2.4.57 by semver ^2 (2 candidates)" in pass1
    assert "(2.4.58 -> 2.4.59: picked 2.4.59 over 2.4.58 by semver ^2 (3 candidates))" in pass3


def test_validate_part_of_a_repo_uses_the_whole_repo_as_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`reconciler validate streams/ build.yaml` inside a repo: the repo's settings and
    the other manifests apply, paths are shown from the repo root, and only problems in
    what was named are reported."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "sample-repo", repo)
    broken = repo / "deployments" / "marsview.yaml"
    broken.write_text(broken.read_text().replace("- name: marsview\n", "- name: main\n"))
    monkeypatch.chdir(repo / "builds")
    assert run("validate", ".", "../imagestreams") == (
        0,
        "valid: 6 objects in 6 files, 0 errors, 0 warnings\n",
    )
    code, out = run("validate", "../deployments")
    assert code == 1
    assert out.startswith(
        "deployments/marsview.yaml:31:13: DeploymentConfig/toms-project/marsview:"
    )


@pytest.mark.parametrize(
    ("env", "flags", "message"),
    [
        ({"RECONCILER_CONCURRENCY": "abc"}, [], "RECONCILER_CONCURRENCY='abc': expected a number"),
        ({"RECONCILER_TIMEOUT": "-1"}, [], "RECONCILER_TIMEOUT=-1.0: must be greater than 0"),
        ({}, ["--concurrency", "0"], "--concurrency=0: must be greater than 0"),
        (
            {"RECONCILER_PLATFORM": "linux"},
            [],
            "RECONCILER_PLATFORM='linux': expected os/arch[/variant], e.g. linux/amd64",
        ),
        (
            {"RECONCILER_PLATFORM": "linux"},
            ["--platform", "arm64"],
            "--platform 'arm64': expected os/arch[/variant], e.g. linux/amd64",
        ),
        (
            {},
            ["--ca-bundle", "/nonexistent/ca.pem"],
            "CA bundle /nonexistent/ca.pem does not exist",
        ),
    ],
)
def test_bad_settings_are_clear_errors(
    env: dict[str, str],
    flags: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = cli.main(["plan", "--repo", str(ROOT / "sample-repo"), *flags])
    assert code == 2
    assert capsys.readouterr().err == f"reconciler: error: {message}\n"


def test_daemon_listen_errors_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging
    import socket

    # `run` configures the process's logging; keep that from leaking into other tests.
    logger = logging.getLogger("reconciler")
    monkeypatch.setattr(logger, "handlers", list(logger.handlers))
    monkeypatch.setattr(logger, "propagate", logger.propagate)
    monkeypatch.setattr(logger, "level", logger.level)

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        config = tmp_path / "d.yaml"
        config.write_text(
            f"repo: {{url: /nowhere.git}}\nstateDir: state\nlisten: 127.0.0.1:{port}\n"
        )
        assert cli.main(["run", "--config", str(config)]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
        config.write_text("repo: {url: /nowhere.git}\nlisten: 127.0.0.1:99999\n")
        assert cli.main(["run", "--config", str(config)]) == 2
        assert "d.yaml:2:1: listen: port must be 0-65535" in capsys.readouterr().err
    finally:
        busy.close()


@pytest.mark.integration
def test_a_relative_repo_path_works_on_every_run(
    make_remote: MakeRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = make_remote(
        {"app.yaml": GOOD.format(image="nginx:1").replace("scheduled: true", "scheduled: false")}
    )
    monkeypatch.chdir(remote.bare.parent)
    for _ in range(2):
        code, out = run(
            "reconcile",
            "--repo",
            remote.bare.name,
            "--cache-dir",
            str(tmp_path / "c"),
            "--dry-run",
            "--timeout",
            "1",
        )
        assert "cannot fetch" not in out
        assert code in (0, 1)  # nginx:1 cannot be resolved here; the git side works


def test_per_registry_caps_reach_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.cli import flags
    from reconciler.passes.clients import registry_client

    parser = cli.build_parser()
    args = parser.parse_args(["plan", "--registry-concurrency", "3", "--registry-rate", "2.5"])
    settings = flags.settings_from_args(args)
    with registry_client(settings) as client:
        limits = client._default_limits
    assert (limits.max_concurrency, limits.requests_per_second) == (3, 2.5)
    monkeypatch.setenv("RECONCILER_REGISTRY_RATE", "0")
    args = parser.parse_args(["plan"])
    with pytest.raises(Exception, match=r"RECONCILER_REGISTRY_RATE=0\.0: must be greater than 0"):
        flags.settings_from_args(args)


def test_the_readme_names_every_package_setup_installs() -> None:
    """The README's first lines say what scripts/setup installs on the machine (both of its
    commands run it): every apt package, and the Debian package promtool comes from."""
    setup = (ROOT / "scripts" / "setup").read_text()
    packages = re.findall(r"need\+=\(([\w.-]+)\)", setup)
    assert "docker-registry" in packages and "chromium" in packages
    opening = (ROOT / "README.md").read_text().split("\n## ")[0]
    for package in [*packages, "prometheus"]:
        assert f"`{package}`" in opening, package


def test_the_readme_flag_table_names_every_registry_flag() -> None:
    """ "Flags shared by every verb that talks to registries" lists each flag of the
    verbs' "registries and credentials" group."""
    import argparse

    from reconciler.cli import flags

    parser = argparse.ArgumentParser()
    flags.add_registry_flags(parser)
    shared = {
        option
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }
    readme = (ROOT / "README.md").read_text()
    table = readme.split("Flags shared by every verb that talks to registries")[1]
    table = table.split("\n\n", 2)[1]  # the table itself
    missing = sorted(f for f in shared if f"`{f} " not in table and f"`{f}`" not in table)
    assert missing == []
