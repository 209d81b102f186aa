"""The daemon's own faults (issue 10): a push the remote refuses, a remote that does not
answer, a state database that is garbage, a registry notification while that registry is
backed off, a repository or branch that is not there, webhooks that are not a push to the
tracked branch, and readiness while passes fail. Real git (bare remotes on disk, a real
pre-receive hook) and a real docker-registry; fake clocks where the point is time."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_fixtures import GITHUB_SECRET, daemon_config, start_daemon, wait_for
from git_fixtures import GitRemote

from reconciler.cli import main as cli
from reconciler.config.settings import Settings
from reconciler.core.errors import ConfigurationError, PermanentError
from reconciler.core.lockfile import parse_lock
from reconciler.core.schedule import ImportPolicy
from reconciler.core.streams import TagRef
from reconciler.daemon.config import DaemonConfig, DeliveryTarget
from reconciler.daemon.faults import (
    PERMANENT,
    TRANSIENT,
    Faults,
    RetryPolicy,
    backoff_delay,
)
from reconciler.daemon.runner import Daemon
from reconciler.daemon.state import PENDING, State
from reconciler.daemon.webhooks import PushedRepository
from reconciler.gitrepo.remote import check_repository
from reconciler.gitrepo.workspace import (
    GitError,
    PushOutcome,
    PushRefused,
    Workspace,
    classify_push_failure,
)
from reconciler.registry.client import RegistryClient
from reconciler.registry.limits import RegistryLimits
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

MakeRemote = Callable[[Mapping[str, str]], GitRemote]
NS = "team"
HOOK_MESSAGE = "policy: the bot may not push to main"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def stream(name: str, source: str) -> str:
    return f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {{name: {name}, namespace: {NS}}}
spec:
  tags:
    - name: latest
      from: {{kind: DockerImage, name: {source}}}
      importPolicy: {{insecure: true, scheduled: true}}
"""


DEPLOY = f"""\
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
metadata: {{name: web, namespace: {NS}}}
spec:
  template:
    spec:
      containers: [{{name: web, image: app}}]
  triggers:
    - type: ImageChange
      imageChangeParams:
        automatic: true
        containerNames: [web]
        from: {{kind: ImageStreamTag, name: app:latest}}
"""


def install_refusing_hook(remote: GitRemote) -> Path:
    """A pre-receive hook that refuses the bot's commits (a real policy: people only), so
    a human's push goes through while the bot's is refused, without a window between."""
    hook = remote.bare / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        "while read old new ref; do\n"
        '  if [ "$(git log -1 --format=%an "$new")" = "imagestream-reconciler" ]; then\n'
        f'    echo "{HOOK_MESSAGE}" >&2\n'
        "    exit 1\n"
        "  fi\n"
        "done\n"
    )
    hook.chmod(0o755)
    return hook


