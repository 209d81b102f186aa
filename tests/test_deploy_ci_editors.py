"""CI and editors: the schemas' stable $ids and ``reconciler schemas``, the pre-commit
hook (run for real by pre-commit when it is installed), and the CI examples (checked
against the GitHub Actions and GitLab CI schemas that check-jsonschema vendors, and the
plan script run against a real registry)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from git_fixtures import git
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource

from reconciler.cli import main as cli
from reconciler.core.manifests import BUILD_CONFIG, DEPLOYMENT_CONFIG, IMAGE_STREAM
from reconciler.files.schemas import SCHEMA_FILES, schema_dir
from testsupport.images import push_image
from testsupport.registry import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent
ID_BASE = "https://imagestream-reconciler.dev/schemas/v1/"
SAMPLE = ROOT / "sample-repo"
CI = ROOT / "examples" / "ci"
BIN = Path(sys.executable).parent


def reconciler(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.main(list(argv), out)
    return code, out.getvalue()


# ------------------------------------------------------------ schemas


def test_every_schema_has_a_stable_id_under_one_base() -> None:
    """One base for every file: the schemas' relative $refs (common.json#/...) resolve
    against it, so a file with an $id elsewhere would break them."""
    for path in sorted(schema_dir().glob("*.json")):
        schema = json.loads(path.read_text())
        assert schema["$id"] == ID_BASE + path.name, path.name
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        Draft202012Validator.check_schema(schema)
        for ref in re.findall(r'"\$ref":\s*"([^"#]*)#', path.read_text()):
            assert not ref or (schema_dir() / ref).is_file(), f"{path.name}: {ref}"


def test_schemas_list() -> None:
    code, out = reconciler("schemas", "--list")
    files = sorted(p.name for p in schema_dir().glob("*.json"))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == files
    assert all(line.split()[1] == ID_BASE + line.split()[0] for line in out.splitlines())
    code, out = reconciler("schemas", "-o", "json")
    rows = {row["file"]: row for row in json.loads(out)}
    assert code == 0 and set(rows) == set(files)
    assert rows["imagestream.json"]["kind"] == IMAGE_STREAM
    assert rows["common.json"]["kind"] == ""


def test_schemas_export_writes_every_file(tmp_path: Path) -> None:
    target = tmp_path / "a" / "schemas"
    code, out = reconciler("schemas", "--export", str(target))
    assert code == 0
    for path in schema_dir().glob("*.json"):
        assert (target / path.name).read_bytes() == path.read_bytes()
        assert f"wrote {target / path.name}" in out
    # Again, over the files it wrote: the same.
    assert reconciler("schemas", "--export", str(target))[0] == 0
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert reconciler("schemas", "--export", str(blocked / "x"))[0] == 2


def manifests(root: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(root.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") in SCHEMA_FILES:
                found.append(doc)
    return found


def exported_validators(directory: Path) -> dict[str, Draft202012Validator]:
    """Plain jsonschema over the exported directory alone: the files registered by their
    $id; anything else would be a fetch, and fails the test."""

    def no_fetch(uri: str) -> Resource[Any]:
        raise NoSuchResource(ref=uri)

    contents = {p.name: json.loads(p.read_text()) for p in directory.glob("*.json")}
    registry: Registry[Any] = Registry(retrieve=no_fetch).with_resources(  # type: ignore[call-arg]
        (c["$id"], Resource.from_contents(c)) for c in contents.values()
    )
    return {
        kind: Draft202012Validator(contents[file], registry=registry)
        for kind, file in SCHEMA_FILES.items()
    }


def test_exported_schemas_validate_manifests_on_their_own(tmp_path: Path) -> None:
    target = tmp_path / "exported"
    assert reconciler("schemas", "--export", str(target))[0] == 0
    validators = exported_validators(target)
    objects = manifests(SAMPLE)
    assert {IMAGE_STREAM, BUILD_CONFIG, DEPLOYMENT_CONFIG} <= {o["kind"] for o in objects}
    for obj in objects:
        errors = list(validators[obj["kind"]].iter_errors(obj))
        assert not errors, (obj["metadata"]["name"], [e.message for e in errors])
    # A bad value is refused, through a $ref into common.json.
    bad = json.loads(json.dumps(next(o for o in objects if o["kind"] == IMAGE_STREAM)))
    bad["metadata"]["name"] = "Not_A_Name"
    assert list(validators[IMAGE_STREAM].iter_errors(bad))
    # The daemon's config too.
    config = yaml.safe_load((ROOT / "deploy" / "daemon.yaml").read_text())
    daemon = json.loads((target / "daemon-config.json").read_text())
    assert not list(Draft202012Validator(daemon).iter_errors(config))


def test_readme_shows_the_editor_lines() -> None:
    text = (ROOT / "README.md").read_text()
    lines = re.findall(r"# yaml-language-server: \$schema=(\S+)", text)
    assert "../.schemas/imagestream.json" in lines
    assert ID_BASE + "imagestream.json" in lines
    assert "reconciler schemas --export .schemas" in text
    # The config files in deploy/ carry the line too, and it points at the real file.
    for config in ("deploy/daemon.yaml", "deploy/daemon-systemd.yaml",
                   "deploy/kubernetes/base/daemon.yaml"):  # fmt: skip
        first = (ROOT / config).read_text().splitlines()[0]
        target = first.split("$schema=")[1]
        assert ((ROOT / config).parent / target).resolve() == schema_dir() / "daemon-config.json"


def test_schemas_help_shows_an_editor_line_that_finds_the_export(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The language server takes a relative $schema from the manifest's own directory
    (as the README says), so the help's example must point there from its manifest."""
    with pytest.raises(SystemExit):
        cli.main(["schemas", "--help"])
    text = capsys.readouterr().out
    [export] = re.findall(r"schemas --export (\S+)", text)
    [manifest] = re.findall(r"at the top of (\S+):", text)
    [ref] = re.findall(r"# yaml-language-server: \$schema=(\S+)", text)
    assert "/" in manifest  # a manifest in a directory, as in a GitOps repository
    found = os.path.normpath(Path(manifest).parent / ref)
    assert found == os.path.normpath(Path(export) / "imagestream.json")


