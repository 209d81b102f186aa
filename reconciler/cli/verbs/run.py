"""``reconciler run --config FILE``: the daemon. Keeps one repository reconciled
(scheduled imports, webhooks, registry notifications, metrics) until SIGTERM."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from reconciler.cli.command import EXIT_CANNOT_RUN, EXIT_OK, Subparsers, add_verb, err
from reconciler.config.settings import load_settings
from reconciler.gitrepo.workspace import display_url
from reconciler.passes.run import Checkpoint, no_checkpoint

EXAMPLES = """\
  reconciler run --config /etc/imagestream-reconciler/daemon.yaml
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "run",
        help="the daemon: keep a repo reconciled (scheduled imports, webhooks, metrics)",
        description="Runs until SIGTERM. See the README's 'Running on a server'.",
        run=run,
        examples=EXAMPLES,
    )
    p.add_argument("--config", required=True, metavar="FILE", help="daemon configuration (YAML)")


def run(args: argparse.Namespace, out: TextIO) -> int:
    return run_daemon(Path(args.config))


def run_daemon(config_path: Path, *, checkpoint: Checkpoint = no_checkpoint) -> int:
    """Start the daemon from its configuration file and run it until SIGTERM.
    ``checkpoint`` is called between the steps of a pass; the kill tests pass one that
    SIGKILLs the process at one of them."""
    import signal

    from reconciler.daemon.config import load_daemon_config
    from reconciler.daemon.logs import configure, log
    from reconciler.daemon.runner import Daemon
    from reconciler.daemon.server import make_server, serve_in_background

    config = load_daemon_config(config_path, os.environ)
    configure(config.log_format)
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
    )
    try:
        daemon = Daemon(config, settings, checkpoint=checkpoint)
    except OSError as exc:
        err(f"cannot use stateDir {config.state_dir}: {exc.strerror}")
        return EXIT_CANNOT_RUN
    try:
        server = make_server(daemon, config.listen_host, config.listen_port)
    except OSError as exc:
        daemon.close()
        err(f"cannot listen on {config.listen_host}:{config.listen_port}: {exc.strerror}")
        return EXIT_CANNOT_RUN
    serve_in_background(server)
    host, port = str(server.server_address[0]), server.server_address[1]
    log(
        20,
        "listening",
        address=f"{host}:{port}",
        repo=display_url(config.repo_url),
        branch=config.branch,
    )

    def on_signal(signum: int, _frame: object) -> None:
        log(20, "stopping: the current step finishes first", signal=signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.run()
    finally:
        server.shutdown()
        server.server_close()
    log(20, "stopped")
    return EXIT_OK
