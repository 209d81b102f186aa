"""The daemon end to end: a real docker-registry whose notifications point at the daemon,
a bare git remote, push-driven refresh without polling, signed git webhooks, two daemons
on one repo, and SIGKILL at several points of a pass."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_fixtures import (
    DEPLOY,
    GITHUB_SECRET,
    NotifyingRegistry,
    Receiver,
    daemon_config,
    start_daemon,
    start_receiver,
    wait_for,
)
from git_fixtures import GitRemote
from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.lockfile import Lock, parse_lock
from reconciler.core.streams import TagRef
from reconciler.daemon.config import DeliveryTarget
from testsupport import crashing_daemon
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
NS = "team"


def stream(name: str, source: str, extra_tags: str = "") -> str:
    return f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: {name}
  namespace: {NS}
spec:
  tags:
    - name: latest
      from:
        kind: DockerImage
        name: {source}
      importPolicy:
        insecure: true
        scheduled: true
{extra_tags}"""


def lock_of(remote: GitRemote) -> Lock:
    try:
        return parse_lock(remote.show("images.lock.yaml"))
    except Exception:
        return Lock()


def digest_of(remote: GitRemote, tag: str = "latest", stream_name: str = "app") -> str | None:
    entry = lock_of(remote).get(TagRef(NS, stream_name, tag))
    return entry.digest if entry else None


def trigger_digests(remote: GitRemote) -> list[str]:
    out = []
    for path in remote.files():
        if path.startswith("triggers/"):
            text = remote.show(path)
            out += [
                line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("toDigest:")
            ]
    return sorted(out)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = start_receiver()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


def test_registry_push_and_git_webhook_drive_passes_without_polling(
    make_remote: MakeRemote, tmp_path: Path, receiver: Receiver
) -> None:
    # The daemon first (the registry needs its URL), then the registry, then the repo.
    placeholder = make_remote({"README.md": "images\n"})
    config = daemon_config(
        tmp_path,
        placeholder.url,
        delivery=[DeliveryTarget(match="DeploymentConfig/*", url=receiver.url, max_attempts=5)],
    )
    running = start_daemon(config)
    try:
        with NotifyingRegistry([f"{running.url}/hooks/registry"]) as registry:
            first = push_image(registry.url, "team/app", "latest", seed="d-1")
            placeholder.commit(
                {"app.yaml": stream("app", f"{registry.host}/team/app:latest"), "web.yaml": DEPLOY}
            )
            # The human's commit needs a webhook (no polling within the test's time).
            body = json.dumps({"ref": "refs/heads/main"}).encode()
            good = "sha256=" + hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
            reply = httpx.post(
                f"{running.url}/hooks/git",
                content=body,
                headers={"X-Hub-Signature-256": good, "X-GitHub-Event": "push"},
            )
            assert reply.status_code == 202
            wait_for(lambda: digest_of(placeholder) == first)
            assert trigger_digests(placeholder) == [first]

            # A push to the registry: the notification alone moves the tag.
            latencies = []
            for n in range(2, 5):
                commits = placeholder.commit_count()
                pushed = time.monotonic()
                digest = push_image(registry.url, "team/app", "latest", seed=f"d-{n}")
                wait_for(lambda d=digest: digest_of(placeholder) == d)
                latencies.append(time.monotonic() - pushed)
                assert placeholder.commit_count() == commits + 1
            print(f"\npush -> commit latencies (s): {', '.join(f'{x:.3f}' for x in latencies)}")
            assert len(trigger_digests(placeholder)) == 4

            # A webhook with a bad signature is refused and does nothing.
            before = placeholder.commit_count()
            placeholder.commit({"base.yaml": stream("base", f"{registry.host}/team/app:latest")})
            bad = httpx.post(
                f"{running.url}/hooks/git",
                content=body,
                headers={"X-Hub-Signature-256": "sha256=" + "0" * 64},
            )
            assert bad.status_code == 401
            unsigned = httpx.post(f"{running.url}/hooks/git", content=body)
            assert unsigned.status_code == 401
            wrong_token = httpx.post(
                f"{running.url}/hooks/registry",
                content=b'{"events": []}',
                headers={"Authorization": "Bearer nope"},
            )
            assert wrong_token.status_code == 401
            time.sleep(1.0)
            assert placeholder.commit_count() == before + 1  # only the human's commit
            assert digest_of(placeholder, stream_name="base") is None

            # Deliveries: every open record reached the receiver with its id as the key.
            records = {
                p.split("/")[1][:-5] for p in placeholder.files() if p.startswith("triggers/")
            }
            wait_for(lambda: records <= receiver.keys())
            from reconciler.cli import main as cli

            def listed() -> list[dict[str, object]] | None:
                out = io.StringIO()
                argv = ["triggers", "list", "--repo", str(config.work_dir)]
                argv += ["--state-dir", str(config.state_dir), "-o", "json"]
                assert cli.main(argv, out=out) == 0
                data: list[dict[str, Any]] = json.loads(out.getvalue())
                done = all(d["state"] == "delivered" for r in data for d in r["deliveries"])
                return data if done else None

            shown = wait_for(listed)
            assert {r["id"] for r in shown} == records
            for record in shown:
                (delivery,) = record["deliveries"]
                host = receiver.url.split("/")[2]
                assert delivery["target"] == f"http://{host}/..."  # never the full URL

            # Operations endpoints.
            assert httpx.get(f"{running.url}/healthz").status_code == 200
            assert httpx.get(f"{running.url}/readyz").status_code == 200
            status = httpx.get(f"{running.url}/status").json()
            assert status["tags"][f"{NS}/app:latest"]["digest"] == digest_of(placeholder)
            metrics = httpx.get(f"{running.url}/metrics").text
            families = {f.name: f for f in text_string_to_metric_families(metrics)}
            assert families["reconciler_commits"].samples[0].value >= 4
            assert any(s.value >= 1 for s in families["reconciler_events"].samples)
            assert "reconciler_delivery_queue_depth" in families
            requests = families["reconciler_registry_requests"].samples
            assert any(
                s.labels == {"host": registry.host, "code": "200"} and s.value > 0 for s in requests
            )
            assert families["reconciler_registry_batch_duration_seconds"].samples
            assert "reconciler_pass_duration_seconds" in families
    finally:
        running.stop()