def cpu_seconds() -> float:
    """This process's CPU, its threads and the git processes it ran included."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def error_passes(daemon: Daemon) -> float:
    return (
        daemon.metrics.registry.get_sample_value("reconciler_passes_total", {"outcome": "error"})
        or 0.0
    )


def pass_errors_logged(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        dict(r.__dict__["fields"])
        for r in caplog.records
        if r.getMessage().startswith("pass failed")
    ]


# ---------------------------------------------------------------- 10: a refused push


def test_workspace_push_refused_by_a_hook_is_permanent_with_gits_own_lines(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    remote = make_remote({"README.md": "x\n"})
    install_refusing_hook(remote)
    workspace = Workspace(remote.url, "main", tmp_path / "clone")
    workspace.sync()
    (workspace.path / "images.lock.yaml").write_text("tags: []\n")
    assert workspace.commit("reconciler: test", ["images.lock.yaml"]) is not None
    with pytest.raises(PushRefused) as refused:
        workspace.push()
    message = str(refused.value)
    assert isinstance(refused.value, PermanentError)
    assert f"remote: {HOOK_MESSAGE}" in message
    assert "! [remote rejected] main (pre-receive hook declined)" in message
    assert "failed to push some refs" not in message


def test_a_push_race_is_still_a_retry(make_remote: MakeRemote, tmp_path: Path) -> None:
    remote = make_remote({"README.md": "x\n"})
    workspace = Workspace(remote.url, "main", tmp_path / "clone")
    workspace.sync()
    (workspace.path / "images.lock.yaml").write_text("tags: []\n")
    workspace.commit("reconciler: test", ["images.lock.yaml"])
    remote.commit({"other.txt": "moved\n"})
    outcome = workspace.push()
    assert outcome == PushOutcome(False, "[rejected] (fetch first)")


@pytest.mark.parametrize(
    ("stdout", "stderr", "expected"),
    [
        ("!\tHEAD:refs/heads/main\t[rejected] (non-fast-forward)\nDone", "", "race"),
        ("!\tHEAD:refs/heads/main\t[rejected] (stale info)\nDone", "", "race"),
        (
            "!\tHEAD:refs/heads/main\t[remote rejected] (cannot lock ref 'refs/heads/main')",
            "",
            "race",
        ),
        (
            "!\tHEAD:refs/heads/main\t[remote rejected] (protected branch hook declined)",
            "remote: error: GH006: Protected branch update failed for refs/heads/main.   \n"
            "error: failed to push some refs to 'https://github.com/o/r.git'",
            "remote: error: GH006: Protected branch update failed for refs/heads/main.\n"
            "! [remote rejected] main (protected branch hook declined)",
        ),
        (
            "",
            "remote: Permission to o/r.git denied to bot.\n"
            "fatal: unable to access 'https://bot:tok@github.com/o/r.git/': "
            "The requested URL returned error: 403",
            "remote: Permission to o/r.git denied to bot.\n"
            "fatal: unable to access 'https://***@github.com/o/r.git/': "
            "The requested URL returned error: 403",
        ),
        (
            "",
            "fatal: unable to access 'https://git.example/o/r.git/': Could not resolve host",
            "transient",
        ),
    ],
)
def test_push_outcomes_are_classified(stdout: str, stderr: str, expected: str) -> None:
    outcome = classify_push_failure(stdout, stderr, "https://git.example/o/r.git")
    if expected == "race":
        assert isinstance(outcome, PushOutcome) and not outcome.pushed
    elif expected == "transient":
        assert isinstance(outcome, GitError) and outcome.retryable
    else:
        assert isinstance(outcome, PushRefused) and not outcome.retryable
        assert str(outcome).split("\n", 1)[1] == expected


def test_a_refused_push_stalls_the_daemon_until_the_input_changes(
    local_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Today's loop ran ~3 failed passes a second at ~90 % of a core, with git's reason
    lost. A refused push is permanent: one failed pass, then nothing until the input
    changes, the reason in the log and in /status, /readyz 503."""
    caplog.set_level(logging.INFO, logger="reconciler")
    push_image(local_registry.url, "faults/app", "latest", seed="faults-1")
    source = f"{local_registry.host}/faults/app:latest"
    remote = make_remote({"app.yaml": stream("app", source)})
    config = daemon_config(tmp_path, remote.url)
    # Scheduled tags fall due every second: a failed pass never records its checks, so
    # they stay due, which is what made the old loop spin.
    config = DaemonConfig(**{**config.__dict__, "policy": ImportPolicy(minimum_interval=1)})
    running = start_daemon(config)
    daemon = running.daemon
    try:
        wait_for(lambda: daemon.passes >= 1 and daemon.ready)
        install_refusing_hook(remote)
        remote.commit({"base.yaml": stream("base", source)})  # the bot must commit for it
        wait_for(lambda: error_passes(daemon) >= 1)

        cpu, passes, started = cpu_seconds(), error_passes(daemon), time.monotonic()
        time.sleep(3.0)
        window = time.monotonic() - started
        failed = error_passes(daemon) - passes
        used = cpu_seconds() - cpu
        print(f"\nrefused push: {failed:g} more failed passes, {used:.2f}s CPU in {window:.1f}s")
        assert failed == 0  # stalled: no new pass until the input changes
        assert used < 0.25 * window

        logged = pass_errors_logged(caplog)
        assert logged and logged[0]["kind"] == PERMANENT
        assert f"remote: {HOOK_MESSAGE}" in logged[0]["error"]
        assert "! [remote rejected] main (pre-receive hook declined)" in logged[0]["error"]

        assert httpx.get(f"{running.url}/readyz").status_code == 503
        health = httpx.get(f"{running.url}/status").json()["health"]
        assert health["kind"] == PERMANENT and health["state"] == "stalled"
        assert health["consecutiveFailures"] == 1
        assert "(pre-receive hook declined)" in health["lastError"]
        assert HOOK_MESSAGE in health["lastError"]
        assert health["nextRetry"] >= time.time() + 800  # the 15-minute cap

        # The input changes (the hook goes, a human pushes): the stall ends at once.
        (remote.bare / "hooks" / "pre-receive").unlink()
        remote.commit({"README.md": "fixed\n"})
        body = json.dumps({"ref": "refs/heads/main"}).encode()
        signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
        reply = httpx.post(
            f"{running.url}/hooks/git",
            content=body,
            headers={"X-Hub-Signature-256": f"sha256={signature}", "X-GitHub-Event": "push"},
        )
        assert reply.status_code == 202
        wait_for(lambda: httpx.get(f"{running.url}/readyz").status_code == 200)
        assert httpx.get(f"{running.url}/status").json()["health"]["state"] == "ok"
        assert TagRef(NS, "base", "latest") in parse_lock(remote.show("images.lock.yaml")).tags
    finally:
        running.stop()


