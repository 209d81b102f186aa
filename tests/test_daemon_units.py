"""The daemon's pure parts: webhook verification and what a git event asks for,
notification parsing, the scheduling policy, the config file's errors, delivery backoff."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.schedule import ImportPolicy, due_tags, jitter, next_due
from reconciler.core.secrets import Secret
from reconciler.core.streams import TagRef
from reconciler.daemon.config import DaemonConfigError, parse_daemon_config
from reconciler.daemon.delivery import MAX_BACKOFF, backoff
from reconciler.daemon.webhooks import (
    GitEvent,
    PushedRepository,
    git_event,
    registry_pushes,
    verify_bearer,
    verify_git_webhook,
)

SECRET = Secret("s3cret")
BODY = b'{"ref": "refs/heads/main"}'


def sig(body: bytes, key: str = "s3cret") -> str:
    return hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(
    ("headers", "accepted", "source"),
    [
        ({"X-Hub-Signature-256": "sha256=" + sig(BODY)}, True, "github"),
        ({"x-hub-signature-256": "sha256=" + sig(BODY)}, True, "github"),
        ({"X-Hub-Signature-256": "sha256=" + sig(BODY, "other")}, False, "github"),
        ({"X-Hub-Signature-256": sig(BODY)}, False, "github"),
        ({"X-Gitea-Signature": sig(BODY)}, True, "gitea"),
        ({"X-Gitea-Signature": sig(b"x")}, False, "gitea"),
        ({"X-Gitlab-Token": "s3cret"}, True, "gitlab"),
        ({"X-Gitlab-Token": "s3cre"}, False, "gitlab"),
        ({}, False, ""),
    ],
)
def test_git_webhook_verification(headers: dict[str, str], accepted: bool, source: str) -> None:
    verdict = verify_git_webhook(headers, BODY, github=SECRET, gitea=SECRET, gitlab=SECRET)
    assert (verdict.accepted, verdict.source) == (accepted, source)


def test_git_event_reads_github_form_encoded_payloads() -> None:
    form = b"payload=" + urllib.parse.quote_plus('{"ref": "refs/heads/main"}').encode()
    push = {"X-GitHub-Event": "push"}
    assert git_event("github", push, form, "main") == GitEvent(True, "push")
    assert git_event("github", push, form, "prod").ignored == (
        "ref refs/heads/main is not the tracked branch"
    )
    with pytest.raises(ValueError, match="not JSON"):
        git_event("github", push, b"<html>", "main")


def test_git_webhook_without_configured_secret_is_refused() -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + sig(BODY)}
    assert not verify_git_webhook(headers, BODY, github=None, gitea=None, gitlab=None).accepted


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("Bearer tok", True),
        ("bearer tok", True),
        ("Bearer tok2", False),
        ("Basic tok", False),
        ("", False),
    ],
)
def test_registry_bearer(header: str, ok: bool) -> None:
    assert verify_bearer({"Authorization": header}, Secret("tok")) is ok
    assert verify_bearer({"Authorization": header}, None) is False


def test_registry_pushes_ignore_pulls_and_deduplicate() -> None:
    event = {
        "action": "push",
        "target": {"repository": "engine/marsview", "tag": "latest", "digest": "sha256:x"},
        "request": {"host": "127.0.0.1:5000"},
    }
    pull = {**event, "action": "pull"}
    blob = {"action": "push", "target": {"repository": "engine/marsview"}, "request": {}}
    body = json.dumps({"events": [event, event, pull, blob]}).encode()
    by_digest = {**event, "target": {"repository": "engine/marsview", "digest": "sha256:y"}}
    body = json.dumps({"events": [event, event, pull, blob, by_digest]}).encode()
    # Only the manifest put by tag counts: blobs and by-digest puts cannot move a tag.
    assert registry_pushes(body) == [
        PushedRepository("127.0.0.1:5000", "engine/marsview", "latest")
    ]
    with pytest.raises(ValueError, match="envelope"):
        registry_pushes(b'{"nope": 1}')
    with pytest.raises(ValueError, match="not JSON"):
        registry_pushes(b"<html>")


REF = TagRef("ns", "s", "t")


def test_schedule_minimum_interval_jitter_and_cap() -> None:
    policy = ImportPolicy(minimum_interval=900, per_minute=2)
    assert 0 <= jitter(REF, 900) < 90
    assert next_due(REF, None, policy) == 0.0
    assert next_due(REF, 1000.0, policy) >= 1900.0
    refs = [TagRef("ns", "s", str(i)) for i in range(5)]
    checked = {r: 1000.0 for r in refs}
    # Never sooner than the minimum interval.
    early = due_tags(refs, checked, 0, 1000.0 + 899, policy)
    assert early.due == [] and early.next_wakeup is not None and early.next_wakeup >= 1900.0
    # All due: the per-minute cap lets two through, the rest wait.
    late = due_tags(refs, checked, 0, 1000.0 + 2000, policy)
    assert len(late.due) == 2 and late.deferred == 3
    assert due_tags(refs, checked, 2, 3000.0, policy).due == []
    # Never-checked tags go first.
    fresh = TagRef("ns", "s", "new")
    assert due_tags([*refs, fresh], checked, 1, 3000.0, policy).due == [fresh]
    assert due_tags(refs, {}, 0, 0.0, ImportPolicy(disabled=True)).due == []


def test_backoff_grows_and_is_capped() -> None:
    assert backoff(1, lambda: 0.5) == 1.0
    assert backoff(4, lambda: 0.5) == 8.0
    assert backoff(50, lambda: 0.5) == MAX_BACKOFF
    assert 0.5 <= backoff(1, lambda: 0.0) <= 1.5


def test_config_errors_name_line_and_field(tmp_path: Path) -> None:
    text = (
        "repo:\n"
        "  url: /srv/git/images.git\n"
        "  brnch: main\n"
        "imagePolicy:\n"
        "  ScheduledImageImportMinimumIntervalSeconds: -5\n"
        "listen: nowhere\n"
        "webhooks:\n"
        "  github: {secretEnv: MISSING_SECRET}\n"
    )
    with pytest.raises(DaemonConfigError) as info:
        parse_daemon_config(text, "daemon.yaml", {})
    problems = info.value.problems
    assert problems[0].startswith("daemon.yaml:3:3: repo.brnch: unknown setting")
    assert problems[1].startswith(
        "daemon.yaml:5:3: imagePolicy.ScheduledImageImportMinimumIntervalSeconds:"
    )
    assert problems[2] == "daemon.yaml:6:1: listen: expected host:port, got 'nowhere'"


def test_config_patterns_match_the_whole_text() -> None:
    # Python's $ matches before a final line break; JSON Schema's does not.
    text = 'repo: {url: /srv/git/images.git}\nlisten: "127.0.0.1:8080\\n"\n'
    with pytest.raises(DaemonConfigError) as info:
        parse_daemon_config(text, "daemon.yaml", {})
    assert list(info.value.problems) == [
        "daemon.yaml:2:1: listen: expected host:port, got '127.0.0.1:8080\\n'"
    ]


def test_config_reads_secrets_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "gh").write_text("from-file\n")
    text = (
        "repo: {url: /srv/git/images.git}\n"
        "webhooks:\n"
        "  github: {secretFile: gh}\n"
        "  registry: {secretEnv: REG_TOKEN}\n"
        "delivery:\n"
        "  - {match: 'DeploymentConfig/*', url: 'http://127.0.0.1:9/hook'}\n"
    )
    config = parse_daemon_config(text, str(tmp_path / "d.yaml"), {"REG_TOKEN": "tok"})
    assert config.github_secret == Secret("from-file")
    assert config.registry_token == Secret("tok")
    assert "from-file" not in repr(config)
    assert config.policy.minimum_interval == 900 and config.branch == "main"
    assert config.delivery[0].max_attempts == 20
    with pytest.raises(DaemonConfigError, match="MISSING"):
        parse_daemon_config(
            "repo: {url: x}\nwebhooks:\n  gitlab: {secretEnv: MISSING}\n", "d.yaml", {}
        )


def test_example_config_in_deploy_is_valid(tmp_path: Path) -> None:
    """deploy/daemon.yaml is documentation: it must stay valid against the schema."""
    root = Path(__file__).resolve().parent.parent
    text = (root / "deploy" / "daemon.yaml").read_text()
    secret = tmp_path / "gh"
    secret.write_text("x")
    text = text.replace("/etc/imagestream-reconciler/github-webhook-secret", str(secret))
    # The files it names must exist (each is checked at its line): stand-ins here.
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    text = text.replace("/etc/containers/registries.conf", str(conf))
    config = parse_daemon_config(text, "daemon.yaml", {"RECONCILER_REGISTRY_NOTIFY_TOKEN": "t"})
    assert config.policy.minimum_interval == 900 and config.delivery


def test_deliverer_skips_gives_up_and_delivers(tmp_path: Path) -> None:
    import httpx

    from reconciler.daemon.delivery import Deliverer
    from reconciler.daemon.metrics import Metrics
    from reconciler.daemon.state import DELIVERED, FAILED, SKIPPED, State

    posted: list[str] = []

    def target(request: httpx.Request) -> httpx.Response:
        key = request.headers["Idempotency-Key"]
        posted.append(key)
        return httpx.Response(204 if key == "good" else 500)

    state = State(tmp_path / "state")
    metrics = Metrics()
    now = [1000.0]
    deliverer = Deliverer(
        state,
        metrics,
        [],
        lambda: now[0],
        transport=httpx.MockTransport(target),
        skip_reason=lambda item: "superseded" if item.id == "old" else None,
    )
    try:
        state.enqueue("good", "http://127.0.0.1:9/hook", "{}", 3)
        state.enqueue("old", "http://127.0.0.1:9/hook", "{}", 3)
        state.enqueue("bad", "http://127.0.0.1:9/hook", "{}", 2)
        assert deliverer.deliver_due() == 1
        now[0] += 1000  # past any backoff
        deliverer.deliver_due()
        states = {d.id: (d.state, d.attempts) for d in state.deliveries()}
        assert states == {"good": (DELIVERED, 1), "old": (SKIPPED, 0), "bad": (FAILED, 2)}
        assert sorted(posted) == ["bad", "bad", "good"]  # nothing sent for the superseded one

        def samples(counter: Any) -> dict[str, float]:
            return {
                s.labels["outcome"]: s.value
                for metric in counter.collect()
                for s in metric.samples
                if s.name.endswith("_total")
            }

        # Final outcomes, once per delivery; attempts separately (one retry of "bad").
        assert samples(metrics.deliveries) == {"delivered": 1, "skipped": 1, "abandoned": 1}
        assert samples(metrics.delivery_attempts) == {"ok": 1, "failed": 2}
    finally:
        deliverer.close()
        state.close()


def test_config_replicas_defaults_values_and_errors() -> None:
    plain = parse_daemon_config("repo: {url: x}\n", "d.yaml", {})
    assert (plain.lease, plain.lease_seconds, plain.replica_id) == (True, 30.0, None)
    text = "repo: {url: x}\nreplicas: {lease: false, leaseSeconds: 2.5, id: reconciler-1}\n"
    config = parse_daemon_config(text, "d.yaml", {})
    assert (config.lease, config.lease_seconds, config.replica_id) == (False, 2.5, "reconciler-1")
    with pytest.raises(DaemonConfigError) as info:
        parse_daemon_config(
            "repo: {url: x}\nreplicas:\n  leaseSeconds: 0\n  id: 'a b'\n  leader: yes\n",
            "d.yaml",
            {},
        )
    problems = "\n".join(info.value.problems)
    assert "d.yaml:3:3: replicas.leaseSeconds: 0 is less than the minimum of 0.5" in problems
    assert "d.yaml:4:3: replicas.id" in problems
    assert "replicas.leader: unknown setting" in problems


def test_config_problems_are_one_printable_line_each() -> None:
    # An unknown key with a line break (found by tests/test_fuzz_parsers.py's long run).
    with pytest.raises(DaemonConfigError) as info:
        parse_daemon_config('{repo: {url: x}, "a\\nb\\u001b[31m": 1}\n', "d.yaml", {})
    (problem,) = info.value.problems
    assert problem.startswith("d.yaml:1:18: a\\x0ab\\x1b[31m: unknown setting")