def test_two_daemons_open_each_trigger_exactly_once(
    make_remote: MakeRemote, tmp_path: Path
) -> None:
    placeholder = make_remote({"README.md": "images\n"})
    one = start_daemon(daemon_config(tmp_path, placeholder.url, name="one"))
    two = start_daemon(daemon_config(tmp_path, placeholder.url, name="two"))
    try:
        endpoints = [f"{one.url}/hooks/registry", f"{two.url}/hooks/registry"]
        with NotifyingRegistry(endpoints) as registry:
            digests = [push_image(registry.url, "team/app", "latest", seed="two-0")]
            placeholder.commit(
                {"app.yaml": stream("app", f"{registry.host}/team/app:latest"), "web.yaml": DEPLOY}
            )
            for running in (one, two):
                running.daemon.notify_git("test")
            wait_for(lambda: digest_of(placeholder) == digests[0])
            for n in range(1, 5):
                digests.append(push_image(registry.url, "team/app", "latest", seed=f"two-{n}"))
                wait_for(lambda d=digests[-1]: digest_of(placeholder) == d)
            # Let both settle, then count.
            time.sleep(0.5)
            assert trigger_digests(placeholder) == sorted(digests)
            history = lock_of(placeholder).get(TagRef(NS, "app", "latest"))
            assert history is not None
            assert [h.digest for h in history.history] == list(reversed(digests))
    finally:
        one.stop()
        two.stop()


CRASH_POINTS = list(crashing_daemon.POINTS)  # after-write, -commit, -push, -post


def _daemon_yaml(tmp: Path, remote: GitRemote, receiver: Receiver, port_file: Path) -> Path:
    config = tmp / "daemon.yaml"
    config.write_text(
        f"""\
repo: {{url: "{remote.url}"}}
workDir: work
stateDir: state
gitPollIntervalSeconds: 0.2
imagePolicy: {{ScheduledImageImportMinimumIntervalSeconds: 3600}}
listen: 127.0.0.1:0
delivery:
  - {{match: "*", url: "{receiver.url}", maxAttempts: 50}}
logFormat: json
"""
    )
    return config


def _run_daemon(config: Path, crash_at: str | None = None) -> subprocess.Popen[bytes]:
    """``reconciler run``; with ``crash_at``, the same start-up with a checkpoint that
    SIGKILLs the process at that step, once (it writes ``crashed`` beside the config first)."""
    command = [sys.executable, "-m", "reconciler", "run", "--config", str(config)]
    if crash_at:
        command = [
            sys.executable, "-m", "testsupport.crashing_daemon", "--crash-at", crash_at,
            "--marker", str(config.parent / "crashed"), "--config", str(config),
        ]  # fmt: skip
    with open(config.parent / "daemon.log", "ab") as log:  # the child keeps its own fd
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)


