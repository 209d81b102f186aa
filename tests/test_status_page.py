"""``/status`` end to end, in a real browser: a real daemon (``reconciler run``, its own
process) against a real registry and a real git remote, loaded in headless Chromium (the
Debian package ``chromium``, which ``scripts/setup`` installs).

The scenario gives the page everything it shows: a tag that moved twice (its timeline,
the records each digest opened and where they were delivered), a tag that fails to
resolve (listed first), passes started by the daemon's start, a signed git webhook (with
its delivery id) and a registry notification (with the repository), and a delivery that
was abandoned. The same run checks the JSON (the shape before the page, plus history),
the metrics and the log lines (a pass id on each line of a pass, and its cause).

Screenshots, desktop and phone width, are kept in ``.work/artifacts/`` (paths printed).
The page's escaping is checked in the browser too, with hostile text in every field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_fixtures import DEPLOY, GITHUB_SECRET, REGISTRY_TOKEN, NotifyingRegistry, start_receiver
from daemon_fixtures import wait_for as _wait_for
from git_fixtures import GitRemote, git
from prometheus_client.parser import text_string_to_metric_families

from reconciler.core.lockfile import parse_lock
from reconciler.core.streams import TagRef
from reconciler.daemon.metrics import Metrics
from reconciler.daemon.server import make_server
from testsupport.images import push_image

pytestmark = pytest.mark.integration
MakeRemote = Callable[[Mapping[str, str]], GitRemote]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / ".work" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium here (Debian package chromium; scripts/setup installs it)"
)
NS = "team"
DELIVERY_ID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def wait_for(condition: Callable[[], Any], timeout: float = 90.0) -> Any:
    return _wait_for(condition, timeout=timeout, every=0.1)


def stream(name: str, source: str, tag: str = "latest") -> str:
    return f"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: {name}
  namespace: {NS}
spec:
  tags:
    - name: {tag}
      from:
        kind: DockerImage
        name: {source}
      importPolicy:
        insecure: true
        scheduled: true
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium, offline in all but the page it is pointed at."""
    assert CHROMIUM is not None
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # as root in a container; the page is our own
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def screenshot(profile: Path, url: str, name: str, width: int, height: int) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    path.unlink(missing_ok=True)
    chromium(profile, f"--screenshot={path}", f"--window-size={width},{height}", url)
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"\nscreenshot: {path}")
    return path


def text_of(html: str) -> str:
    """The page's text, roughly: tags dropped, entities of the escaping undone."""
    text = re.sub(r"<[^>]+>", " ", html)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&#x27;", "'")):
        text = text.replace(entity, char)
    return re.sub(r"\s+", " ", text.replace("&amp;", "&"))


@dataclass
class Scenario:
    url: str
    registry_host: str
    digests: list[str]
    log: Path
    remote: GitRemote


def _config(tmp: Path, remote: GitRemote, port: int, good: str, refusing: str) -> Path:
    (tmp / "github").write_text(GITHUB_SECRET)
    (tmp / "registry-token").write_text(REGISTRY_TOKEN)
    config = tmp / "daemon.yaml"
    config.write_text(
        f"""\
repo: {{url: "{remote.url}"}}
workDir: work
stateDir: state
gitPollIntervalSeconds: 3600
imagePolicy: {{ScheduledImageImportMinimumIntervalSeconds: 3600}}
listen: 127.0.0.1:{port}
webhooks:
  github: {{secretFile: github}}
  registry: {{secretFile: registry-token}}
delivery:
  - {{match: "DeploymentConfig/*", url: "{good}", maxAttempts: 5}}
  - {{match: "DeploymentConfig/*", url: "{refusing}", maxAttempts: 1, timeoutSeconds: 2}}
logFormat: json
logLevel: debug
"""
    )
    return config


