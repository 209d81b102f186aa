"""deploy/kubernetes: the kustomize base, the OpenShift overlay and the ServiceMonitor
component, checked the way a cluster would see them.

- Rendered by a real kustomize (``kubectl kustomize``, which embeds kustomize; or a
  ``kustomize`` binary), the base and the overlay validate against the upstream Kubernetes
  JSON schemas, strict (unknown fields refused), from the PyPI package
  ``kubernetes-validate`` (its schemas: Kubernetes 1.25 to 1.37).
- Every resource file validates on its own too, and every path a kustomization names
  exists, so a machine without kustomize still checks the files.
- The ServiceMonitor validates against the prometheus-operator CRD schema from the npm
  package ``@kubernetes-models/prometheus-operator`` (tests/node). No package ships the
  Route's schema: its few fields are checked here by hand.
- The project's own validator: ``reconciler validate`` over the directory and the rendered
  output, and the daemon's config parser over the ConfigMap's daemon.yaml.
- What the manifests promise each other: probes, the security context, volumes for every
  path the daemon writes, the Secrets the README tells the operator to create, and that
  the git settings in the environment work with real git and ssh.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ssh_config import ssh_settings

from reconciler.cli import main as cli
from reconciler.daemon.config import parse_daemon_config

ROOT = Path(__file__).resolve().parent.parent
KUBE = ROOT / "deploy" / "kubernetes"
BASE = KUBE / "base"
OPENSHIFT = KUBE / "overlays" / "openshift"
SERVICEMONITOR = KUBE / "components" / "servicemonitor"
PROMETHEUSRULE = KUBE / "components" / "prometheusrule"
NODE_CHECKS = ROOT / "tests" / "node"
# The oldest Kubernetes the manifests are written for, and the newest schemas we have.
KUBERNETES_VERSIONS = ["1.27.0", "1.37.0"]
NAME = "imagestream-reconciler"


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize_command() -> list[str] | None:
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def render(directory: Path) -> list[dict[str, Any]]:
    command = kustomize_command()
    if command is None:
        pytest.skip("no kustomize here (neither kubectl nor kustomize on PATH)")
    done = subprocess.run(
        [*command, str(directory)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return load_all(done.stdout)


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(KUBE)


@pytest.fixture(scope="module")
def openshift() -> list[dict[str, Any]]:
    return render(OPENSHIFT)


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind} objects"
    return found[0]


def validate_upstream(obj: dict[str, Any], version: str) -> None:
    import kubernetes_validate

    kubernetes_validate.validate(obj, version, strict=True)


def resource_files() -> Iterator[Path]:
    for path in sorted(KUBE.rglob("*.yaml")):
        if path.name in ("kustomization.yaml", "daemon.yaml"):
            continue
        yield path


UPSTREAM_KINDS = {
    "ServiceAccount",
    "Service",
    "Deployment",
    "ConfigMap",
    "NetworkPolicy",
    "PodDisruptionBudget",
}


# ------------------------------------------------------------ the files on their own


def test_every_path_a_kustomization_names_exists() -> None:
    kustomizations = sorted(KUBE.rglob("kustomization.yaml"))
    assert {k.parent for k in kustomizations} == {
        KUBE,
        BASE,
        OPENSHIFT,
        SERVICEMONITOR,
        PROMETHEUSRULE,
    }
    for file in kustomizations:
        data = yaml.safe_load(file.read_text())
        here = file.parent
        for entry in [*data.get("resources", []), *data.get("components", [])]:
            target = (here / entry).resolve()
            assert target.is_file() or (target / "kustomization.yaml").is_file(), (file, entry)
        for generator in data.get("configMapGenerator", []):
            for entry in generator.get("files", []):
                assert (here / entry.split("=")[-1]).is_file(), (file, entry)
        for patch in data.get("patches", []):
            if "path" in patch:
                assert (here / patch["path"]).is_file(), (file, patch)
            else:
                assert yaml.safe_load(patch["patch"]), (file, patch)
    # Every resource file is used by some kustomization.
    named = {
        (file.parent / entry).resolve()
        for file in kustomizations
        for entry in yaml.safe_load(file.read_text()).get("resources", [])
    }
    for path in resource_files():
        assert path.resolve() in named, f"{path} is in no kustomization"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", list(resource_files()), ids=lambda p: p.name)
def test_each_resource_file_validates_upstream(path: Path, version: str) -> None:
    for obj in load_all(path.read_text()):
        if obj["kind"] in UPSTREAM_KINDS:
            validate_upstream(obj, version)
        else:
            assert obj["kind"] in ("Route", "ServiceMonitor", "PrometheusRule"), obj["kind"]


def test_upstream_validation_refuses_what_a_cluster_refuses() -> None:
    """A control: the strict schemas do catch a misplaced field and a wrong type."""
    import kubernetes_validate

    deployment = load_all((BASE / "deployment.yaml").read_text())[0]
    misplaced = json.loads(json.dumps(deployment))
    misplaced["spec"]["template"]["spec"]["readOnlyRootFilesystem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_upstream(misplaced, KUBERNETES_VERSIONS[-1])
    wrong = json.loads(json.dumps(deployment))
    wrong["spec"]["replicas"] = "one"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_upstream(wrong, KUBERNETES_VERSIONS[-1])


def test_the_project_validator_accepts_the_directory() -> None:
    out = io.StringIO()
    code = cli.main(["validate", "-o", "json", str(KUBE)], out)
    report = json.loads(out.getvalue())
    assert code == 0 and report["valid"] and report["errors"] == 0, report


# ------------------------------------------------------------ rendered


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_base_validates_upstream(base: list[dict[str, Any]], version: str) -> None:
    assert {o["kind"] for o in base} == UPSTREAM_KINDS
    for obj in base:
        validate_upstream(obj, version)
        assert obj["metadata"]["namespace"] == NAME


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_openshift_validates_upstream(
    openshift: list[dict[str, Any]], version: str
) -> None:
    assert {o["kind"] for o in openshift} == UPSTREAM_KINDS | {"Route"}
    for obj in openshift:
        if obj["kind"] != "Route":
            validate_upstream(obj, version)
        assert obj["metadata"]["namespace"] == NAME


def test_the_project_validator_accepts_the_rendered_output(
    base: list[dict[str, Any]], openshift: list[dict[str, Any]], tmp_path: Path
) -> None:
    for name, objects in (("base", base), ("openshift", openshift)):
        file = tmp_path / f"{name}.yaml"
        file.write_text(yaml.safe_dump_all(objects))
        out = io.StringIO()
        code = cli.main(["validate", "-o", "json", str(file)], out)
        report = json.loads(out.getvalue())
        assert code == 0 and report["valid"] and report["errors"] == 0, report


def test_the_config_map_holds_a_config_the_daemon_accepts(
    base: list[dict[str, Any]], tmp_path: Path
) -> None:
    config_map = one(base, "ConfigMap")
    deployment = one(base, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The generated name (with its hash) is the one the pod mounts.
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    text = config_map["data"]["daemon.yaml"]
    # The secret files the config names, where the pod mounts them (here: in tmp_path).
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    for path in re.findall(r"secretFile: (/\S+?)\}", text):
        directory = str(Path(path).parent)
        assert directory in mounts, f"{path} is not under a mount"
        assert volumes[mounts[directory]]["secret"]["secretName"] == f"{NAME}-webhooks"
        local = tmp_path / Path(path).name
        local.write_text("s3cret\n")
        text = text.replace(path, str(local))
    config = parse_daemon_config(text, "daemon.yaml", {})
    assert config.listen_host == "0.0.0.0"
    assert config.listen_port == container["ports"][0]["containerPort"]
    assert config.github_secret is not None and config.registry_token is not None
    # Everything the daemon writes is on a writable volume, not the read-only root.
    env = {e["name"]: e["value"] for e in container["env"]}
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    for path in (config.work_dir, config.state_dir, Path(env["RECONCILER_CACHE_DIR"])):
        assert any(path.is_relative_to(mount) for mount in writable), path
    # git refuses a work tree whose top directory belongs to another user, as a volume's
    # root does: the clone is a directory the daemon makes in its volume.
    assert str(config.work_dir) not in writable
    assert env["TMPDIR"] in writable
    assert config.registries_conf is None  # the image has none; a named one must exist


# ------------------------------------------------------------ what the objects promise


def test_deployment_probes_resources_and_security(base: list[dict[str, Any]]) -> None:
    deployment = one(base, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    assert port == 8080
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # Sized from the measured peaks (448 MiB at 50,000 tags): the limit leaves room above it.
    assert container["resources"]["requests"] == {"cpu": "200m", "memory": "256Mi"}
    assert container["resources"]["limits"]["memory"] == "768Mi"
    assert pod["automountServiceAccountToken"] is False
    assert one(base, "ServiceAccount")["automountServiceAccountToken"] is False
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 10001 and isinstance(security["runAsUser"], int)
    assert security["runAsGroup"] == 0
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert pod["terminationGracePeriodSeconds"] >= 60
    # Every mount has its volume, and every volume is mounted.
    volumes = {v["name"] for v in pod["volumes"]}
    assert {m["name"] for m in container["volumeMounts"]} == volumes


def test_service_budget_and_policy_select_the_pod(base: list[dict[str, Any]]) -> None:
    labels = one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    service = one(base, "Service")
    assert selects(service["spec"]["selector"])
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    budget = one(base, "PodDisruptionBudget")
    assert selects(budget["spec"]["selector"]["matchLabels"])
    assert budget["spec"]["maxUnavailable"] == 1  # minAvailable: 1 would block node drains
    policy = one(base, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"]["matchLabels"])
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert [p["port"] for p in policy["spec"]["ingress"][0]["ports"]] == [8080]
    egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 22, 443} <= egress


def test_openshift_overlay_fits_restricted_v2(openshift: list[dict[str, Any]]) -> None:
    """What the restricted-v2 SCC admits: no fixed UID, GID or fsGroup (it assigns them
    from the namespace's range), no privilege escalation, all capabilities dropped, the
    RuntimeDefault seccomp profile, only the volume types it allows, no host namespaces."""
    pod = one(openshift, "Deployment")["spec"]["template"]["spec"]
    security = pod["securityContext"]
    assert security == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    for container in pod["containers"]:
        context = container["securityContext"]
        assert not {"runAsUser", "runAsGroup"} & set(context)
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(key)
    allowed = {"configMap", "downwardAPI", "emptyDir", "persistentVolumeClaim", "projected",
               "secret", "ephemeral", "csi"}  # fmt: skip
    for volume in pod["volumes"]:
        kinds = set(volume) - {"name"}
        assert kinds <= allowed, volume


def test_openshift_route_exposes_only_the_hooks(openshift: list[dict[str, Any]]) -> None:
    route = one(openshift, "Route")
    service = one(openshift, "Service")
    assert route["apiVersion"] == "route.openshift.io/v1"
    spec = route["spec"]
    assert spec["to"] == {"kind": "Service", "name": service["metadata"]["name"], "weight": 100}
    assert spec["port"]["targetPort"] in {p["name"] for p in service["spec"]["ports"]}
    assert spec["path"] == "/hooks"
    assert spec["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    assert set(spec) == {"path", "to", "port", "tls", "wildcardPolicy"}


def test_servicemonitor_component(base: list[dict[str, Any]], tmp_path: Path) -> None:
    overlay = tmp_path / "with-monitor"
    overlay.mkdir()
    # kustomize takes relative paths only.
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{os.path.relpath(KUBE, overlay)}]\n"
        f"components: [{os.path.relpath(SERVICEMONITOR, overlay)}]\n"
    )
    objects = render(overlay)
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert all(
        service["metadata"]["labels"].get(k) == v
        for k, v in monitor["spec"]["selector"]["matchLabels"].items()
    )
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    for obj in objects:
        if obj["kind"] != "ServiceMonitor":
            validate_upstream(obj, KUBERNETES_VERSIONS[-1])
    # The CRD's own schema, through the npm package.
    if not (NODE_CHECKS / "node_modules" / "@kubernetes-models").is_dir():
        pytest.skip("tests/node has no node_modules (no npm here): CRD schema not checked")
    broken = json.loads(json.dumps(monitor))
    broken["spec"]["endpoints"][0]["interval"] = "30 seconds"
    done = subprocess.run(
        ["node", str(NODE_CHECKS / "validate.mjs")],
        input=json.dumps([monitor, broken]),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == f"ServiceMonitor/{NAME}: ok", done.stdout + done.stderr
    assert "invalid" in lines[1] and "interval" in lines[1], done.stdout  # the control
    assert done.returncode == 1


def test_prometheusrule_component(tmp_path: Path) -> None:
    """The alerts, beside the ServiceMonitor that scrapes what they use: rendered in the
    base's namespace, and valid against the prometheus-operator CRD schema (their PromQL
    and their behaviour: tests/test_deploy_alerts.py, with promtool)."""
    overlay = tmp_path / "with-alerts"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        f"resources: [{os.path.relpath(KUBE, overlay)}]\n"
        f"components: [{os.path.relpath(SERVICEMONITOR, overlay)}, "
        f"{os.path.relpath(PROMETHEUSRULE, overlay)}]\n"
    )
    objects = render(overlay)
    rule = one(objects, "PrometheusRule")
    monitor = one(objects, "ServiceMonitor")
    service = one(objects, "Service")
    assert rule["metadata"]["namespace"] == service["metadata"]["namespace"] == NAME
    assert rule["metadata"]["labels"] == monitor["metadata"]["labels"]
    # The job label Prometheus gives the scraped metrics is the Service's name.
    assert service["metadata"]["name"] == NAME
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any(f'job="{NAME}"' in e for e in exprs)
    if not (NODE_CHECKS / "node_modules" / "@kubernetes-models").is_dir():
        pytest.skip("tests/node has no node_modules (no npm here): CRD schema not checked")
    broken = json.loads(json.dumps(rule))
    broken["spec"]["groups"][0]["rules"][0]["for"] = "5 minutes"
    done = subprocess.run(
        ["node", str(NODE_CHECKS / "validate.mjs")],
        input=json.dumps([rule, broken]),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == f"PrometheusRule/{NAME}: ok", done.stdout + done.stderr
    assert "invalid" in lines[1] and "for" in lines[1], done.stdout  # the control
    assert done.returncode == 1


# ------------------------------------------------------------ the Secrets and git


def readme_cluster_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Running in a cluster")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def secret_commands() -> dict[str, set[str]]:
    """Secret name -> the keys the README's `kubectl create secret` commands give it."""
    section = readme_cluster_section().replace("\\\n", " ")
    found: dict[str, set[str]] = {}
    for line in section.splitlines():
        line = line.strip()
        if not line.startswith("kubectl -n imagestream-reconciler create secret"):
            continue
        words = shlex.split(line, comments=True)
        kind, name = words[5], words[6]
        assert kind == "generic", line
        keys = set()
        for word in words[7:]:
            match = re.match(r"--from-(?:file|literal)=([^=]+)=", word)
            if match:
                keys.add(match.group(1))
        found[name] = keys
    return found


