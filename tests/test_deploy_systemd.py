"""deploy/imagestream-reconciler.service: hardened (``systemd-analyze security --offline``
at or under 3.0), a unit systemd parses without complaint, its credentials and the
config it runs (deploy/daemon-systemd.yaml) naming the same files, and git's ssh pointed
at them. systemd-analyze comes with Debian's ``systemd`` package (scripts/setup)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from ssh_config import ssh_settings

from reconciler.daemon.config import parse_daemon_config

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "imagestream-reconciler.service"
CONFIG = ROOT / "deploy" / "daemon-systemd.yaml"
CREDENTIALS = "/run/credentials/imagestream-reconciler.service"
MAX_EXPOSURE = 3.0

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="no systemd-analyze here (Debian package systemd)",
)


def directives(name: str) -> list[str]:
    return [
        line.split("=", 1)[1]
        for line in UNIT.read_text().splitlines()
        if line.startswith(f"{name}=")
    ]


@needs_analyze
def test_security_exposure_is_at_most_3() -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE, done.stdout
    # Nothing in the unit was ignored as unknown or invalid.
    assert "Unknown" not in done.stderr and "Invalid" not in done.stderr, done.stderr


@needs_analyze
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    """`systemd-analyze verify`: every key known, every value parsed (the ExecStart
    binary is swapped for one that exists here; the rest is the unit as shipped)."""
    unit = tmp_path / UNIT.name
    unit.write_text(re.sub(r"(?m)^ExecStart=\S+", "ExecStart=/usr/bin/env", UNIT.read_text()))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert UNIT.name not in done.stderr, done.stderr  # no warning about this unit


def test_install_comment_uses_a_venv_under_opt() -> None:
    [exec_start] = directives("ExecStart")
    assert exec_start.startswith("/opt/imagestream-reconciler/bin/reconciler run --config ")
    header = UNIT.read_text().split("[Unit]")[0]
    assert "python3 -m venv /opt/imagestream-reconciler" in header
    assert "/opt/imagestream-reconciler/bin/pip install --require-hashes" in header
    assert "deploy/daemon-systemd.yaml /etc/imagestream-reconciler/daemon.yaml" in header
    assert "\n#   pip install" not in header  # the old advice a PEP 668 Python refuses


def test_credentials_and_config_name_the_same_files(tmp_path: Path) -> None:
    loaded = dict(item.split(":", 1) for item in directives("LoadCredential"))
    text = CONFIG.read_text()
    named = set(re.findall(re.escape(CREDENTIALS) + r"/([\w.-]+)", text))
    environment = " ".join(directives("Environment"))
    used_by_ssh = set(re.findall(r"%d/([\w.-]+)", environment))
    # Every file the config or ssh reads is loaded, and every loaded file is read.
    assert named | used_by_ssh == set(loaded), (named, used_by_ssh, loaded)
    assert {"git-ssh-key", "known_hosts"} == used_by_ssh
    for source in loaded.values():
        assert source.startswith("/etc/imagestream-reconciler/credentials/")
    # The daemon accepts the config once the credentials are there (here: in tmp_path,
    # standing in for the credentials directory).
    for name in loaded:
        (tmp_path / name).write_text("{}" if name.endswith(".json") else "s3cret\n")
    config = parse_daemon_config(text.replace(CREDENTIALS, str(tmp_path)), "daemon.yaml", {})
    assert config.github_secret is not None and config.registry_token is not None
    assert config.auth_file == str(tmp_path / "registry-auth.json")
    assert directives("EnvironmentFile") == ["-/etc/imagestream-reconciler/environment"]


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client (openssh-client)")
def test_git_ssh_command_uses_the_credentials(tmp_path: Path) -> None:
    [value] = [v for v in directives("Environment") if "GIT_SSH_COMMAND" in v]
    command = shlex.split(value)[0].split("=", 1)[1]
    words = shlex.split(command.replace("%d", str(tmp_path)))
    (tmp_path / "git-ssh-key").write_text("")
    (tmp_path / "known_hosts").write_text("")
    settings = ssh_settings(words)
    assert settings["stricthostkeychecking"] == "true"
    assert settings["userknownhostsfile"] == str(tmp_path / "known_hosts")
    assert settings["identityfile"] == str(tmp_path / "git-ssh-key")
