"""What the daemon tells an operator, part by part (the whole, end to end and in a browser,
is tests/test_status_page.py): the registry client's request counter by host and status
code, the pass id carried into the registry's worker threads, the causes of a pass, the
``logLevel`` setting, content negotiation on ``/status``, and the page's escaping."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from test_registry_faults import AMD64_BODY, FakeRegistry, manifest
from test_registry_faults import req as any_req

from reconciler.core.lockfile import Lock
from reconciler.core.manifests import parse_manifests
from reconciler.core.plan import Plan
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.validation import ValidationReport
from reconciler.core.violations import Violation
from reconciler.daemon import causes, logs, reports, statuspage
from reconciler.daemon.config import DaemonConfigError, parse_daemon_config
from reconciler.daemon.metrics import Live, Metrics
from reconciler.daemon.reports import PassReport
from reconciler.daemon.webhooks import delivery_id, git_event
from reconciler.passes.run import PassResult
from reconciler.registry.client import RegistryClient
from reconciler.registry.limits import RegistryLimits


@pytest.fixture
def kept_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (logs.LOGGER, *logs.ADOPTED):
        logger = logging.getLogger(name)
        monkeypatch.setattr(logger, "handlers", list(logger.handlers))
        monkeypatch.setattr(logger, "propagate", logger.propagate)
        monkeypatch.setattr(logger, "level", logger.level)
    yield


def fake_registry() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("app", "v1", AMD64_BODY)
    for i in range(6):
        registry.add("app", f"t{i}", manifest(f"t{i}"))
    return registry


def quick_client(fake: FakeRegistry) -> RegistryClient:
    return RegistryClient(
        max_concurrency=4,
        transport=httpx.MockTransport(fake),
        sleep=lambda seconds: None,
        default_limits=RegistryLimits(circuit_threshold=100),
    )


# ---------------------------------------------------------------- metrics


def test_registry_requests_are_counted_by_host_and_code() -> None:
    fake = fake_registry()
    failures = iter([httpx.Response(503), httpx.ConnectError("refused")])

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if request.method == "HEAD" and request.url.path.endswith("/t0"):
            failure = next(failures, None)
            if isinstance(failure, Exception):
                raise failure
            return failure
        return None

    fake.hooks.append(flaky)
    metrics = Metrics()
    with quick_client(fake) as client:
        client.observe_responses(metrics.registry_response)
        client.resolve_many([any_req(f"reg.example/app:t{i}") for i in range(3)])
        client.resolve_many([any_req("reg.example/app:missing")])

    def count(code: str) -> float:
        labels = {"host": "reg.example", "code": code}
        return metrics.registry.get_sample_value("reconciler_registry_requests_total", labels) or 0

    assert count("503") == 1  # each attempt counts, the retries too
    assert count("error") == 1  # no answer: a connection error
    assert count("404") >= 1  # the missing tag
    assert count("200") >= 3
    total = sum(count(c) for c in ("200", "401", "404", "503", "error"))
    assert total == len([r for r in fake.seen if r.url.host == "reg.example"])


def test_scrape_time_gauges_and_build_info() -> None:
    metrics = Metrics()
    text = metrics.render().decode()
    # Before anything happened: labelled counters start at 0, timestamps are absent.
    assert 'reconciler_passes_total{outcome="partial"} 0.0' in text
    assert 'reconciler_deliveries_total{outcome="abandoned"} 0.0' in text
    assert not re.search(r"^reconciler_last_successful_pass_timestamp_seconds ", text, re.M)
    assert re.search(r'reconciler_build_info\{python="3\.[^"]+",version="[^"]+"\} 1\.0', text)
    assert "process_resident_memory_bytes" in text and "python_info{" in text
    metrics.bind(lambda: Live(True, 3, {"quay.io": (True, 12.5), "reg.example": (False, 0.0)}))
    metrics.last_success = metrics.last_attempt = 1700000000.0
    text = metrics.render().decode()
    assert "reconciler_ready 1.0" in text and "reconciler_delivery_queue_depth 3.0" in text
    assert 'reconciler_registry_backed_off{host="quay.io"} 1.0' in text
    assert 'reconciler_registry_backed_off{host="reg.example"} 0.0' in text
    assert 'reconciler_registry_backoff_remaining_seconds{host="quay.io"} 12.5' in text
    assert "reconciler_last_successful_pass_timestamp_seconds 1.7e+09" in text


# ---------------------------------------------------------------- logs


def test_a_pass_id_reaches_the_registry_workers_lines(
    kept_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("json", "debug")
    fake = fake_registry()
    seen: set[str] = set()

    def unavailable_once(request: httpx.Request) -> httpx.Response | None:
        key = request.url.path
        if request.method == "HEAD" and key not in seen:
            seen.add(key)
            return httpx.Response(503)  # one retry each: a debug line in a worker thread
        return None

    fake.hooks.append(unavailable_once)
    with quick_client(fake) as client, logs.pass_context("0123456789ab"):
        client.resolve_many([any_req(f"reg.example/app:t{i}") for i in range(4)])
        logs.log(logging.INFO, "pass done")
    logs.log(logging.INFO, "after the pass")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    retries = [line for line in lines if "retry" in line["msg"]]
    assert len(retries) == 4, lines
    assert all(line["pass"] == "0123456789ab" for line in retries)
    done, after = lines[-2], lines[-1]
    assert done["pass"] == "0123456789ab" and "pass" not in after


def test_log_level_setting(kept_logging: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_daemon_config("repo: {url: x}\n", "d.yaml", {}).log_level == "info"
    config = parse_daemon_config("repo: {url: x}\nlogLevel: warning\n", "d.yaml", {})
    assert config.log_level == "warning"
    with pytest.raises(DaemonConfigError, match=r"d.yaml:2:1: logLevel: 'loud' is not one of"):
        parse_daemon_config("repo: {url: x}\nlogLevel: loud\n", "d.yaml", {})
    logs.configure("text", "warning")
    logs.log(logging.INFO, "quiet")
    logs.log(logging.WARNING, "shown", tags=["a", "b"])
    err = capsys.readouterr().err
    assert "quiet" not in err and "shown tags=a,b" in err


# ---------------------------------------------------------------- causes


def test_causes_of_a_pass_most_telling_first() -> None:
    def kinds(**seen: object) -> list[str]:
        base: dict[str, object] = dict(
            first=False, term=None, moved=False, webhooks=[], notified=[], due=0
        )
        return [c.kind for c in causes.of_pass(**{**base, **seen})]  # type: ignore[arg-type]

    assert kinds(first=True, moved=True) == ["start"]
    # A webhook explains the branch moving: not a poll.
    assert kinds(moved=True, webhooks=["github abc"]) == ["webhook"]
    assert kinds(moved=True) == ["poll"]
    assert kinds(notified=["h/r:t"], due=3) == ["notification", "schedule"]
    assert kinds(due=1) == ["schedule"]
    # Tags held from a notification while their registry was backed off: still its pass.
    assert kinds(notified_tags=2) == ["notification"]
    why = causes.of_pass(
        first=True, term=4, moved=False, webhooks=["github 1", "github 1"], notified=[], due=2
    )
    assert causes.describe(why) == "start (lease term 4); webhook (github 1); schedule (2 tags due)"
    assert causes.log_fields(why) == {
        "cause": "start",
        "lease": "lease term 4",
        "webhook": ["github 1"],
        "due": 2,
        "causes": ["start", "webhook", "schedule"],
    }


def test_webhook_delivery_ids() -> None:
    body = b'{"ref": "refs/heads/main"}'
    github = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "72d3162e-cc78-11e3"}
    assert git_event("github", github, body, "main").delivery == "72d3162e-cc78-11e3"
    gitlab = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": "13792a34-cac6"}
    assert git_event("gitlab", gitlab, body, "main").delivery == "13792a34-cac6"
    gitea = {"X-Gitea-Event": "push", "X-Gitea-Delivery": "f6266f16-1bf3"}
    assert git_event("gitea", gitea, body, "main").delivery == "f6266f16-1bf3"
    # Whatever a sender puts there, only a short id of safe characters is kept.
    assert delivery_id("github", {"X-GitHub-Delivery": "<script>\n" + "a" * 200}) == "script" + (
        "a" * 58
    )
    assert delivery_id("github", {}) == ""


# ---------------------------------------------------------------- the page


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("", "json"),
        ("*/*", "json"),  # curl
        ("application/json", "json"),
        ("application/json, text/html;q=0.5", "json"),
        ("text/html", "html"),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "html"),  # browsers
        ("text/*", "html"),
        ("text/html;q=0, */*", "json"),
        ("image/png", "json"),
    ],
)
def test_content_negotiation(accept: str, chosen: str) -> None:
    assert statuspage.negotiate(accept) == chosen


SCRIPT = "<script>alert(1)</script>"


def test_the_page_escapes_what_others_wrote() -> None:
    now = time.time()
    status = {
        "repo": "git@example.com:ops/images.git",
        "branch": "main",
        "ready": True,
        "health": {"state": "ok", "lastSuccess": now - 90},
        "tags": {
            f"team/{SCRIPT}:latest": {
                "digest": None,
                "from": f"quay.io/{SCRIPT}",
                "conditions": [
                    {"reason": "NotFound", "message": SCRIPT, "lastTransitionTime": "x"}
                ],
            },
            "team/app:latest": {"digest": "sha256:" + "ab" * 32, "from": "quay.io/app"},
        },
        "recentPasses": [
            {
                "id": "abc",
                "cause": "webhook",
                "causes": [{"kind": "webhook", "details": [SCRIPT]}],
                "started": "2026-01-02T03:04:05Z",
                "outcome": "error",
                "error": SCRIPT,
                "durationSeconds": 1.25,
            }
        ],
        "failedDeliveries": [
            {"record": "r", "target": "t", "state": "failed", "lastError": SCRIPT}
        ],
    }
    page = statuspage.render(status, now)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 6
    # Failing first, then the rest by name.
    assert page.index("team/&lt;script&gt;") < page.index("team/app:latest")
    assert "about a minute ago" in page and "1.2 s" in page
    # The one inline stylesheet is what the policy's hash allows.
    css = re.search(r"<style>(.*?)</style>", page, re.S)
    assert css is not None
    digest = base64.b64encode(hashlib.sha256(css.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in statuspage.CSP
    assert statuspage.HEADERS["Content-Security-Policy"] == statuspage.CSP


def test_an_empty_daemon_renders() -> None:
    page = statuspage.render({}, time.time())
    assert "No tags yet" in page and "No pass has run yet" in page
    out = io.StringIO(page)
    assert out.read().startswith("<!doctype html>")


def test_many_tags_come_in_pages_and_filter_by_name() -> None:
    tags = {
        f"team/s{i:03d}:latest": {
            "digest": "sha256:" + "ab" * 32,
            "history": [{"digest": "sha256:" + "ab" * 32, "generation": 1}],
        }
        for i in range(450)
    }
    tags["team/zz:latest"] = {"digest": None, "conditions": [{"reason": "NotFound"}]}
    first = statuspage.render({"tags": tags}, time.time())
    assert first.count('<li class="tag') == statuspage.PAGE_SIZE
    assert "team/zz:latest" in first  # failing first, whatever its name
    assert "Tags 1 to 200 of 451" in first and 'href="/status?page=2#tags"' in first
    assert "previous" not in first and "<details>" in first  # timelines closed
    last = statuspage.render({"tags": tags}, time.time(), "", 3)
    assert last.count('<li class="tag') == 51 and "next" not in last
    assert statuspage.render({"tags": tags}, time.time(), "", 99) == last  # clamped
    found = statuspage.render({"tags": tags}, time.time(), "S04", 1)
    assert found.count('<li class="tag') == 10 and "10 tags matching" in found
    assert 'value="S04"' in found and "Tags 1 to" not in found
    hostile = statuspage.render({"tags": tags}, time.time(), '"><script>', 1)
    assert "<script>" not in hostile and "No tag matches." in hostile
    assert statuspage.view_of({"q": "x", "page": "2"}) == ("x", 2)
    assert statuspage.view_of({"page": "-1"}) == ("", 1)
    assert statuspage.view_of({"page": "9" * 40}) == ("", 1)


def test_a_skipped_object_is_logged_with_its_first_error(
    kept_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure("json", "info")
    (obj,) = parse_manifests("kind: ImageStream\nmetadata: {name: web}\n", "is.yaml").objects
    errors = [
        Violation("is.yaml", 2, 11, obj.display, "spec.tags[0].from", "first problem"),
        Violation("is.yaml", 3, 1, obj.display, "spec", "second problem"),
    ]
    plan = Plan(
        report=ValidationReport(violations=errors, invalid=[obj]),
        config=RepoConfig(),
        old_lock=Lock(),
        new_lock=Lock(),
        old_bytes=None,
        new_bytes=b"",
        changes=[],
        triggers=[],
    )
    report = PassReport("0123456789ab", (), 0.0, 0.1, "partial", skipped=1)
    reports.log_pass(PassResult(plan), report, [])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    (skipped,) = [line for line in lines if line["msg"] == "object skipped: invalid"]
    assert skipped["object"] == "ImageStream/default/web"
    assert (
        skipped["why"] == "is.yaml:2:11: ImageStream/default/web: spec.tags[0].from: first problem"
    )


def test_held_and_waiting_tags_are_gauges() -> None:
    from reconciler.core.lockfile import TagLock, TagSource
    from reconciler.core.lockrecords import HoldRecord, WaitingItem
    from reconciler.core.streams import TagRef

    source = TagSource("DockerImage", "reg.example/app:1")
    lock = Lock(
        tags={
            TagRef("ns", "app", "prod"): TagLock(
                source, hold=HoldRecord("INC-1", "2026-12-01T00:00:00Z")
            ),
            TagRef("ns", "app", "stable"): TagLock(
                source, waiting=(WaitingItem("2026-12-01T00:00:00Z", digest="sha256:" + "a" * 64),)
            ),
            TagRef("ns", "app", "dev"): TagLock(source),
        }
    )
    plan = Plan(
        report=ValidationReport(),
        config=RepoConfig(),
        old_lock=lock,
        new_lock=lock,
        old_bytes=b"",
        new_bytes=b"",
        changes=[],
        triggers=[],
    )
    metrics = Metrics()
    metrics.bind(lambda: Live(ready=True, queue_depth=0, backoff={}))
    reports.count_pass(metrics, PassResult(plan), 0.1, lambda ref: "reg.example", 1.0)
    text = metrics.render().decode()
    assert "\nreconciler_tags_held 1.0\n" in text
    assert "\nreconciler_tags_waiting 1.0\n" in text
    assert "\nreconciler_tags 3.0\n" in text