# ------------------------------------------------------------ pre-commit


def hook() -> dict[str, Any]:
    [only] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    return dict(only)


def test_pre_commit_hook_definition() -> None:
    spec = hook()
    assert spec["id"] == "reconciler-validate"
    assert spec["entry"] == "reconciler validate" and spec["language"] == "python"
    files = re.compile(spec["files"])
    for name in ("streams/a.yaml", "b.yml", "images.lock.yaml"):
        assert files.search(name), name
    for name in ("a.json", "yaml.txt", "a.yaml.bak"):
        assert not files.search(name), name
    if (BIN / "pre-commit").exists():
        done = subprocess.run(
            [str(BIN / "pre-commit"), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(900)
@pytest.mark.skipif(
    not (BIN / "pre-commit").exists(), reason="pre-commit not installed (scripts/setup does)"
)
def test_pre_commit_runs_the_hook(tmp_path: Path) -> None:
    """pre-commit installs this repository as a hook (its own virtualenv, the package
    from this checkout) and runs it on a copy of the sample: it passes, then fails on a
    broken manifest with the file, line and column."""
    repo = tmp_path / "gitops"
    shutil.copytree(SAMPLE, repo)
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "streams", cwd=repo)
    # try-repo clones the hook repository: a commit of this checkout as it is now.
    hooks = tmp_path / "hooks"
    shutil.copytree(
        ROOT,
        hooks,
        ignore=shutil.ignore_patterns(".git", ".venv", ".work", "node_modules", "__pycache__"),
    )
    git("init", "-q", "-b", "main", cwd=hooks)
    git("add", "-A", cwd=hooks)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hooks", cwd=hooks)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}

    def try_repo() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(BIN / "pre-commit"),
                "try-repo",
                str(hooks),
                "reconciler-validate",
                "--all-files",
            ],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=800,
        )

    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"reconciler validate\.+Passed", passed.stdout), passed.stdout
    stream = repo / "imagestreams" / "my-python.yaml"
    stream.write_text(stream.read_text() + "      importPolicy: {importMode: Sometimes}\n")
    git("add", "-A", cwd=repo)
    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"imagestreams/my-python\.yaml:13:\d+: .*importMode", failed.stdout), (
        failed.stdout
    )


# ------------------------------------------------------------ the CI examples


def test_ci_examples_match_the_ci_schemas() -> None:
    """The GitHub workflow and the GitLab job against the schemas the two services
    publish (vendored in check-jsonschema), and what they run."""
    checker = BIN / "check-jsonschema"
    if not checker.exists():
        pytest.skip("check-jsonschema not installed (scripts/setup does)")
    for schema, file in (
        ("vendor.github-workflows", CI / "github-actions.yml"),
        ("vendor.gitlab-ci", CI / "gitlab-ci.yml"),
    ):
        done = subprocess.run(
            [str(checker), "--builtin-schema", schema, str(file)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    # A control: a job without `runs-on` is refused.
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    assert "reconciler validate -o github" in json.dumps(workflow)
    assert "sh ci/plan-comment.sh" in json.dumps(workflow)
    assert "sh ci/plan-comment.sh" in (CI / "gitlab-ci.yml").read_text()


@pytest.mark.integration
def test_plan_comment_shows_the_lock_diff(
    local_registry: LocalRegistry, unique_repo: str, tmp_path: Path
) -> None:
    """The script both CI examples run, on a pull request that adds a tag: Markdown with
    the lockfile diff, and plan's exit code."""
    digest = push_image(local_registry.url, f"{unique_repo}/web", "2", seed=f"{unique_repo}-w")
    repo = tmp_path / "gitops"
    repo.mkdir()
    (repo / ".reconciler.yaml").write_text("defaultNamespace: demo\n")
    (repo / "web.yaml").write_text(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: web}\n"
        "spec:\n  tags:\n    - name: '2'\n      from: {kind: DockerImage, name: "
        f"'{local_registry.host}/{unique_repo}/web:2'}}\n      importPolicy: {{insecure: true}}\n"
    )
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "CONTAINERS_REGISTRIES_CONF": str(tmp_path / "none.conf"),
    }
    done = subprocess.run(
        ["sh", str(CI / "plan-comment.sh"), str(tmp_path / "plan.md")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    text = (tmp_path / "plan.md").read_text()
    assert done.returncode == 0, text + done.stderr
    assert text.startswith(
        "<!-- imagestream-reconciler plan -->\n### imagestream-reconciler: plan\n"
    )
    assert "Merging this changes `images.lock.yaml`" in text
    body = text.split("```diff\n", 1)[1]
    assert "+++ b/images.lock.yaml" in body and digest in body
    assert body.rstrip().endswith("```")
    # A tag that cannot be resolved: exit 1, and the Markdown says so.
    (repo / "web.yaml").write_text((repo / "web.yaml").read_text().replace("web:2", "web:404"))
    done = subprocess.run(
        ["sh", str(CI / "plan-comment.sh"), str(tmp_path / "plan.md")],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    text = (tmp_path / "plan.md").read_text()
    assert done.returncode == 1
    assert "### imagestream-reconciler: plan (with errors or failed tags)" in text
    assert "web:404" in text
