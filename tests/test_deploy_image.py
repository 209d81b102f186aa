"""deploy/Containerfile: what it promises, read from the file, and the image built and run
with buildah (Debian's package; scripts/setup installs it).

The Containerfile's base, python:3.11.10-slim-bookworm pinned by digest, lives in a
container registry these machines cannot reach. The build test therefore builds the
same Containerfile with ``--build-arg BASE_IMAGE=`` naming a local base of the same shape:
Debian 12 (bookworm) made with debootstrap from the machine's own apt mirror, with
python3 and its venv module, and the machine's CA bundle (its outbound TLS is re-signed
by a local CA, which pip inside the build must trust). Every step after FROM is the
shipped one: apt packages, the hash-locked pip installs, the user, the permissions, the
entrypoint. RUN steps use buildah's chroot isolation, because this machine's container
runtimes cannot set up cgroups or raise rlimits (no CAP_SYS_RESOURCE); so the image is
run with ``buildah run --isolation chroot`` too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from testsupport.images import push_image
from testsupport.registry import LocalRegistry

ROOT = Path(__file__).resolve().parent.parent
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
LOCK = ROOT / "deploy" / "requirements.lock"
BUILD_LOCK = ROOT / "deploy" / "build-requirements.lock"
TEST_BASE = "localhost/imagestream-reconciler-testbase:bookworm"
IMAGE = "localhost/imagestream-reconciler:test"
RANDOM_UID = "1000680000"  # the kind of UID OpenShift's restricted-v2 SCC assigns


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, list[str]]:
    """name -> the sha256 hashes of its pinned version, from a pip-compile lock."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", line)
        if match:
            current = normalize(match.group(1))
            found[current] = []
        hashed = re.search(r"--hash=sha256:([0-9a-f]{64})", line)
        if hashed and current:
            found[current].append(hashed.group(1))
    return found


def requirement_name(spec: str) -> str:
    return normalize(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0])


# ------------------------------------------------------------ read from the files


def test_locks_pin_every_dependency_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = pins(LOCK)
    for spec in project["project"]["dependencies"]:
        assert requirement_name(spec) in runtime, f"{spec} is not in {LOCK.name}"
    build = pins(BUILD_LOCK)
    for spec in project["build-system"]["requires"]:
        assert requirement_name(spec) in build, f"{spec} is not in {BUILD_LOCK.name}"
    for name, hashes in {**runtime, **build}.items():
        assert hashes, f"{name} has no hash"
    # Development tools stay out of the image.
    for spec in project["project"]["optional-dependencies"]["dev"]:
        assert requirement_name(spec) not in runtime, spec


def test_containerfile_promises() -> None:
    text = CONTAINERFILE.read_text()
    instructions = [
        line for line in re.sub(r"\\\n\s*", " ", text).splitlines() if line and line[0] != "#"
    ]
    [arg] = [line for line in instructions if line.startswith("ARG BASE_IMAGE=")]
    assert re.fullmatch(
        r"ARG BASE_IMAGE=docker\.io/library/python:3\.11\.\d+-slim-bookworm@sha256:[0-9a-f]{64}",
        arg,
    ), arg
    assert [line for line in instructions if line.startswith("FROM")] == [
        "FROM ${BASE_IMAGE} AS build",
        "FROM ${BASE_IMAGE}",
    ]
    [user] = [line for line in instructions if line.startswith("USER")]
    assert user == "USER 10001:0"
    installs = [line for line in instructions if "pip install" in line]
    assert installs and all(
        "--require-hashes" in line or "/tmp/wheels/" in line for line in installs
    )
    assert any("-r /tmp/requirements.lock" in line for line in installs)
    assert any("-r /src/deploy/build-requirements.lock" in line for line in installs)
    [apt] = [line for line in instructions if "apt-get install" in line]
    for package in ("git", "openssh-client", "ca-certificates", "libnss-wrapper"):
        assert f" {package} " in f"{apt} ", package
    assert "chmod -R g=u /var/lib/imagestream-reconciler" in text
    assert 'ENTRYPOINT ["/usr/local/bin/container-entrypoint"]' in instructions
    entrypoint = ROOT / "deploy" / "container-entrypoint.sh"
    assert os.access(entrypoint, os.X_OK)
    # Everything it copies is in the build context, and the context leaves the rest out.
    for line in instructions:
        if line.startswith("COPY") and "--from=" not in line:
            for source in line.split()[1:-1]:
                if not source.startswith("--"):
                    assert (ROOT / source).exists(), source
    ignored = (ROOT / ".containerignore").read_text().split()
    assert {".git", ".venv", ".work", "tests"} <= set(ignored)