def test_readme_creates_every_secret_the_pod_reads(base: list[dict[str, Any]]) -> None:
    pod = one(base, "Deployment")["spec"]["template"]["spec"]
    wanted: dict[str, set[str]] = {}
    optional: set[str] = set()
    for volume in pod["volumes"]:
        sources = [s["secret"] for s in volume.get("projected", {}).get("sources", [])]
        if "secret" in volume:
            sources.append({**volume["secret"], "name": volume["secret"]["secretName"]})
        for source in sources:
            keys = {item["key"] for item in source.get("items", [])}
            wanted.setdefault(source["name"], set()).update(keys)
            if source.get("optional"):
                optional.add(source["name"])
    created = secret_commands()
    assert set(created) == set(wanted), (created, wanted)
    for name, keys in wanted.items():
        assert keys <= created[name], (name, keys, created[name])
    # The webhook secret is the one the pod cannot start without.
    assert set(wanted) - optional == {f"{NAME}-webhooks"}
    config = one(base, "ConfigMap")["data"]["daemon.yaml"]
    for hook in re.findall(r"/etc/imagestream-reconciler/webhooks/(\w+)", config):
        assert hook in created[f"{NAME}-webhooks"]


def container_env(base: list[dict[str, Any]]) -> dict[str, str]:
    container = one(base, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client (openssh-client)")
def test_git_ssh_command_pins_the_known_hosts(base: list[dict[str, Any]], tmp_path: Path) -> None:
    """ssh itself reads the GIT_SSH_COMMAND the pod gets (`ssh -G` prints the settings
    it would connect with): the mounted key, the mounted known_hosts, strict checking."""
    command = container_env(base)["GIT_SSH_COMMAND"]
    mount = "/etc/imagestream-reconciler/git"
    words = shlex.split(command.replace(mount, str(tmp_path)))
    (tmp_path / "ssh-privatekey").write_text("")
    (tmp_path / "known_hosts").write_text("")
    settings = ssh_settings(words)
    assert settings["stricthostkeychecking"] == "true"
    assert settings["userknownhostsfile"] == str(tmp_path / "known_hosts")
    assert settings["identityfile"] == str(tmp_path / "ssh-privatekey")
    assert settings["identitiesonly"] == "yes" and settings["batchmode"] == "yes"


def test_git_https_credential_helper_answers_from_the_secret_files(
    base: list[dict[str, Any]], tmp_path: Path
) -> None:
    """git itself runs the credential helper of the pod's environment: it answers with
    the git-https Secret's files, and with nothing when there is no token."""
    env = container_env(base)
    mount = "/etc/imagestream-reconciler/git"
    git_env = {k: v.replace(mount, str(tmp_path)) for k, v in env.items() if k.startswith("GIT_")}
    git_env = {**git_env, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    git_env.pop("GIT_SSH_COMMAND")
    ask = "protocol=https\nhost=git.example.com\npath=ops/image-streams.git\n\n"

    def fill() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "credential", "fill"],
            input=ask,
            env=git_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )

    (tmp_path / "username").write_text("x-access-token\n")
    (tmp_path / "token").write_text("ghp_example\n")
    done = fill()
    assert done.returncode == 0, done.stderr
    assert "username=x-access-token\n" in done.stdout
    assert "password=ghp_example\n" in done.stdout
    # A successful clone makes git "store" the credential: the helper ignores that
    # (the Secret's volume is read-only), without an error.
    stored = subprocess.run(
        ["git", "credential", "approve"],
        input=done.stdout + "\n",
        env=git_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert stored.returncode == 0 and not stored.stderr, stored.stderr
    # No git-https Secret: the helper says nothing and git does not prompt.
    (tmp_path / "token").unlink()
    (tmp_path / "username").unlink()
    assert fill().returncode != 0


def readme_overlay() -> str:
    section = readme_cluster_section()
    start = section.index("`my-reconciler/kustomization.yaml`:")
    block = section.index("```yaml\n", start) + len("```yaml\n")
    return section[block : section.index("```", block)]


@pytest.mark.parametrize("variant", ["kubernetes", "openshift"])
def test_the_readme_overlay_renders(variant: str, tmp_path: Path) -> None:
    """The overlay the README tells an operator to write, beside a checkout of this
    repository, renders with the operator's image and config."""
    (tmp_path / "imagestream-reconciler").symlink_to(ROOT)
    mine = tmp_path / "my-reconciler"
    mine.mkdir()
    config = (
        (BASE / "daemon.yaml")
        .read_text()
        .replace("git@git.example.com:ops/image-streams.git", "git@git.example.org:me/streams.git")
    )
    (mine / "daemon.yaml").write_text(config)
    text = readme_overlay()
    if variant == "openshift":
        text = text.replace(
            "  - ../imagestream-reconciler/deploy/kubernetes   # OpenShift: ",
            "  - ",
        )
    (mine / "kustomization.yaml").write_text(text)
    objects = render(mine)
    deployment = one(objects, "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.example.com/ops/imagestream-reconciler:0.1.0"
    config_map = one(objects, "ConfigMap")
    assert "git@git.example.org:me/streams.git" in config_map["data"]["daemon.yaml"]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert ("Route" in {o["kind"] for o in objects}) == (variant == "openshift")
    for obj in objects:
        if obj["kind"] != "Route":
            validate_upstream(obj, KUBERNETES_VERSIONS[-1])