def _remote(tmp: Path) -> GitRemote:
    """A bare remote with one commit and a clone that plays the human (as make_remote,
    for a module's fixture)."""
    bare, human = tmp / "remote.git", tmp / "human"
    git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=tmp)
    git("clone", "-q", str(bare), str(human), cwd=tmp)
    git("config", "user.name", "Human", cwd=human)
    git("config", "user.email", "human@example.com", cwd=human)
    git("checkout", "-q", "-b", "main", cwd=human)
    (human / "README.md").write_text("images\n")
    git("add", "-A", cwd=human)
    git("commit", "-qm", "initial", cwd=human)
    git("push", "-q", "origin", "main", cwd=human)
    return GitRemote(bare, human)


def digest_of(remote: GitRemote, stream_name: str) -> str | None:
    try:
        entry = parse_lock(remote.show("images.lock.yaml")).get(TagRef(NS, stream_name, "latest"))
    except Exception:
        return None
    return entry.digest if entry else None


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("status-page")
    remote = _remote(tmp)
    port = free_port()
    receiver = start_receiver()
    refusing = f"http://127.0.0.1:{free_port()}/refuses"  # nothing listens there
    config = _config(tmp, remote, port, receiver.url, refusing)
    log = tmp / "daemon.log"
    url = f"http://127.0.0.1:{port}"
    with (
        NotifyingRegistry([f"{url}/hooks/registry"]) as registry,
        open(log, "wb") as err,
    ):
        digests = [push_image(registry.url, "team/app", "latest", seed="page-1")]
        process = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
        try:

            def ready() -> bool:
                assert process.poll() is None, log.read_text()
                try:
                    return httpx.get(f"{url}/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready)  # the start pass, on a repository without images
            remote.commit(
                {
                    "app.yaml": stream("app", f"{registry.host}/team/app:latest"),
                    "broken.yaml": stream("broken", f"{registry.host}/team/missing:latest"),
                    "web.yaml": DEPLOY,
                }
            )
            body = json.dumps({"ref": "refs/heads/main"}).encode()
            signature = hmac.new(GITHUB_SECRET.encode(), body, hashlib.sha256).hexdigest()
            reply = httpx.post(
                f"{url}/hooks/git",
                content=body,
                headers={
                    "X-Hub-Signature-256": f"sha256={signature}",
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": DELIVERY_ID,
                },
            )
            assert reply.status_code == 202
            wait_for(lambda: digest_of(remote, "app") == digests[0])
            # A registry push: the notification alone moves the tag.
            digests.append(push_image(registry.url, "team/app", "latest", seed="page-2"))
            wait_for(lambda: digest_of(remote, "app") == digests[1])

            def settled() -> bool:
                status = httpx.get(f"{url}/status").json()
                return status["deliveriesPending"] == 0 and bool(status["failedDeliveries"])

            wait_for(settled)
            yield Scenario(url, registry.host, digests, log, remote)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            receiver.server.shutdown()
            receiver.server.server_close()


def test_status_json_keeps_its_shape_and_adds_history(scenario: Scenario) -> None:
    plain = httpx.get(f"{scenario.url}/status")
    asked = httpx.get(f"{scenario.url}/status", headers={"Accept": "application/json"})
    anything = httpx.get(f"{scenario.url}/status", headers={"Accept": "*/*"})
    for reply in (plain, asked, anything):
        assert reply.headers["content-type"] == "application/json"
        assert "Accept" in reply.headers["vary"]
    status = plain.json()
    # Today's keys, unchanged; then the history.
    before = {"repo", "leader", "lease", "branch", "ready", "health", "passes", "head"}
    before |= {"lastPass", "deliveriesPending", "tags"}
    assert before <= set(status)
    assert {"recentPasses", "failedDeliveries"} <= set(status)
    app = status["tags"][f"{NS}/app:latest"]
    assert {"digest", "image", "from", "scheduled", "lastChecked", "nextCheck"} <= set(app)
    assert app["digest"] == scenario.digests[1]
    history = app["history"]
    assert [h["digest"] for h in history] == list(reversed(scenario.digests))
    assert [h["generation"] for h in history] == [2, 1]
    for item in history:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item["created"])
        (record,) = item["records"]
        assert record["consumer"] == f"DeploymentConfig/{NS}/web"
        assert record["action"] == "redeploy" and record["status"] == "open"
        targets = {d["target"]: d["state"] for d in record["deliveries"]}
        assert len(targets) == 2  # scheme and host only: never the URL's path
        assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+/\.\.\.", t) for t in targets)
        assert all(s in ("delivered", "skipped", "failed") for s in targets.values())
    # The newest record reached the receiver; the refusing target gave up on it.
    newest = {d["state"] for d in history[0]["records"][0]["deliveries"]}
    assert newest == {"delivered", "failed"}
    broken = status["tags"][f"{NS}/broken:latest"]
    assert broken["digest"] is None and broken["conditions"][0]["reason"] == "NotFound"
    # Passes, newest first, with their causes.
    passes = status["recentPasses"]
    kinds = [p["cause"] for p in reversed(passes)]
    assert kinds[:3] == ["start", "webhook", "notification"], kinds
    webhook = next(p for p in passes if p["cause"] == "webhook")
    assert webhook["causes"][0]["details"] == [f"github {DELIVERY_ID}"]
    assert webhook["outcome"] == "partial" and webhook["failures"] == 1  # broken:latest
    notified = next(p for p in passes if p["cause"] == "notification")
    assert f"{scenario.registry_host}/team/app:latest" in notified["causes"][0]["details"]
    assert status["lastPass"]["id"] == passes[0]["id"]
    assert all(p["durationSeconds"] >= 0 for p in passes)
    newest_id = history[0]["records"][0]["id"]
    (failed,) = [f for f in status["failedDeliveries"] if f["record"] == newest_id]
    assert failed["state"] == "failed" and failed["attempts"] == failed["maxAttempts"] == 1
    assert "ConnectError" in failed["lastError"]