# ------------------------------------------------------------ built and run

needs_buildah = pytest.mark.skipif(
    shutil.which("buildah") is None or shutil.which("debootstrap") is None,
    reason="no buildah or debootstrap here (Debian packages; scripts/setup installs them)",
)


def run(*argv: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    if check:
        assert done.returncode == 0, f"{argv}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def apt_mirror() -> str | None:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        text = path.read_text()
        for stanza in text.split("\n\n"):
            if re.search(r"(?m)^Suites:.*\bbookworm\b", stanza) and "security" not in stanza:
                uris = re.search(r"(?m)^URIs:\s*(\S+)", stanza)
                if uris:
                    return uris.group(1)
    sources = Path("/etc/apt/sources.list")
    if sources.is_file():
        for line in sources.read_text().splitlines():
            match = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
            if match:
                return match.group(1)
    return None


def ensure_test_base(tmp: Path) -> None:
    if run("buildah", "inspect", "--type", "image", TEST_BASE, check=False).returncode == 0:
        return
    mirror = apt_mirror()
    if mirror is None:
        pytest.skip("no Debian bookworm mirror in this machine's apt sources for debootstrap")
    rootfs = tmp / "rootfs"
    run(
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-venv,ca-certificates",
        "bookworm",
        str(rootfs),
        mirror,
    )
    shutil.copyfile(
        "/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt"
    )
    container = run("buildah", "from", "scratch").stdout.strip()
    try:
        mount = run("buildah", "mount", container).stdout.strip()
        run("cp", "-a", f"{rootfs}/.", mount)
        run("buildah", "umount", container)
        run(
            "buildah", "config",
            "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            container,
        )  # fmt: skip
        run("buildah", "commit", "--quiet", container, TEST_BASE)
    finally:
        run("buildah", "rm", container, check=False)
        shutil.rmtree(rootfs, ignore_errors=True)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("buildah runs as root here (no rootless set-up)")
    ensure_test_base(tmp_path_factory.mktemp("base"))
    run(
        "buildah", "build", "--isolation", "chroot", "--quiet",
        "--build-arg", f"BASE_IMAGE={TEST_BASE}",
        "-f", str(CONTAINERFILE), "-t", IMAGE, str(ROOT),
    )  # fmt: skip
    yield IMAGE
    # The base stays (it takes a debootstrap to make); the image is rebuilt every run.
    run("buildah", "rmi", IMAGE, check=False)


@pytest.fixture
def container(image: str) -> Iterator[str]:
    name = run("buildah", "from", "--pull=never", image).stdout.strip()
    yield name
    run("buildah", "rm", name, check=False)


def in_container(container: str, user: str, *argv: str, volumes: tuple[str, ...] = ()) -> str:
    mounts = [arg for volume in volumes for arg in ("-v", volume)]
    done = run(
        "buildah", "run", "--isolation", "chroot", "--user", user, *mounts, container, "--", *argv,
        timeout=120,
    )  # fmt: skip
    return done.stdout


@pytest.mark.timeout(1800)
@needs_buildah
def test_image_config(image: str) -> None:
    config = json.loads(run("buildah", "inspect", "--type", "image", image).stdout)["OCIv1"]
    config = config["config"]
    assert config["User"] == "10001:0"
    assert config["Entrypoint"] == ["/usr/local/bin/container-entrypoint"]
    assert config["Cmd"] == [
        "reconciler", "run", "--config", "/etc/imagestream-reconciler/daemon.yaml"
    ]  # fmt: skip
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["StopSignal"] == "SIGTERM"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].startswith("/opt/imagestream-reconciler/bin:")
    assert env["HOME"] == "/var/lib/imagestream-reconciler"


@pytest.mark.timeout(1800)
@needs_buildah
def test_image_runs_as_its_uid(container: str) -> None:
    out = in_container(
        container,
        "10001:0",
        "sh", "-c",
        "id -u; reconciler --version; git --version; ssh -V 2>&1; "
        "python3 -m pip check; stat -c '%u:%g %a %n' /var/lib/imagestream-reconciler/*",
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0] == "10001"
    assert lines[1].startswith("reconciler ")
    assert lines[2].startswith("git version ") and lines[3].startswith("OpenSSH_")
    assert "No broken requirements found." in out
    for directory in ("cache", "state", "work"):
        assert f"10001:0 775 /var/lib/imagestream-reconciler/{directory}" in lines


