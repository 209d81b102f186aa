"""The reconciler at scale: generated repos of 1k, 10k and 50k tags (issue 12).

For each size, in one run against one local ``docker-registry`` on loopback:

1. generate a realistic repo (``testsupport.scalerepo``: ImageStreams of 3-5 scheduled
   tags plus an alias, DeploymentConfigs with two ImageChange triggers, BuildConfigs),
   push every tag it names to the registry, and commit it to a bare git remote;
2. ``reconciler validate`` on the checkout, as a command: objects/s, peak RSS;
3. the first ``reconciler reconcile`` (resolve everything: HEAD + GET by digest per tag;
   write the lock and the trigger records; commit; push), as a command;
4. a no-op ``reconciler reconcile`` (a fresh process, as cron would run it: every
   scheduled tag re-checked, the same digests answered, nothing committed);
5. a no-op pass in a long-lived process (the daemon's case: a second ``run_pass`` with the
   same in-memory ``ContentCache``);
6. ``hey`` doing the same number of HEADs (and GETs, for the first pass) against the same
   registry, right after, as the registry's own time.

Each pass runs in a child process so its peak RSS is its own (``wait4``), and is split by
phase by timing the pass's own functions in the child (start-up is the process's wall
time before ``main``; "ours" is the wall time outside the resolve phase, i.e. outside
registry round trips). Also, once: ``reconciler validate`` on a repo of ``--validate-objects``
objects (10,000: the issue's row), and ``reconciler --help``.

Not part of the test suite (``tests/test_fast_paths.py`` runs the generator at a small size).
Usage::

    python bench/scale.py [--sizes 1000,10000,50000] [--concurrency 16]
                          [--validate-objects 10000] [--json results.json]

Figures, before and after issue 12, are in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PHASES_ENV = "SCALE_BENCH_PHASES"


# -- the child: one command, timed by phase ---------------------------------------------


# (module, attribute, phase): the pass's own steps. A missing one is skipped, so the same
# script times the code before and after a refactor.
TIMED: list[tuple[str, str, str]] = [
    ("reconciler.gitrepo.workspace", "Workspace.sync", "sync"),
    ("reconciler.passes.plan", "validate_repo", "load+validate"),
    ("reconciler.passes.plan", "read_lock", "read lock"),
    ("reconciler.passes.plan", "resolve_imports", "resolve"),  # bound at import, or
    ("reconciler.registry.resolver", "resolve_imports", "resolve"),  # imported when asked
    ("reconciler.files.triggerstore", "read_records", "read records"),
    ("reconciler.passes.plan", "render_lock", "render lock"),
    ("reconciler.passes.run", "write_plan", "write"),
    ("reconciler.gitrepo.workspace", "Workspace.commit", "commit"),
    ("reconciler.gitrepo.workspace", "Workspace.push", "push"),
]


def _install_timers(phases: dict[str, float]) -> None:
    import functools
    import importlib

    def timed(phase: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                phases[phase] = phases.get(phase, 0.0) + time.perf_counter() - started
                # CPU of every thread of the process (the resolver's workers too): a
                # figure that holds on a machine other work is loading.
                key = f"{phase} cpu"
                phases[key] = phases.get(key, 0.0) + time.process_time() - cpu

        return wrapper

    for module_name, attribute, phase in TIMED:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner: Any = module
        *path, name = attribute.split(".")
        for step in path:
            owner = getattr(owner, step, None)
        if owner is None or not hasattr(owner, name):
            continue
        setattr(owner, name, timed(phase, getattr(owner, name)))


def child_command(argv: list[str], out_path: str) -> int:
    """Run ``reconciler ARGV`` with the pass's phases timed; write them as JSON."""
    started = time.perf_counter()
    phases: dict[str, float] = {}
    if argv and argv[0] == "reconcile":
        _install_timers(phases)
    from reconciler.cli.main import main

    imported = time.perf_counter()
    with open(os.devnull, "w") as sink:
        code = main(argv, sink)
    done = time.perf_counter()
    Path(out_path).write_text(
        json.dumps({"code": code, "imports": imported - started, "main": done - imported, **phases})
    )
    return 0


