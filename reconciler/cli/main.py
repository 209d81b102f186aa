"""The ``reconciler`` command line: parses flags, merges them with the environment into
one Settings object, calls the pass or a read verb, prints, and turns outcomes into exit
codes (0 all good, 1 something invalid/skipped/failed, 2 could not run).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from reconciler import __version__
from reconciler.cli import flags, progress, verbs
from reconciler.config import policy
from reconciler.config.settings import Settings, SettingsError
from reconciler.core.lockfile import LockfileError
from reconciler.core.registries import RegistriesConfError
from reconciler.core.triggers import ACKNOWLEDGED, OPEN, TriggerRecord
from reconciler.core.validation import validate_objects
from reconciler.core.violations import format_violations
from reconciler.daemon.config import DaemonConfigError
from reconciler.files import loader, schemas, triggerstore
from reconciler.gitrepo.workspace import GitError, Workspace, default_workdir, display_url
from reconciler.passes.run import (
    PassError,
    PassResult,
    Plan,
    compute_plan,
    read_repo_config,
    rfc3339,
    run_pass,
    utc_now,
)
from reconciler.registry.client import RegistryClient

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CANNOT_RUN = 2

EPILOG = """\
examples:
  reconciler validate                      # every manifest under the current directory
  reconciler validate streams/ -o github   # annotations for a CI job
  reconciler reconcile --repo git@example.com:ops/images.git --branch main
  reconciler reconcile --repo /srv/git/images.git --dry-run
  reconciler plan                          # what a pass would do to this checkout
  reconciler triggers list -o json
  reconciler triggers ack dc-marsview-1a2b3c4d5e6f --repo /srv/git/images.git