def _scenario(
    tmp: Path,
    make_remote: MakeRemote,
    registry: LocalRegistry,
    receiver: Receiver,
    crash: str | None,
) -> tuple[dict[str, str | None], set[str]]:
    remote = make_remote(
        {
            "app.yaml": stream("app", f"{registry.host}/kill/app:latest"),
            "web.yaml": DEPLOY,
        }
    )
    config = _daemon_yaml(tmp, remote, receiver, tmp / "port")
    if crash:
        proc = _run_daemon(config, crash_at=crash)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert (tmp / "crashed").read_text() == crash
    proc = _run_daemon(config)  # restarted as in production: no crash point
    try:

        def converged() -> bool:
            records = {p.split("/")[1][:-5] for p in remote.files() if p.startswith("triggers/")}
            if not records or digest_of(remote) is None or not records <= receiver.keys():
                return False
            # This process has marked every delivery done in its durable outbox.
            return delivered_in_outbox(tmp / "state") >= records

        wait_for(converged, timeout=60)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0  # a clean stop
    finally:
        if proc.poll() is None:
            proc.kill()
    lock = lock_of(remote)
    digests = {str(ref): entry.digest for ref, entry in lock.tags.items()}
    records = {p.split("/")[1][:-5] for p in remote.files() if p.startswith("triggers/")}
    # No record was opened twice: one ImageChange and one per consumer spec at most.
    assert len(trigger_digests(remote)) == 1
    return digests, records


def test_sigkill_at_any_point_converges_to_the_same_state(
    local_registry: LocalRegistry, make_remote: MakeRemote, tmp_path: Path
) -> None:
    push_image(local_registry.url, "kill/app", "latest", seed="kill-1")
    results = {}
    for crash in [None, *CRASH_POINTS]:
        receiver = start_receiver()
        try:
            case = tmp_path / (crash or "uninterrupted")
            case.mkdir()
            results[crash] = _scenario(case, make_remote_in(case), local_registry, receiver, crash)
            delivered = receiver.keys()
            assert results[crash][1] <= delivered  # every delivery made at least once
        finally:
            receiver.server.shutdown()
            receiver.server.server_close()
    reference = results[None]
    for crash in CRASH_POINTS:
        assert results[crash] == reference, crash


def delivered_in_outbox(state_dir: Path) -> set[str]:
    path = state_dir / "state.sqlite3"
    if not path.exists():
        return set()
    with sqlite3.connect(path) as db:
        try:
            rows = db.execute("SELECT id FROM outbox WHERE state = 'delivered'").fetchall()
        except sqlite3.OperationalError:
            return set()
    return {row[0] for row in rows}


def make_remote_in(directory: Path) -> MakeRemote:
    from git_fixtures import git

    def make(files: Mapping[str, str]) -> GitRemote:
        bare, human = directory / "remote.git", directory / "human"
        git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=directory)
        git("clone", "-q", str(bare), str(human), cwd=directory)
        git("config", "user.name", "Human", cwd=human)
        git("config", "user.email", "human@example.com", cwd=human)
        git("checkout", "-q", "-b", "main", cwd=human)
        for name, text in files.items():
            (human / name).write_text(text)
        git("add", "-A", cwd=human)
        git("commit", "-qm", "initial", cwd=human)
        git("push", "-q", "origin", "main", cwd=human)
        return GitRemote(bare, human)

    return make


def test_daemon_uses_the_configured_credentials(make_remote: MakeRemote, tmp_path: Path) -> None:
    import base64

    from reconciler.config.settings import load_settings
    from testsupport.htpasswd import write_htpasswd

    htpasswd = write_htpasswd(tmp_path / "htpasswd", {"bot": "s3cr3t-pw"})
    auth = {"htpasswd": {"realm": "private", "path": str(htpasswd)}}
    with LocalRegistry(auth=auth) as registry, httpx.Client(auth=("bot", "s3cr3t-pw")) as http:
        digest = push_image(registry.url, "team/app", "latest", seed="cred", client=http)
        remote = make_remote({"app.yaml": stream("app", f"{registry.host}/team/app:latest")})
        token = base64.b64encode(b"bot:s3cr3t-pw").decode()
        authfile = tmp_path / "auth.json"
        authfile.write_text(json.dumps({"auths": {registry.host: {"auth": token}}}))
        settings = load_settings(
            {"HOME": str(tmp_path)}, auth_files=[str(authfile)], cache_dir=str(tmp_path / "c")
        )
        from reconciler.daemon.runner import Daemon

        daemon = Daemon(daemon_config(tmp_path, remote.url), settings)
        try:
            result = daemon.step()
        finally:
            daemon.close()
        assert result is not None and not result.plan.failures
        assert digest_of(remote) == digest