@pytest.mark.timeout(1800)
@needs_buildah
def test_a_random_uid_in_group_0_can_use_ssh_and_write(container: str) -> None:
    # Without the entrypoint, ssh refuses a UID that has no passwd entry ...
    bare = run(
        "buildah", "run", "--isolation", "chroot", "--user", f"{RANDOM_UID}:0", container, "--",
        "ssh", "-G", "git.example.com",
        check=False, timeout=120,
    )  # fmt: skip
    assert bare.returncode != 0 and "No user exists" in bare.stderr + bare.stdout
    # ... through it, the UID has one, and the group-0 directories are writable.
    out = in_container(
        container,
        f"{RANDOM_UID}:0",
        "/usr/local/bin/container-entrypoint", "sh", "-c",
        "whoami; ssh -G git.example.com | grep '^user '; "
        "touch /var/lib/imagestream-reconciler/state/x /var/lib/imagestream-reconciler/work/x "
        "/var/lib/imagestream-reconciler/cache/x && echo writable",
    )  # fmt: skip
    assert out.splitlines() == ["reconciler", "user reconciler", "writable"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(*argv: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", "-c", "safe.directory=*", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.mark.integration
@pytest.mark.timeout(1800)
@needs_buildah
def test_the_daemon_in_the_image_reconciles_as_a_random_uid(
    container: str, local_registry: LocalRegistry, unique_repo: str, tmp_path: Path
) -> None:
    """The image's entrypoint and command, as OpenShift would run them: a random UID in
    group 0, the clone made inside the work directory. One pass pins a tag from a real
    registry and pushes the lock to the remote; /healthz and /readyz answer."""
    push_image(local_registry.url, f"{unique_repo}/app", "1", seed=f"{unique_repo}-image")
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / ".reconciler.yaml").write_text("defaultNamespace: demo\n")
    (seed / "app.yaml").write_text(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: app}\n"
        "spec:\n  tags:\n    - name: '1'\n      from: {kind: DockerImage, name: "
        f"'{local_registry.host}/{unique_repo}/app:1'}}\n      importPolicy: {{insecure: true}}\n"
    )
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "streams", cwd=seed)
    remote = tmp_path / "remote.git"
    git("clone", "-q", "--bare", str(seed), str(remote), cwd=tmp_path)
    run("chown", "-R", f"{RANDOM_UID}:0", str(remote))
    port = free_port()
    config = tmp_path / "config"
    config.mkdir()
    (config / "daemon.yaml").write_text(
        "repo: {url: /srv/remote.git}\n"
        "workDir: /var/lib/imagestream-reconciler/work/clone\n"
        "stateDir: /var/lib/imagestream-reconciler/state\n"
        f"listen: 127.0.0.1:{port}\nlogFormat: json\n"
    )
    daemon = subprocess.Popen(
        [
            "buildah", "run", "--isolation", "chroot", "--user", f"{RANDOM_UID}:0",
            "-v", f"{remote}:/srv/remote.git", "-v", f"{config}:/etc/imagestream-reconciler:ro",
            container, "--",
            # The image's entrypoint and command; `timeout` sends the SIGTERM a kubelet would.
            "/usr/local/bin/container-entrypoint", "timeout", "-s", "TERM", "60",
            "reconciler", "run", "--config", "/etc/imagestream-reconciler/daemon.yaml",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:

        def status(path: str) -> int:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                    return int(r.status)
            except urllib.error.HTTPError as exc:
                return exc.code
            except OSError:
                return 0

        deadline = time.monotonic() + 60
        while status("/readyz") != 200 and time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.communicate()[0]
            time.sleep(0.2)
        assert status("/healthz") == 200
        assert status("/readyz") == 200
        log = git("log", "--format=%an", "main", cwd=remote).split()
        assert log[0] == "imagestream-reconciler"
        lock = git("show", "main:images.lock.yaml", cwd=remote)
        assert "sha256:" in lock and f"{unique_repo}/app" in lock
    finally:
        output = daemon.communicate(timeout=120)[0]
    assert '"msg": "stopped"' in output, output
