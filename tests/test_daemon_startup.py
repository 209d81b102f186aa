"""The daemon's start-up (``reconciler.daemon.startup``): every failure before the loop
runs is one ``reconciler: error:`` line per problem and exit code 2, and the process's
logging then carries the libraries' records in the daemon's format."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.daemon import logs, startup
from reconciler.daemon.config import load_daemon_config


@pytest.fixture
def kept_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Start-up configures the process's loggers; keep that from leaking into other tests."""
    for name in (logs.LOGGER, *logs.ADOPTED):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", list(logger.handlers))
        monkeypatch.setattr(logger, "propagate", logger.propagate)
        monkeypatch.setattr(logger, "level", logger.level)
    yield


def test_configuration_problems_are_each_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "d.yaml"
    config.write_text("repo: {url: /nowhere.git}\nlisten: 127.0.0.1:99999\nbogus: 1\n")
    assert startup.main(config) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert all(line.startswith(f"reconciler: error: {config}:") for line in err)
    assert any("listen: port must be 0-65535" in line for line in err)


def test_an_unusable_state_dir_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kept_logging: None
) -> None:
    (tmp_path / "state").write_text("a file, not a directory")
    config = tmp_path / "d.yaml"
    config.write_text("repo: {url: /nowhere.git}\nstateDir: state\nlisten: 127.0.0.1:0\n")
    assert startup.main(config) == 2
    assert f"reconciler: error: cannot use stateDir {tmp_path / 'state'}: " in (
        capsys.readouterr().err
    )


def test_an_address_in_use_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kept_logging: None
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "d.yaml"
        config.write_text(
            f"repo: {{url: /nowhere.git}}\nstateDir: state\nlisten: 127.0.0.1:{port}\n"
        )
        assert startup.main(config) == 2
    assert capsys.readouterr().err == (
        f"reconciler: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


def test_uvicorn_records_take_the_daemon_format(
    capsys: pytest.CaptureFixture[str], kept_logging: None
) -> None:
    logs.configure("json")
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.info("Started server process [%d]", 1)  # repeats our own "listening": quiet
    uvicorn_log.warning("Invalid HTTP request received.")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    record = json.loads(lines[0])
    assert record["level"] == "warning"
    assert record["msg"] == "Invalid HTTP request received."
    assert record["logger"] == "uvicorn.error"


def test_registry_files_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the README's configuration reference says of every path in the file: the
    daemon's working directory (WorkingDirectory= under systemd) does not matter."""
    etc = tmp_path / "etc"
    (etc / "secrets").mkdir(parents=True)
    for name in ("registries.conf", "ca.pem", "auth.json", "allowed.yaml"):
        (etc / name).write_text("{}\n" if name == "auth.json" else "")
    config = etc / "d.yaml"
    config.write_text(
        "repo: {url: /nowhere.git}\n"
        "registries:\n"
        "  registriesConf: registries.conf\n"
        "  caBundle: ca.pem\n"
        "  authFile: auth.json\n"
        "  secretsDir: secrets\n"
        "  allowedRegistriesForImport: allowed.yaml\n"
    )
    monkeypatch.chdir(tmp_path)  # not the config's directory
    loaded = load_daemon_config(config, {})
    assert loaded.registries_conf == str(etc / "registries.conf")
    assert loaded.ca_bundle == str(etc / "ca.pem")
    assert loaded.auth_file == str(etc / "auth.json")
    assert loaded.secrets_dir == str(etc / "secrets")
    assert loaded.allowed_registries_file == str(etc / "allowed.yaml")


def test_a_missing_registry_file_names_its_line_and_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "d.yaml"
    config.write_text(
        "repo: {url: /nowhere.git}\n"
        "registries:\n"
        "  platform: linux/amd64\n"
        "  authFile: /nonexistent/auth.json\n"
        "  secretsDir: missing-secrets\n"
    )
    assert startup.main(config) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"reconciler: error: {config}:4:3: registries.authFile: "
        "/nonexistent/auth.json does not exist",
        f"reconciler: error: {config}:5:3: registries.secretsDir: "
        f"{tmp_path / 'missing-secrets'} is not a directory",
    ]