# ---------------------------------------------------------------- 10 and 14: backoff, readiness


def test_backoff_delays_double_with_jitter_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=1, maximum=300)
    assert [backoff_delay(n, policy, lambda: 1.0) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff_delay(9, policy, lambda: 1.0) == 256
    assert backoff_delay(10, policy, lambda: 1.0) == 300
    assert backoff_delay(1000, policy, lambda: 1.0) == 300
    assert backoff_delay(3, policy, lambda: 0.0) == 2  # the jitter keeps the upper half
    faults = Faults(policy, rand=lambda: 1.0)
    faults.failed(GitError("down"), 0.0, None)
    assert not faults.may_run(0.5, None, new_event=True)  # events wait out a backoff...
    assert faults.may_run(0.5, "abc", new_event=False)  # ...a new head does not
    assert faults.may_run(1.0, None, new_event=False)
    faults.failed(PermanentError("refused"), 1.0, "abc")
    assert not faults.may_run(800.0, "abc", new_event=False)  # stalled
    assert faults.may_run(800.0, "abc", new_event=True)  # a webhook or notification
    assert faults.may_run(901.0, "abc", new_event=False)  # the cap
    faults.succeeded(2.0)
    assert faults.failure is None and faults.may_run(2.0, "abc", False)


def test_transient_failures_back_off_and_readiness_follows(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    """A remote that stops answering: passes back off 1, 2, 4 ... s (not one per loop
    turn); /readyz turns 503 after 3 failures in a row, with the reason in /status; the
    first good pass resets it all."""
    remote = make_remote({"README.md": "x\n"})
    clock = FakeClock()
    config = daemon_config(tmp_path, remote.url)
    daemon = Daemon(config, Settings(cache_dir=tmp_path), clock=clock)
    daemon.faults.rand = lambda: 1.0  # the top of each jitter range
    try:
        assert daemon.step() is not None and daemon.ready
        hidden = remote.bare.with_name("hidden.git")
        remote.bare.rename(hidden)
        daemon.notify_git("github")

        attempts = []
        for _ in range(40):  # loop turns, each at the time the loop would wake
            before = error_passes(daemon)
            daemon.step()
            if error_passes(daemon) > before:
                attempts.append(clock.now)
            if len(attempts) == 3:
                break
            clock.now += daemon.next_wakeup()
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
        assert gaps == [1.0, 2.0]
        assert not daemon.ready
        health = daemon.status()["health"]
        assert health["kind"] == TRANSIENT and health["state"] == "backing off"
        assert health["consecutiveFailures"] == 3
        assert health["notReadyReason"] == "3 passes in a row failed"
        assert "hidden" not in health["lastError"] and "remote.git" in health["lastError"]
        assert health["nextRetry"] == pytest.approx(clock.now + 4.0)
        assert daemon.step() is None  # not before the retry time, however often asked
        assert error_passes(daemon) == 3

        hidden.rename(remote.bare)  # the remote answers again: its head is news
        assert daemon.step() is not None
        assert daemon.ready and daemon.status()["health"]["state"] == "ok"
        assert daemon.faults.failure is None
    finally:
        daemon.close()


# ---------------------------------------------------------------- 11: a corrupt state database


def test_a_corrupt_state_database_is_moved_aside_and_rebuilt(
    local_registry: LocalRegistry,
    make_remote: MakeRemote,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    push_image(local_registry.url, "corrupt/app", "latest", seed="corrupt-1")
    remote = make_remote(
        {"app.yaml": stream("app", f"{local_registry.host}/corrupt/app:latest"), "web.yaml": DEPLOY}
    )
    target = DeliveryTarget(match="DeploymentConfig/*", url="http://127.0.0.1:9/hook")
    config = DaemonConfig(**{**daemon_config(tmp_path, remote.url).__dict__, "delivery": (target,)})
    first = Daemon(config, Settings(cache_dir=tmp_path))
    first.step()  # opens a record for web and queues its delivery (never made: port 9)
    queued = {d.id for d in first.state.deliveries()}
    first.close()
    assert len(queued) == 1

    database = config.state_dir / "state.sqlite3"
    garbage = os.urandom(4096)
    database.write_bytes(garbage)
    with pytest.raises(PermanentError, match="is corrupt"):
        State(config.state_dir)  # a reader gets an error, not a traceback, and moves nothing
    argv = ["triggers", "list", "--repo", str(config.work_dir), "--state-dir"]
    assert cli.main([*argv, str(config.state_dir)], out=io.StringIO()) == 2
    assert "state.sqlite3 is corrupt: file is not a database" in capsys.readouterr().err
    assert database.read_bytes() == garbage

    caplog.set_level(logging.WARNING, logger="reconciler")
    second = Daemon(config, Settings(cache_dir=tmp_path))
    try:
        aside = list(config.state_dir.glob("state.sqlite3.corrupt-*"))
        assert [p.read_bytes() for p in aside] == [garbage]
        (warning,) = [r for r in caplog.records if "state database" in r.getMessage()]
        fields = warning.__dict__["fields"]
        assert fields["moved_to"] == str(aside[0])
        assert "re-derived from the open records" in fields["lost"]
        assert second.state.deliveries() == []
        second.step()  # the outbox comes back from the open records in the repo
        assert {(d.id, d.state) for d in second.state.deliveries()} == {
            (record, PENDING) for record in queued
        }
    finally:
        second.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def reconciler_run(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reconciler", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
    )


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err


def test_start_up_with_a_corrupt_state_database_serves(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    """Today: a traceback and exit 1, restarted forever by systemd."""
    remote = make_remote({"README.md": "no images yet\n"})
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.sqlite3").write_bytes(b"\x00garbage" * 512)
    port = free_port()
    config = tmp_path / "daemon.yaml"
    config.write_text(
        f"repo: {{url: {remote.url}}}\nstateDir: state\nworkDir: work\n"
        f"listen: 127.0.0.1:{port}\nlogFormat: json\n"
    )
    process = reconciler_run(config)
    try:

        def ready() -> bool:
            assert process.poll() is None, process.communicate()
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready)
    finally:
        code, err = stop(process)
    assert code == 0, err
    warnings = [json.loads(line) for line in err.splitlines() if "moved aside" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning"
    assert "state.sqlite3.corrupt-" in warnings[0]["moved_to"]
    assert "Traceback" not in err


# ---------------------------------------------------------------- 12: notifications while backed off


def test_a_notification_while_the_registry_is_backed_off_waits_for_it(
    fresh_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path
) -> None:
    """Today the forced re-check hits the closed circuit, fails, and is forgotten: the tag
    moves at its next scheduled check (an hour here). Now it stays queued until the
    registry is out of backoff, and is checked then."""
    registry = fresh_registry
    first = push_image(registry.url, "held/app", "latest", seed="held-1")
    remote = make_remote({"app.yaml": stream("app", f"{registry.host}/held/app:latest")})
    clock = FakeClock()
    client = RegistryClient(
        max_concurrency=4,
        timeout=5.0,
        default_limits=RegistryLimits(max_retries=0, circuit_threshold=1, circuit_cooldown=30),
        clock=clock,
        sleep=lambda seconds: None,
    )
    config = daemon_config(tmp_path, remote.url, interval=3600)
    daemon = Daemon(config, Settings(cache_dir=tmp_path), clock=clock, client=client)
    ref = TagRef(NS, "app", "latest")

    def digest() -> str | None:
        entry = parse_lock(remote.show("images.lock.yaml")).get(ref)
        return entry.digest if entry else None

    try:
        daemon.step()
        assert digest() == first

        # The registry goes down at the tag's scheduled check: the circuit opens for 30 s.
        registry.stop()
        clock.now += 4000
        daemon.step()
        assert client.registry_status()[registry.host]["circuit_open"]

        # It comes back and an image is pushed; the notification arrives inside the 30 s.
        registry.start()
        moved = push_image(registry.url, "held/app", "latest", seed="held-2")
        clock.now += 5
        assert daemon.notify_registry([PushedRepository(registry.host, "held/app", "latest")])
        daemon.step()
        assert digest() == first  # not asked: the circuit is open
        assert 0 < daemon.next_wakeup() <= 25.0  # the loop wakes when it closes

        clock.now += daemon.next_wakeup()
        daemon.step()
        assert digest() == moved
    finally:
        daemon.close()


# ---------------------------------------------------------------- 13: start-up checks the repo


def run_to_exit(config: Path) -> tuple[int, str]:
    process = reconciler_run(config)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        code, err = stop(process)
        raise AssertionError(f"still running after 60 s (exit {code} on SIGTERM): {err}") from None
    return process.returncode, err


def write_config(tmp_path: Path, url: str, branch: str = "main") -> Path:
    config = tmp_path / "daemon.yaml"
    config.write_text(
        f"repo: {{url: '{url}', branch: {branch}}}\nstateDir: state\nworkDir: work\n"
        f"listen: 127.0.0.1:{free_port()}\nlogFormat: json\n"
    )
    return config


def test_a_repository_that_does_not_exist_ends_start_up(tmp_path: Path) -> None:
    code, err = run_to_exit(write_config(tmp_path, str(tmp_path / "nowhere.git")))
    assert code == 2
    assert (
        f"reconciler: error: cannot use repo {tmp_path / 'nowhere.git'}: fatal: "
        f"'{tmp_path / 'nowhere.git'}' does not appear to be a git repository"
    ) in err.splitlines()


def test_a_branch_that_does_not_exist_ends_start_up(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    remote = make_remote({"README.md": "x\n"})
    code, err = run_to_exit(write_config(tmp_path, remote.url, branch="mian"))
    assert code == 2
    assert (
        f"reconciler: error: cannot use repo {remote.url}: branch 'mian' does not exist there"
    ) in err.splitlines()


@pytest.fixture
def refusing_git_server() -> Iterator[str]:
    """An HTTP git server that wants a password we do not have (401, Basic): a fault a
    real forge gives for a private repository."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/private/repo.git"
    finally:
        server.shutdown()
        server.server_close()


def test_refused_access_ends_start_up(refusing_git_server: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"terminal prompts disabled|Authentication"):
        check_repository(refusing_git_server, "main")
    code, err = run_to_exit(write_config(tmp_path, refusing_git_server))
    assert code == 2
    (line,) = [x for x in err.splitlines() if x.startswith("reconciler: error:")]
    assert line.startswith(f"reconciler: error: cannot use repo {refusing_git_server}: fatal:")


def test_an_unreachable_remote_starts_and_retries_with_backoff(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/repo.git"  # nothing listens there
    config = write_config(tmp_path, url)
    port = int(config.read_text().split("listen: 127.0.0.1:")[1].split()[0])
    process = reconciler_run(config)
    try:

        def status() -> dict[str, Any] | None:
            assert process.poll() is None, process.communicate()
            try:
                data: dict[str, Any] = httpx.get(f"http://127.0.0.1:{port}/status").json()
            except httpx.TransportError:
                return None
            return data if data["health"].get("consecutiveFailures", 0) >= 2 else None

        health = wait_for(status)["health"]
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 503
        assert health["kind"] == TRANSIENT and health["state"] == "backing off"
        assert "Failed to connect" in health["lastError"] or "connect" in health["lastError"]
        assert health["notReadyReason"].startswith("no pass has succeeded yet")
        time.sleep(1.0)
        # 1 s doubling: a handful of tries in the first seconds, not one per loop turn.
        assert (
            httpx.get(f"http://127.0.0.1:{port}/status").json()["health"]["consecutiveFailures"]
            <= 4
        )
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "cannot reach the repository: starting anyway" in err


# ---------------------------------------------------------------- the config keys


def test_retry_bounds_come_from_the_config(tmp_path: Path) -> None:
    from reconciler.daemon.config import DaemonConfigError, parse_daemon_config

    text = (
        "repo: {url: /srv/git/images.git}\n"
        "retry:\n"
        "  initialDelaySeconds: 2\n"
        "  maxDelaySeconds: 60\n"
        "  stallSeconds: 600\n"
        "  notReadyAfterFailures: 5\n"
    )
    config = parse_daemon_config(text, str(tmp_path / "d.yaml"), {})
    assert config.retry == RetryPolicy(initial=2, maximum=60, stall=600, not_ready_after=5)
    assert parse_daemon_config("repo: {url: x}\n", "d.yaml", {}).retry == RetryPolicy()
    with pytest.raises(DaemonConfigError, match=r"d.yaml:3:\d+: retry.maxDelaySeconds"):
        parse_daemon_config(
            "repo: {url: x}\nretry:\n  maxDelaySeconds: 1\n  initialDelaySeconds: 5\n",
            "d.yaml",
            {},
        )
