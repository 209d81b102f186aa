"""Golden-file tests of the oc-style verbs: for each ``tests/golden/<verb>/<case>/``, the
repo in ``before/`` is copied, the command in ``cmd.txt`` runs on the copy, and the copy
must equal ``after/`` byte for byte (no ``after/``: the repo must not change). When the
case has ``stdout.txt``, the output must equal it too.

``cmd.txt``: the first line that is not a comment is the command (shell words, without
``reconciler``); ``# exit: N`` sets the expected exit code (default 0). ``--repo`` and a
fixed ``--now`` are added. ``setup.json`` (optional) lists images to push first:
``{"push": [{"repository": "bitnami/apache", "tag": "2.4", "seed": "...",
"exposed_ports": [...], "labels": {...}}]}``; a registries.conf points docker.io (the
search registry) at them, so every name in the lock is a docker.io name and the goldens
do not depend on the registry's port.

Regenerate after a deliberate change with ``UPDATE_GOLDEN=1`` (and review the diff).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

from reconciler.cli import main as cli
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-01-01T12:00:00Z"
CASES = sorted(p.parent for p in GOLDEN.glob("*/*/cmd.txt"))
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


def _tree(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def _command(case: Path) -> tuple[list[str], int]:
    expected = 0
    argv: list[str] | None = None
    for line in (case / "cmd.txt").read_text().splitlines():
        match = re.match(r"#\s*exit:\s*(\d+)", line)
        if match:
            expected = int(match.group(1))
        elif line.strip() and not line.lstrip().startswith("#") and argv is None:
            argv = shlex.split(line)
    assert argv, f"{case}/cmd.txt has no command"
    return argv, expected


def _prefix(case: Path) -> str:
    return "golden/" + re.sub(r"[^a-z0-9]+", "-", f"{case.parent.name}-{case.name}".lower())


@pytest.mark.parametrize("case", CASES, ids=[f"{c.parent.name}/{c.name}" for c in CASES])
def test_golden(
    case: Path,
    tmp_path: Path,
    local_registry: LocalRegistry,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = _prefix(case)
    setup = case / "setup.json"
    if setup.is_file():
        for image in json.loads(setup.read_text())["push"]:
            digest = push_image(
                local_registry.url,
                f"{prefix}/{image['repository']}",
                image["tag"],
                seed=image["seed"],
                exposed_ports=image.get("exposed_ports"),
                labels=image.get("labels"),
            )
            if "digest" in image:
                assert digest == image["digest"], "push_image is no longer deterministic"
    conf = tmp_path / "registries.conf"
    conf.write_text(
        'unqualified-search-registries = ["docker.io"]\n\n[[registry]]\nprefix = "docker.io"\n'
        f'location = "{local_registry.host}/{prefix}"\ninsecure = true\n'
    )
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    repo = tmp_path / "repo"
    shutil.copytree(case / "before", repo)
    argv, expected_exit = _command(case)
    out = io.StringIO()
    code = cli.main([*argv, "--repo", str(repo), "--now", NOW], out)
    stdout = out.getvalue().replace(local_registry.host, "{registry}")
    stderr = capsys.readouterr().err

    after = case / "after"
    if UPDATE:
        if _tree(repo) != _tree(case / "before"):
            if after.exists():
                shutil.rmtree(after)
            shutil.copytree(repo, after, ignore=shutil.ignore_patterns(".git"))
        (case / "stdout.txt").write_text(stdout)
    assert code == expected_exit, f"exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    expected_tree = _tree(after) if after.is_dir() else _tree(case / "before")
    actual = _tree(repo)
    assert sorted(actual) == sorted(expected_tree)
    for name, content in expected_tree.items():
        assert actual[name].decode() == content.decode(), f"{name} differs"
    if (case / "stdout.txt").is_file():
        assert stdout == (case / "stdout.txt").read_text()