def test_metrics_an_sre_can_alert_on(scenario: Scenario) -> None:
    text = httpx.get(f"{scenario.url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in families[name].samples
            if s.name == name or s.name == name + "_total"
            if all(s.labels.get(k) == v for k, v in labels.items())
        )

    host = scenario.registry_host
    assert families["reconciler_registry_requests"].type == "counter"
    assert value("reconciler_registry_requests", host=host, code="200") > 0
    assert value("reconciler_registry_requests", host=host, code="404") > 0  # team/missing
    # The start and the notification's pass (which asks about app:latest only) are ok;
    # the webhook's pass asked about broken:latest too, which failed: partial.
    assert value("reconciler_passes", outcome="ok") >= 2
    assert value("reconciler_passes", outcome="partial") >= 1
    assert value("reconciler_passes", outcome="error") == 0
    assert value("reconciler_deliveries", outcome="delivered") >= 1
    assert value("reconciler_deliveries", outcome="abandoned") >= 1
    assert value("reconciler_delivery_attempts", outcome="failed") >= 1
    assert value("reconciler_delivery_queue_depth") == 0
    assert value("reconciler_ready") == 1 and value("reconciler_leader") == 1
    assert value("reconciler_tags") == 2 and value("reconciler_tags_failing") == 1
    success = value("reconciler_last_successful_pass_timestamp_seconds")
    attempt = value("reconciler_last_attempted_pass_timestamp_seconds")
    assert 0 < success <= attempt
    assert value("reconciler_registry_backed_off", host=host) == 0
    (info,) = families["reconciler_build_info"].samples
    assert info.labels["version"] and info.labels["python"].startswith("3.")
    assert value("process_start_time_seconds") > 0 and "python_info" in families
    # The ambiguous names are gone.
    for old in ("reconciler_last_pass_timestamp_seconds", "reconciler_queue_depth"):
        assert old not in families