def child_daemon(bare: str, cache: str, concurrency: int, out_path: str) -> int:
    """Two passes in one process with one ContentCache, as the daemon runs them; the
    second one (a no-op) timed by phase."""
    phases: dict[str, float] = {}
    _install_timers(phases)
    cpu_started = 0.0
    from reconciler.config.settings import Settings
    from reconciler.files.contentcache import ContentCache
    from reconciler.gitrepo.workspace import Workspace
    from reconciler.passes.clients import registry_client
    from reconciler.passes.run import run_pass

    settings = Settings(cache_dir=Path(cache), max_concurrency=concurrency)
    workspace = Workspace(bare, "main", Path(cache) / "daemon-work")
    contents = ContentCache()
    with registry_client(settings) as client:
        run_pass(workspace, settings, client, contents=contents)
        phases.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_pass(workspace, settings, client, contents=contents)
        wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    Path(out_path).write_text(
        json.dumps({"code": 0 if result.commit is None else 9, "main": wall, "cpu": cpu, **phases})
    )
    return 0


# -- the parent -------------------------------------------------------------------------


def _run_child(args: list[str], timeout: float = 3600) -> dict[str, Any]:
    """Run this script in child mode; returns its phases plus ``wall`` and ``rss_mib``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out_path = handle.name
    try:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), *args, "--phases-out", out_path]
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            raise SystemExit(f"child {args[:2]} exited {process.returncode}")
        result: dict[str, Any] = json.loads(Path(out_path).read_text())
    finally:
        Path(out_path).unlink(missing_ok=True)
    # A command's wall time and CPU are the whole process's; a daemon pass's its own.
    result["wall"] = wall if "imports" in result else result["main"]
    if "imports" in result:
        result["cpu"] = usage.ru_utime + usage.ru_stime
    result["rss_mib"] = usage.ru_maxrss / 1024
    return result


def _command(argv: list[str]) -> dict[str, Any]:
    return _run_child(["--child-command", json.dumps(argv)])


def _hey(url: str, n: int, concurrency: int, method: str) -> float:
    from reconciler.registry.media_types import MANIFEST_ACCEPT

    result = subprocess.run(
        ["hey", "-n", str(n), "-c", str(concurrency), "-m", method,
         "-H", f"Accept: {MANIFEST_ACCEPT}", url],
        capture_output=True, text=True, check=True, timeout=1800,
    )  # fmt: skip
    match = re.search(r"Total:\s*([\d.]+) secs", result.stdout)
    if not match:
        raise RuntimeError(f"cannot read hey's output:\n{result.stdout[-2000:]}")
    status = re.search(r"\[(\d{3})\]\s+(\d+) responses", result.stdout)
    if status and status.group(1) != "200":
        raise RuntimeError(f"hey got HTTP {status.group(1)}")
    return float(match.group(1))


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _machine() -> list[str]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    import reconciler

    try:
        commit = _git("rev-parse", "--short", "HEAD", cwd=ROOT)
        dirty = " (with uncommitted changes)" if _git("status", "--porcelain", cwd=ROOT) else ""
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = os.environ.get("SCALE_BENCH_COMMIT", "?"), ""
    commit += f" ({Path(reconciler.__file__).parent})"
    return [
        f"machine: {platform.machine()}, {os.cpu_count()} cores ({model}), {memory}; "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()}; reconciler at {commit}{dirty}",
        f"load average at start: {_loadavg()}",
    ]


@contextlib.contextmanager
def _registry() -> Iterator[Any]:
    from testsupport.registry import LocalRegistry

    with LocalRegistry() as registry:
        yield registry


def _fill(registry_url: str, images: dict[str, list[str]]) -> str:
    """Push every tag; returns one manifest URL for hey."""
    from testsupport.images import push_tags

    first = ""
    for repository, tags in images.items():
        push_tags(registry_url, repository, tags, "scale")
        first = first or f"{registry_url}/v2/{repository}/manifests/{tags[0]}"
    return first


def _phase_line(result: dict[str, Any]) -> str:
    skip = {"code", "main", "wall", "rss_mib", "imports", "cpu"}
    parts = []
    if "imports" in result:
        startup = result["wall"] - result["main"]
        parts.append(f"start-up {startup:.2f}")
    timed = 0.0
    for phase in dict.fromkeys(p for _, _, p in TIMED):
        if phase in result and phase not in skip:  # wall time; "<phase> cpu" beside it
            parts.append(f"{phase} {result[phase]:.2f}")
            timed += result[phase]
    parts.append(f"other {result['main'] - timed:.2f}")
    return ", ".join(parts)


def measure_size(registry: Any, tags: int, concurrency: int, tmp: Path) -> dict[str, Any]:
    from testsupport.scalerepo import write_repo

    work = tmp / f"size-{tags}"
    seed, bare, cache = work / "seed", work / "remote.git", work / "cache"
    started = time.perf_counter()
    shape = write_repo(seed, tags, registry.host, prefix=f"s{tags}")
    manifest_url = _fill(registry.url, shape.images)
    _git("init", "-q", "--initial-branch=main", cwd=seed)
    _git("add", "-A", cwd=seed)
    _git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "scale", cwd=seed)
    _git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=work)
    _git("push", "-q", str(bare), "main", cwd=seed)
    setup = time.perf_counter() - started
    print(
        f"\n== {shape.tags} tags ({shape.scheduled} scheduled): {shape.streams} streams, "
        f"{shape.deployment_configs} DeploymentConfigs, {shape.build_configs} BuildConfigs "
        f"= {shape.objects} objects in {shape.files} files, {shape.bytes / 1e6:.1f} MB "
        f"(set up in {setup:.0f} s)",
        flush=True,
    )
    common = ["--cache-dir", str(cache), "--concurrency", str(concurrency)]
    validate = _command(["validate", str(seed)])
    reconcile = ["reconcile", "--repo", str(bare), "--branch", "main", *common]
    first = _command(reconcile)
    clone = work / "inspect"
    _git("clone", "-q", str(bare), str(clone), cwd=work)
    lock_path = clone / "images.lock.yaml"
    lock_bytes = lock_path.stat().st_size if lock_path.exists() else 0
    records = len(list((clone / "triggers").glob("*.yaml"))) if (clone / "triggers").is_dir() else 0
    noop = _command(reconcile)
    again = _command(reconcile)  # a second no-op: the on-disk cache, if any, is warm
    daemon = _run_child(["--child-daemon", str(bare), str(cache), str(concurrency)])
    hey_head = _hey(manifest_url, shape.scheduled, concurrency, "HEAD")
    hey_get = _hey(manifest_url, shape.scheduled, concurrency, "GET")
    result = {
        "tags": shape.tags,
        "scheduled": shape.scheduled,
        "objects": shape.objects,
        "files": shape.files,
        "lock_bytes": lock_bytes,
        "records": records,
        "validate": validate,
        "first": first,
        "noop": noop,
        "noop_again": again,
        "daemon_noop": daemon,
        "hey_head": hey_head,
        "hey_get": hey_get,
        "load": _loadavg(),
    }
    for key in ("first", "noop", "noop_again", "daemon_noop"):
        if result[key]["code"] not in (0,):
            print(f"  warning: {key} exited {result[key]['code']}")
    _report(result)
    shutil.rmtree(work, ignore_errors=True)
    return result


def _report(r: dict[str, Any]) -> None:
    n = r["scheduled"]
    v = r["validate"]
    print(
        f"  validate             {v['wall']:7.2f} s  {r['objects'] / v['wall']:7.0f} objects/s"
        f"  peak RSS {v['rss_mib']:5.0f} MiB"
    )
    print(
        f"  lockfile             {r['lock_bytes'] / 1e6:7.2f} MB  "
        f"{r['lock_bytes'] / max(1, r['tags']):.0f} bytes/tag; {r['records']} trigger records"
    )
    heads = r["hey_head"]
    for key, label, registry in (
        ("first", "first pass", r["hey_head"] + r["hey_get"]),
        ("noop", "no-op pass (CLI)", heads),
        ("noop_again", "no-op pass again", heads),
        ("daemon_noop", "no-op pass (daemon)", heads),  # RSS: the process, both passes
    ):
        p = r[key]
        ours = p["wall"] - p.get("resolve", 0.0)
        ours_cpu = p.get("cpu", 0.0) - p.get("resolve cpu", 0.0)
        print(
            f"  {label:20} {p['wall']:7.2f} s  ours {ours:6.2f} s ({ours_cpu:5.2f} s CPU)  "
            f"resolve {p.get('resolve', 0.0):6.2f} s  peak RSS {p['rss_mib']:5.0f} MiB  "
            f"{p['wall'] / registry:5.2f}x the registry's own time"
        )
        print(f"      {_phase_line(p)}")
    print(
        f"  hey                  {n} HEADs {heads:.2f} s ({n / heads:.0f}/s), "
        f"{n} GETs {r['hey_get']:.2f} s; resolve / hey HEADs: no-op "
        f"{r['noop'].get('resolve', 0.0) / heads:.2f}"
    )
    print(f"  load average after: {r['load']}", flush=True)


def measure_validate(objects: int, tmp: Path) -> dict[str, Any]:
    from testsupport.scalerepo import write_repo

    seed = tmp / "validate-only"
    shape = write_repo(seed, objects * 5 // 2, "registry.example.com", prefix="v")
    result = _command(["validate", str(seed)])
    result["objects"] = shape.objects
    print(
        f"\n== validate {shape.objects} objects ({shape.files} files): {result['wall']:.2f} s, "
        f"{shape.objects / result['wall']:.0f} objects/s, peak RSS {result['rss_mib']:.0f} MiB",
        flush=True,
    )
    shutil.rmtree(seed, ignore_errors=True)
    return result


def measure_help() -> dict[str, float]:
    runs = []
    for argv in (["-c", "pass"], ["-m", "reconciler.cli.main", "--help"]):
        times = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, *argv] if argv[0] == "-c" else
                [sys.executable, "-c", "import sys; from reconciler.cli.main import main; "
                 "sys.argv = ['reconciler', '--help']; main()"],
                check=False, capture_output=True,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
        runs.append(sorted(times)[len(times) // 2])
    print(f"\n== reconciler --help: {runs[1]:.3f} s (python -c pass: {runs[0]:.3f} s), median of 7")
    return {"help": runs[1], "python": runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--validate-objects", type=int, default=10000)
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--child-command", help=argparse.SUPPRESS)
    parser.add_argument("--child-daemon", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--phases-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_command:
        sys.exit(child_command(json.loads(args.child_command), args.phases_out))
    if args.child_daemon:
        bare, cache, concurrency = args.child_daemon
        sys.exit(child_daemon(bare, cache, int(concurrency), args.phases_out))

    for line in _machine():
        print(line)
    results: dict[str, Any] = {"machine": _machine(), "help": measure_help()}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.validate_objects:
            results["validate"] = measure_validate(args.validate_objects, tmp)
        with _registry() as registry:
            print(f"registry {registry.url}, concurrency {args.concurrency}", flush=True)
            results["sizes"] = [
                measure_size(registry, int(size), args.concurrency, tmp)
                for size in args.sizes.split(",")
            ]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