"""


def _err(message: str) -> None:
    print(f"reconciler: error: {message}", file=sys.stderr)


def _add_settings_flags(parser: argparse.ArgumentParser) -> None:
    flags.add_registry_flags(parser)


def _settings(args: argparse.Namespace) -> Settings:
    return flags.settings_from_args(args)


def _client(settings: Settings) -> RegistryClient:
    return flags.client_from_settings(settings)


# ---------------------------------------------------------------- validate


def _repo_root(path: Path) -> Path | None:
    """The nearest directory at or above ``path`` holding a .reconciler.yaml."""
    start = path.resolve() if path.is_dir() else path.resolve().parent
    for candidate in (start, *start.parents):
        if (candidate / loader.REPO_CONFIG_NAME).is_file():
            return candidate
    return None


def _within(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root)


def _relative(path: Path, root: Path) -> str:
    resolved = path.resolve()
    return "" if resolved == root else resolved.relative_to(root).as_posix()


def _named(file: str, wanted: list[str]) -> bool:
    """``file`` (repo-relative) is one of, or under one of, the ``wanted`` paths."""
    return any(not w or file == w or file.startswith(w.rstrip("/") + "/") for w in wanted)


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    paths = [Path(p) for p in args.paths] or [Path(".")]
    for path in paths:
        if not path.exists():
            _err(f"{path}: no such file or directory")
            return EXIT_CANNOT_RUN
    root = _repo_root(paths[0])
    if root is not None:
        # Inside a repo (a .reconciler.yaml above): its settings apply, every manifest
        # of it is context for the cross-object checks, paths are shown from its root,
        # and only problems in what was named are reported.
        config, problems = read_repo_config(root)
        loaded = loader.load_repo(root, config.default_namespace)
        outside = [p for p in paths if not _within(p, root) or p.suffix == ".json"]
        if outside:
            extra = loader.load_paths(outside, config.default_namespace, relative_to=root)
            loaded.objects += extra.objects
            loaded.violations += extra.violations
            loaded.files += extra.files
        wanted = [_relative(p, root) for p in paths]
        loaded.files = [f for f in loaded.files if _named(f, wanted)]
    else:
        base = next((p for p in paths if p.is_dir()), Path("."))
        config, problems = read_repo_config(base)
        loaded = loader.load_paths(paths, config.default_namespace)
        wanted = [""]
    report = validate_objects(
        loaded.objects,
        config,
        schemas.check_schema,
        [*problems, *loaded.violations],
        [policy.policy_check(_settings(args))],
    )
    report.violations = [v for v in report.violations if _named(v.file, wanted)]
    loaded.objects = [o for o in loaded.objects if _named(o.file, wanted)]
    if args.output == "json":
        print(
            json.dumps(
                {
                    "valid": not report.errors,
                    "files": len(loaded.files),
                    "objects": len(loaded.objects),
                    "errors": len(report.errors),
                    "warnings": len(report.warnings),
                    "violations": json.loads(format_violations(report.violations, "json")),
                },
                indent=2,
            ),
            file=out,
        )
    else:
        text = format_violations(report.violations, args.output)
        if text:
            print(text, file=out)
        if args.output == "text":
            verdict = "invalid" if report.errors else "valid"
            print(
                f"{verdict}: {len(loaded.objects)} objects in {len(loaded.files)} files, "
                f"{len(report.errors)} errors, {len(report.warnings)} warnings",
                file=out,
            )
    return EXIT_PROBLEMS if report.errors else EXIT_OK


# ---------------------------------------------------------------- reconcile / plan


def _plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "lockChanged": plan.lock_changed,
        "changes": [{"tag": str(c.ref), "kind": c.kind, "text": c.text} for c in plan.changes],
        "triggers": [t.to_data() for t in plan.triggers],
        "failures": {
            str(ref): {"reason": f.reason, "message": f.message}
            for ref, f in sorted(plan.failures.items())
        },
        "skipped": plan.skipped,
        "errors": [v.text() for v in plan.report.errors],
        "warnings": [v.text() for v in plan.report.warnings],
        "requested": [str(ref) for ref in plan.requested],
    }


def _print_plan(plan: Plan, out: TextIO, *, show_diff: bool) -> None:
    report = plan.report
    print(
        f"validated {len(report.valid) + len(report.invalid)} objects: "
        f"{len(report.errors)} errors, {len(report.warnings)} warnings; "
        f"asked the registries about {len(plan.requested)} tags",
        file=out,
    )
    for violation in report.errors:
        print(f"  {violation.text()}", file=out)
    if plan.changes:
        print("lock:", file=out)
        for change in plan.changes:
            print(f"  {change.text}", file=out)
    if plan.triggers:
        print("triggers:", file=out)
        for record in plan.triggers:
            print(f"  {record.id}: {record.summary()}", file=out)
    if plan.failures:
        print("failed (last good digest kept):", file=out)
        for ref, failure in sorted(plan.failures.items()):
            print(f"  {ref}: {failure.reason}: {failure.message}", file=out)
    if plan.skipped:
        print("skipped (invalid; lock entries kept):", file=out)
        for name in plan.skipped:
            print(f"  {name}", file=out)
    if show_diff and plan.lock_changed:
        old = (plan.old_bytes or b"").decode().splitlines(keepends=True)
        new = plan.new_bytes.decode().splitlines(keepends=True)
        out.writelines(
            difflib.unified_diff(old, new, f"a/{loader.LOCKFILE_NAME}", f"b/{loader.LOCKFILE_NAME}")
        )


def _exit_for(plan: Plan) -> int:
    return EXIT_PROBLEMS if (plan.report.errors or plan.failures) else EXIT_OK


def cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings(args)
    workdir = (
        Path(args.workdir)
        if args.workdir
        else default_workdir(settings.cache_dir / "work", args.repo)
    )
    workspace = Workspace(args.repo, args.branch, workdir, args.review_branch)
    with _client(settings) as client, progress.activity(f"reconciling {display_url(args.repo)}"):
        result: PassResult = run_pass(workspace, settings, client, dry_run=args.dry_run)
    plan = result.plan
    if args.output == "json":
        data = _plan_json(plan)
        data.update(
            head=result.head,
            commit=result.commit,
            pushed=result.pushed,
            attempts=result.attempts,
            dryRun=args.dry_run,
        )
        print(json.dumps(data, indent=2), file=out)
        return _exit_for(plan)
    print(f"{display_url(args.repo)} ({args.branch}) at {result.head[:12]}", file=out)
    _print_plan(plan, out, show_diff=args.dry_run)
    if args.dry_run:
        print("dry run: nothing written", file=out)
    elif result.pushed and result.commit:
        retry = f" after {result.attempts - 1} rejected push(es)" if result.attempts > 1 else ""
        target = args.review_branch or args.branch
        print(f"committed {result.commit[:12]} and pushed to {target}{retry}", file=out)
    elif args.review_branch:
        print(f"review branch {args.review_branch} is up to date", file=out)
    else:
        print("nothing changed: no commit", file=out)
    return _exit_for(plan)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings(args)
    root = Path(args.repo)
    with _client(settings) as client, progress.activity("asking the registries"):
        plan = compute_plan(root, settings, client, utc_now())
    if args.output == "json":
        print(json.dumps(_plan_json(plan), indent=2), file=out)
    else:
        _print_plan(plan, out, show_diff=True)
        if not plan.has_changes:
            print("no changes", file=out)
    return _exit_for(plan)


# ---------------------------------------------------------------- triggers


def _work_tree(repo: str) -> Path | None:
    """A directory that is a work tree (not a bare repository or a URL) is read in place."""
    path = Path(repo)
    if path.is_dir() and not ((path / "HEAD").is_file() and (path / "objects").is_dir()):
        return path
    return None


def cmd_triggers_list(args: argparse.Namespace, out: TextIO) -> int:
    local = _work_tree(args.repo)
    if local is not None:
        root = local
    else:
        settings = _settings(args)
        workspace = Workspace(
            args.repo, args.branch, default_workdir(settings.cache_dir / "work", args.repo)
        )
        workspace.sync()
        root = workspace.path
    records, problems = triggerstore.read_records(root)
    for problem in problems:
        print(f"reconciler: warning: {problem}", file=sys.stderr)
    if args.status != "all":
        records = [r for r in records if r.status == args.status]
    deliveries: dict[str, list[dict[str, Any]]] = {}
    if args.state_dir:
        from reconciler.daemon.delivery import target_host
        from reconciler.daemon.state import State

        state = State(Path(args.state_dir))
        for d in state.deliveries():
            deliveries.setdefault(d.id, []).append(
                {
                    # Only scheme and host: webhook URLs often carry their secret in the
                    # path (an OpenShift generic webhook does).
                    "target": target_host(d.url),
                    "state": d.state,
                    "attempts": d.attempts,
                    "lastError": d.last_error,
                }
            )
        state.close()
    if args.output == "json":
        data = []
        for r in records:
            item = r.to_data()
            if args.state_dir:
                item["deliveries"] = deliveries.get(r.id, [])
            data.append(item)
        print(json.dumps(data, indent=2), file=out)
        return EXIT_OK
    if not records:
        print("no trigger records", file=out)
        return EXIT_OK
    width = max(len(r.id) for r in records)
    for record in records:
        line = f"{record.id:<{width}}  {record.status:<12}  {record.created}  {record.summary()}"
        for item in deliveries.get(record.id, []):
            line += (
                f"\n    delivery {item['state']} ({item['attempts']} attempts) to {item['target']}"
            )
            if item["lastError"] and item["state"] != "delivered":
                line += f": {item['lastError']}"
        print(line, file=out)
    return EXIT_OK


def _ack(root: Path, wanted: str, now: str) -> TriggerRecord | str:
    records, _ = triggerstore.read_records(root)
    found = triggerstore.find_record(records, wanted)
    if found is None:
        return f"no trigger record {wanted!r}"
    if isinstance(found, list):
        return f"{wanted!r} matches {len(found)} records: " + ", ".join(r.id for r in found)
    if found.status == ACKNOWLEDGED:
        return found
    acknowledged = found.acknowledge(now)
    triggerstore.rewrite_record(root, acknowledged)
    return acknowledged


def cmd_triggers_ack(args: argparse.Namespace, out: TextIO) -> int:
    settings = _settings(args)
    workdir = default_workdir(settings.cache_dir / "work", args.repo)
    workspace = Workspace(args.repo, args.branch, workdir)
    for _ in range(settings.max_push_attempts):
        workspace.sync()
        outcome = _ack(workspace.path, args.id, rfc3339(utc_now()))
        if isinstance(outcome, str):
            _err(outcome)
            return EXIT_PROBLEMS
        path = triggerstore.record_path(workspace.path, outcome).relative_to(workspace.path)
        commit = workspace.commit(
            f"reconciler: acknowledge {outcome.id}\n\n{outcome.summary()}\n", [path.as_posix()]
        )
        if commit is None:
            print(f"{outcome.id} was already acknowledged", file=out)
            return EXIT_OK
        if workspace.push().pushed:
            print(f"acknowledged {outcome.id} in {commit[:12]}", file=out)
            return EXIT_OK
    _err("push rejected repeatedly: the branch keeps moving; try again")
    return EXIT_CANNOT_RUN


# ---------------------------------------------------------------- daemon and watch


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler import faults  # the kill tests' crash points; moving to test support
    from reconciler.daemon import startup

    return startup.main(Path(args.config), checkpoint=faults.crash_point)


def cmd_watch(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli.watching import watch

    settings = _settings(args)
    root = Path(args.path)
    if not root.is_dir():
        _err(f"{root}: not a directory")
        return EXIT_CANNOT_RUN
    client = _client(settings) if args.resolve else None

    def printer(plan: Plan, stream: TextIO) -> None:
        _print_plan(plan, stream, show_diff=False)

    try:
        watch(root, settings, client, out, printer)
    finally:
        if client is not None:
            client.close()
    return EXIT_OK


# ---------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reconciler",
        description="OpenShift image streams made GitOps: validate manifests, pin every tag "
        "to a digest in images.lock.yaml, and open trigger records for rebuilds and redeploys.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = subparsers.add_parser(
        "validate",
        help="check manifests against the schemas and each other",
        description="Exit 0 when valid, 1 when invalid, 2 when it could not run.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: .)")
    p.add_argument("-o", "--output", choices=["text", "json", "github"], default="text")
    _add_settings_flags(p)
    p.set_defaults(func=cmd_validate)

    p = subparsers.add_parser(
        "reconcile",
        help="one pass: sync, validate, resolve, commit the lock and triggers, push",
        description="Exit 0 when everything reconciled, 1 when objects were skipped or tags "
        "failed to resolve (the rest still reconciled), 2 when the pass could not run.",
    )
    p.add_argument("--repo", required=True, metavar="URL_OR_PATH", help="the GitOps repository")
    p.add_argument("--branch", default="main")
    p.add_argument(
        "--dry-run", action="store_true", help="print the plan and the lock diff; write nothing"
    )
    p.add_argument(
        "--review-branch",
        metavar="BRANCH",
        help="pull-request mode: push lock updates to BRANCH, kept on top of --branch",
    )
    p.add_argument("--workdir", metavar="DIR", help="where to keep the clone")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    _add_settings_flags(p)
    p.set_defaults(func=cmd_reconcile)

    p = subparsers.add_parser(
        "plan", help="what a pass would do to a local checkout; writes nothing"
    )
    p.add_argument("--repo", default=".", metavar="PATH", help="a checkout (default: .)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")
    _add_settings_flags(p)
    p.set_defaults(func=cmd_plan)

    p = subparsers.add_parser("triggers", help="list or acknowledge trigger records")
    trig = p.add_subparsers(dest="triggers_verb", required=True, metavar="ACTION")
    q = trig.add_parser("list", help="list trigger records")
    q.add_argument(
        "--repo", default=".", metavar="URL_OR_PATH", help="a checkout or a remote (default: .)"
    )
    q.add_argument("--branch", default="main")
    q.add_argument("--status", choices=[OPEN, ACKNOWLEDGED, "all"], default="all")
    q.add_argument(
        "--state-dir", metavar="DIR", help="the daemon's state directory: show delivery state too"
    )
    q.add_argument("-o", "--output", choices=["text", "json"], default="text")
    _add_settings_flags(q)
    q.set_defaults(func=cmd_triggers_list)
    q = trig.add_parser("ack", help="mark a record acknowledged, in a commit pushed to the repo")
    q.add_argument("id", metavar="ID", help="record id (or a unique prefix)")
    q.add_argument("--repo", required=True, metavar="URL_OR_PATH")
    q.add_argument("--branch", default="main")
    _add_settings_flags(q)
    q.set_defaults(func=cmd_triggers_ack)

    p = subparsers.add_parser(
        "run",
        help="the daemon: keep a repo reconciled (scheduled imports, webhooks, metrics)",
        description="Runs until SIGTERM. See the README's 'Running on a server'.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="daemon configuration (YAML)")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser(
        "watch", help="re-validate and print the plan on every save (for local editing)"
    )
    p.add_argument("path", nargs="?", default=".", metavar="PATH", help="a checkout (default: .)")
    p.add_argument(
        "--resolve", action="store_true", help="ask the registries too (default: offline plan)"
    )
    _add_settings_flags(p)
    p.set_defaults(func=cmd_watch)

    verbs.register_all(subparsers)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    stream = out or sys.stdout
    try:
        code = int(args.func(args, stream))
        stream.flush()  # a reader that went away shows here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        # The reader closed the pipe (`reconciler get istag -o json | head -1`). As Python's
        # docs advise (signal module, "Note on SIGPIPE"): point stdout at devnull so the
        # final flush at exit cannot fail again. Exit 141 (128 + SIGPIPE), what the shell
        # reports for a tool that SIGPIPE stopped: the output was cut short, and a
        # `set -o pipefail` script sees that as it would for any other such tool.
        if stream is sys.stdout:  # not a caller's stream (tests): its fd is not ours
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, sys.stdout.fileno())
            except (OSError, ValueError):
                pass  # a stdout without a file descriptor: no pipe left to flush into
            finally:
                os.close(devnull)
        return 141
    except (PassError, GitError, SettingsError, RegistriesConfError, LockfileError) as exc:
        _err(str(exc))
        return EXIT_CANNOT_RUN
    except DaemonConfigError as exc:
        for problem in exc.problems:
            print(f"reconciler: error: {problem}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        return 130