def test_every_line_of_a_pass_has_its_id_and_each_pass_its_cause(scenario: Scenario) -> None:
    lines = [json.loads(line) for line in scenario.log.read_text().splitlines() if line]
    started = [line for line in lines if line["msg"] == "pass started"]
    done = [line for line in lines if line["msg"] == "pass done"]
    assert [line["cause"] for line in started][:3] == ["start", "webhook", "notification"]
    ids = [line["pass"] for line in started]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)
    assert [line["pass"] for line in done] == ids
    webhook = next(line for line in done if line["cause"] == "webhook")
    assert webhook["webhook"] == [f"github {DELIVERY_ID}"] and webhook["outcome"] == "partial"
    notified = next(line for line in done if line["cause"] == "notification")
    assert f"{scenario.registry_host}/team/app:latest" in notified["repositories"]
    # Every line between a pass's start and end is that pass's (one pass at a time).
    current = None
    for line in lines:
        if line["msg"] == "pass started":
            current = line["pass"]
        if current and line.get("pass") == current and line["msg"] == "pass done":
            current = None
        elif current and line["msg"] in ("import failed", "trigger opened"):
            assert line["pass"] == current, line
    opened = [line for line in lines if line["msg"] == "trigger opened"]
    assert len(opened) == 2 and all(line["pass"] in ids for line in opened)
    # Deliveries happen after a pass, in the delivery worker: each line names the pass
    # it followed, and the record it delivered.
    delivered = [line for line in lines if line["msg"].startswith("trigger deliver")]
    assert delivered and all(line["pass"] in ids and line["record"] for line in delivered)
    abandoned = [line for line in lines if line["msg"] == "trigger delivery abandoned"]
    assert abandoned and abandoned[0]["level"] == "error"
    # The webhook and the notification themselves arrive outside any pass.
    hooks = [line for line in lines if line["msg"] == "git push webhook"]
    assert hooks[0]["delivery"] == DELIVERY_ID and "pass" not in hooks[0]


@needs_chromium
def test_the_page_in_a_browser(scenario: Scenario, tmp_path: Path) -> None:
    page = f"{scenario.url}/status"
    reply = httpx.get(page, headers={"Accept": "text/html,*/*;q=0.8"})
    assert reply.headers["content-type"].startswith("text/html")
    assert "script-src" not in reply.headers["content-security-policy"]
    assert reply.headers["content-security-policy"].startswith("default-src 'none'")
    dom = chromium(tmp_path / "profile", "--dump-dom", page).stdout
    text = text_of(dom)
    assert '<meta name="viewport"' in dom and '<html lang="en"' in dom
    # No external assets and no script: it works offline.
    assert not re.search(r"<(script|link|img|iframe)\b", dom)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", dom)
    # Every tag with its digest; the failing one first.
    tags = re.findall(r'<li class="(tag[^"]*)" id="tag-\d+">.*?<code>([^<]+)</code>', dom, re.S)
    assert tags[0] == ("tag failing", f"{NS}/broken:latest"), tags
    assert (tags[1][1]) == f"{NS}/app:latest"
    for digest in scenario.digests:
        algorithm, hexpart = digest.split(":")
        assert f"{algorithm}:{hexpart[:12]}" in text and hexpart[12:] in text
    assert "NotFound" in text
    # The timeline: both digests, first seen when, and the records they opened.
    assert "History: 2 digests" in text and text.count("first seen") >= 2
    assert text.count(f"redeploy DeploymentConfig/{NS}/web") >= 2
    assert "delivered to http://127.0.0.1:" in text and "failed to http://127.0.0.1:" in text
    # The passes, with causes, outcomes and durations; the abandoned delivery.
    assert f"webhook (github {DELIVERY_ID})" in text
    assert f"notification ({scenario.registry_host}/team/app:latest)" in text
    assert re.search(r"\d+ (ms|s)\b", text)
    assert "Failed deliveries" in text and "abandoned" in text and "ConnectError" in text
    # Times are absolute with their age (under a second old: "just now").
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \((\w[^)]* ago|just now)\)", text)

    # The filter is a plain GET form: the browser loads /status?q=... itself.
    filtered = chromium(tmp_path / "profile", "--dump-dom", f"{page}?q=BROKEN").stdout
    assert len(re.findall(r'<li class="tag', filtered)) == 1 and "team/broken:latest" in filtered
    assert '<form class="filter" method="get" action="/status"' in dom

    shot = screenshot(tmp_path / "profile", page, "status.png", 1280, 1500)
    phone = screenshot(tmp_path / "profile", page, "status-phone.png", 390, 2400)
    assert shot.stat().st_size > 20_000 and phone.stat().st_size > 20_000


