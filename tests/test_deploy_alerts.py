"""The alert rules (deploy/kubernetes/components/prometheusrule), checked by Prometheus's
own tool: ``promtool check rules`` (syntax, PromQL, templates) and ``promtool test
rules`` (tests/alerts/reconciler-alerts-test.yaml: each alert fires when it should, and
stays quiet when it should). promtool comes from the Debian package ``prometheus``:
``scripts/setup`` extracts it into ``.work/tools/`` (installing the package would start a
Prometheus server). Without it, those two tests skip, saying so, and the structure of the
rules and the metric names they use are still checked here.

The PrometheusRule itself is rendered and validated against the CRD's schema in
tests/test_deploy_kubernetes.py, like the ServiceMonitor.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.daemon.metrics import Live, Metrics

ROOT = Path(__file__).resolve().parent.parent
RULE = ROOT / "deploy" / "kubernetes" / "components" / "prometheusrule" / "prometheusrule.yaml"
UNIT_TESTS = ROOT / "tests" / "alerts" / "reconciler-alerts-test.yaml"
PROMTOOL = shutil.which("promtool") or (
    str(ROOT / ".work" / "tools" / "promtool")
    if (ROOT / ".work" / "tools" / "promtool").is_file()
    else None
)
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="no promtool (scripts/setup extracts it from the Debian package prometheus)",
)
ALERTS = {
    "ImagestreamReconcilerDown",
    "ImagestreamReconcilerNoLeader",
    "ImagestreamReconcilerNotReady",
    "ImagestreamReconcilerNoSuccessfulPass",
    "ImagestreamReconcilerPassesFailing",
    "ImagestreamReconcilerTagsFailing",
    "ImagestreamReconcilerDeliveriesAbandoned",
    "ImagestreamReconcilerRegistryBackedOff",
    "ImagestreamReconcilerRegistryErrors",
}


def rules() -> list[dict[str, Any]]:
    spec = yaml.safe_load(RULE.read_text())["spec"]
    return [rule for group in spec["groups"] for rule in group["rules"]]


def write_rules(directory: Path, text: str | None = None) -> Path:
    """The PrometheusRule's spec as a plain Prometheus rule file (what `promtool` and a
    Prometheus without the operator read)."""
    path = directory / "rules.yaml"
    spec = yaml.safe_load(text if text is not None else RULE.read_text())["spec"]
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_every_alert_is_documented_and_graded() -> None:
    found = rules()
    assert {r["alert"] for r in found} == ALERTS
    for rule in found:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
    readme = (ROOT / "README.md").read_text()
    for name in ALERTS:
        assert f"`{name}`" in readme, f"{name} is not in the README"


def test_the_rules_use_metrics_the_daemon_exports() -> None:
    metrics = Metrics()
    metrics.bind(lambda: Live(True, 0, {"quay.io": (False, 0.0)}))
    metrics.last_success = metrics.last_attempt = 1.0
    metrics.tag_count = 1
    metrics.registry_response("quay.io", "200")
    exported = set(re.findall(r"^([a-z_]+)(?:\{| )", metrics.render().decode(), re.M))
    used = {name for rule in rules() for name in re.findall(r"\b(reconciler_\w+)", rule["expr"])}
    assert used and used <= exported, used - exported
    assert "process_start_time_seconds" in exported


@needs_promtool
def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    path = write_rules(tmp_path)
    done = promtool("check", "rules", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout
    version = promtool("--version", cwd=tmp_path)
    print(f"\n{version.stdout.splitlines()[0] if version.stdout else version.stderr}")


@needs_promtool
def test_promtool_unit_tests_of_the_alerts(tmp_path: Path) -> None:
    write_rules(tmp_path)
    tests = tmp_path / UNIT_TESTS.name
    shutil.copy(UNIT_TESTS, tests)
    done = promtool("test", "rules", tests.name, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


@needs_promtool
def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    """A control: the unit tests fail when an alert's threshold is off."""
    text = RULE.read_text().replace("> 1800", "> 3600")
    assert text != RULE.read_text()
    write_rules(tmp_path, text)
    shutil.copy(UNIT_TESTS, tmp_path / UNIT_TESTS.name)
    done = promtool("test", "rules", UNIT_TESTS.name, cwd=tmp_path)
    assert done.returncode != 0
    assert "ImagestreamReconcilerNoSuccessfulPass" in done.stdout + done.stderr
