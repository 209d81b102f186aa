"""Starting and stopping the daemon (``reconciler run``), as numbered steps:

1. read the configuration file and the settings it names (environment included);
2. set up the process's logs in the configured format and level;
3. build the ``Daemon`` (its durable state opens here; an unreadable state file is moved
   aside and rebuilt, not fatal);
4. listen, and serve HTTP from a background thread;
5. ask the repository for the branch (``git ls-remote``): a repository that does not
   exist, a missing branch or refused access ends start-up; a remote that cannot be
   reached does not (the loop retries with backoff, ``/readyz`` says 503 meanwhile, and
   ``/status`` says why);
6. route SIGTERM and SIGINT into the daemon's one stop event;
7. run the loop in this (the main) thread until it stops;
8. stop the HTTP server, after the loop: the current step finishes first.

Owns the order of those steps and turning a start-up failure into its message and exit
code: every failure is a ``ConfigurationError`` (the operator's input is wrong: a bad
file, a state directory we cannot use, an address we cannot listen on, a repository or
branch that is not there), reported as ``reconciler: error: ...`` lines on stderr with
exit code 2. Exit code 2 is not worth restarting for: under systemd, see
``RestartPreventExitStatus=2`` in ``deploy/imagestream-reconciler.service``.

Must not: parse command-line flags (the CLI does), do a pass's work (the runner does), or
answer requests (the server does).
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
from pathlib import Path

from reconciler.config.settings import Settings, SettingsError, load_settings
from reconciler.core.errors import EXIT_OK, ConfigurationError
from reconciler.core.registries import RegistriesConfError
from reconciler.daemon import logs
from reconciler.daemon.config import DaemonConfig, DaemonConfigError, load_daemon_config
from reconciler.daemon.runner import Daemon
from reconciler.daemon.server import Server, make_server
from reconciler.gitrepo import remote
from reconciler.gitrepo.workspace import GitError, display_url
from reconciler.passes.run import Checkpoint, no_checkpoint


def main(config_path: Path, *, checkpoint: Checkpoint = no_checkpoint) -> int:
    """Run the daemon until SIGTERM or SIGINT; the process's exit code. ``checkpoint`` is
    handed to the daemon (the kill tests inject crash points through it)."""
    try:
        return _run(config_path, checkpoint)
    except ConfigurationError as exc:
        for problem in exc.problems:
            print(f"reconciler: error: {problem}", file=sys.stderr)
        return exc.exit_code


def _run(config_path: Path, checkpoint: Checkpoint) -> int:
    config, settings = _configuration(config_path)  # 1
    logs.configure(config.log_format, config.log_level)  # 2
    daemon = _daemon(config, settings, checkpoint)  # 3
    server = _listen(daemon, config)  # 4
    server.start()
    logs.log(
        logging.INFO,
        "listening",
        address="{}:{}".format(*server.address),
        repo=display_url(config.repo_url),
        branch=config.branch,
    )
    try:
        _check_repository(config)  # 5
    except ConfigurationError:
        server.stop()
        daemon.close()
        raise

    def on_signal(signum: int, _frame: object) -> None:
        logs.log(
            logging.INFO,
            "stopping: the current step finishes first",
            signal=signal.Signals(signum).name,
        )
        daemon.stop()

    signal.signal(signal.SIGTERM, on_signal)  # 6
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.run()  # 7
    finally:
        server.stop()  # 8
    logs.log(logging.INFO, "stopped")
    return EXIT_OK


def _configuration(config_path: Path) -> tuple[DaemonConfig, Settings]:
    try:
        config = load_daemon_config(config_path, os.environ)
    except DaemonConfigError as exc:
        raise ConfigurationError(exc.problems[0], problems=tuple(exc.problems)) from exc
    try:
        settings = load_settings(
            os.environ,
            registries_conf=config.registries_conf,
            platform=config.platform,
            concurrency=config.concurrency,
            timeout=config.timeout,
            ca_bundle=config.ca_bundle,
            auth_files=[config.auth_file] if config.auth_file else None,
            pull_secrets_dir=config.secrets_dir,
            allowed_registries=config.allowed_registries_file,
            max_bulk=config.policy.max_bulk_per_repository,
            registry_concurrency=config.registry_concurrency,
            registry_rate=config.registry_rate,
            tag_list_budget=config.tag_list_budget,
            # Without a setting of its own, a tag list is asked again at most once per
            # scheduled-import interval, as a scheduled tag is.
            tag_list_max_age=(
                config.tag_list_max_age
                if config.tag_list_max_age is not None
                else config.policy.minimum_interval
            ),
            signature_keys=dict(config.signature_keys),
            signature_keys_from=f"{config_path} signatures.keys",
        )
    except (SettingsError, RegistriesConfError) as exc:
        raise ConfigurationError(str(exc)) from exc
    return config, settings


def _check_repository(config: DaemonConfig) -> None:
    """ConfigurationError (git's first line) when the repository or branch is not there or
    lets us not in; a remote that does not answer is only logged: the loop retries."""
    try:
        remote.check_repository(config.repo_url, config.branch)
    except GitError as exc:
        logs.log(
            logging.WARNING,
            "cannot reach the repository: starting anyway, the loop retries with backoff",
            error=str(exc),
        )


def _daemon(config: DaemonConfig, settings: Settings, checkpoint: Checkpoint) -> Daemon:
    try:
        return Daemon(config, settings, checkpoint=checkpoint)
    except OSError as exc:
        raise ConfigurationError(f"cannot use stateDir {config.state_dir}: {exc.strerror}") from exc
    except sqlite3.Error as exc:  # not corruption (that is rebuilt): permissions, a full disk
        raise ConfigurationError(f"cannot use stateDir {config.state_dir}: {exc}") from exc


def _listen(daemon: Daemon, config: DaemonConfig) -> Server:
    try:
        return make_server(daemon, config.listen_host, config.listen_port)
    except OSError as exc:
        daemon.close()
        raise ConfigurationError(
            f"cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror}"
        ) from exc