# ---------------------------------------------------------------- hostile text


HOSTILE = '<script>document.title="owned"</script><img src=x onerror=alert(1)>"&'


@dataclass
class _HostileDaemon:
    """Just what the server reads for /status, with attacker-influenced text in every
    field a repository author or a remote server can reach."""

    metrics: Metrics = field(default_factory=Metrics)
    ready: bool = False

    def status(self) -> dict[str, Any]:
        tag = {
            "digest": None,
            "image": HOSTILE,
            "from": f"registry.example.com/{HOSTILE}",
            "scheduled": True,
            "conditions": [
                {
                    "type": "ImportSuccess",
                    "status": "False",
                    "reason": HOSTILE,
                    "message": HOSTILE,
                    "lastTransitionTime": HOSTILE,
                }
            ],
            "history": [
                {
                    "digest": HOSTILE,
                    "image": HOSTILE,
                    "created": HOSTILE,
                    "generation": HOSTILE,
                    "records": [
                        {
                            "id": HOSTILE,
                            "consumer": HOSTILE,
                            "action": HOSTILE,
                            "status": HOSTILE,
                            "created": HOSTILE,
                            "deliveries": [
                                {"target": HOSTILE, "state": HOSTILE, "attempts": 2,
                                 "lastError": HOSTILE}
                            ],
                        }
                    ],
                }
            ],
        }  # fmt: skip
        return {
            "repo": HOSTILE,
            "branch": HOSTILE,
            "ready": False,
            "leader": False,
            "lease": {"enabled": True, "holder": HOSTILE, "error": HOSTILE},
            "health": {"state": "backing off", "lastError": HOSTILE, "kind": HOSTILE,
                       "notReadyReason": HOSTILE},
            "head": HOSTILE,
            "deliveriesPending": HOSTILE,
            "tags": {f"{NS}/x:{HOSTILE}": tag},
            "recentPasses": [
                {"id": HOSTILE, "cause": HOSTILE, "causes": [{"kind": HOSTILE,
                 "details": [HOSTILE]}], "started": HOSTILE, "outcome": HOSTILE,
                 "error": HOSTILE, "durationSeconds": 0.5}
            ],
            "failedDeliveries": [
                {"record": HOSTILE, "target": HOSTILE, "state": "failed", "attempts": 1,
                 "maxAttempts": 1, "lastError": HOSTILE}
            ],
        }  # fmt: skip


@needs_chromium
def test_hostile_text_is_shown_never_run(tmp_path: Path) -> None:
    server = make_server(_HostileDaemon(), "127.0.0.1", 0)  # type: ignore[arg-type]
    server.start()
    try:
        page = f"{server.url}/status?format=html"
        dom = chromium(tmp_path / "profile", "--dump-dom", page).stdout
    finally:
        server.stop()
    assert "<script" not in dom and "<img" not in dom
    title = re.search(r"<title>(.*?)</title>", dom, re.S)
    assert title is not None and title.group(1).startswith("&lt;script&gt;")  # not "owned"
    shown = dom.count("&lt;script&gt;document.title=")
    assert shown >= 20, shown  # every field, as text
