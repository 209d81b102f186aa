"""``reconciler triggers list|ack``: the trigger records in a checkout or a remote, with
the daemon's delivery state when given its state directory; acknowledging a record is a
commit pushed to the repository."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from reconciler.cli import flags
from reconciler.cli.command import (
    EXIT_OK,
    EXIT_PROBLEMS,
    Subparsers,
    add_verb,
    warn,
)
from reconciler.core.errors import PermanentError, TransientError
from reconciler.core.times import rfc3339
from reconciler.core.triggers import ACKNOWLEDGED, OPEN, TriggerRecord
from reconciler.files import triggerstore
from reconciler.passes.run import utc_now

if TYPE_CHECKING:  # git loads when a verb syncs a clone, not when the parser is built
    from reconciler.gitrepo.workspace import Workspace

EXAMPLES = """\
  reconciler triggers list -o json
  reconciler triggers list --repo /srv/git/images.git --status open
  reconciler triggers ack dc-marsview-1a2b3c4d5e6f --repo /srv/git/images.git
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "triggers",
        description="Trigger records: one per consumer per digest change (see the README).",
        run=_no_action,
        examples=EXAMPLES,
    )
    actions = p.add_subparsers(dest="triggers_verb", required=True, metavar="ACTION")
    q = add_verb(actions, "list", help="list trigger records", description="", run=run_list)
    q.add_argument(
        "--repo", default=".", metavar="URL_OR_PATH", help="a checkout or a remote (default: .)"
    )
    q.add_argument("--branch", default="main")
    q.add_argument("--status", choices=[OPEN, ACKNOWLEDGED, "all"], default="all")
    q.add_argument(
        "--state-dir", metavar="DIR", help="the daemon's state directory: show delivery state too"
    )
    q.add_argument("-o", "--output", choices=["text", "json"], default="text")
    flags.add_registry_flags(q)
    q = add_verb(
        actions,
        "ack",
        help="mark a record acknowledged, in a commit pushed to the repo",
        description="",
        run=run_ack,
    )
    q.add_argument("id", metavar="ID", help="record id (or a unique prefix)")
    q.add_argument("--repo", required=True, metavar="URL_OR_PATH")
    q.add_argument("--branch", default="main")
    flags.add_registry_flags(q)


def _no_action(args: argparse.Namespace, out: TextIO) -> int:  # argparse requires ACTION
    raise AssertionError("unreachable: argparse requires an action")


def _work_tree(repo: str) -> Path | None:
    """A directory that is a work tree (not a bare repository or a URL) is read in place."""
    path = Path(repo)
    if path.is_dir() and not ((path / "HEAD").is_file() and (path / "objects").is_dir()):
        return path
    return None


def run_list(args: argparse.Namespace, out: TextIO) -> int:
    local = _work_tree(args.repo)
    if local is not None:
        from reconciler.cli.checkout import require_checkout

        root = require_checkout(local)
    else:
        from reconciler.gitrepo.workspace import Workspace, default_workdir

        settings = flags.settings_from_args(args)
        workspace = Workspace(
            args.repo, args.branch, default_workdir(settings.cache_dir / "work", args.repo)
        )
        try:
            workspace.sync()
        finally:
            workspace.close()  # the files stay; git's helper processes go
        root = workspace.path
    records, problems = triggerstore.read_records(root)
    for problem in problems:
        warn(str(problem))
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


def run_ack(args: argparse.Namespace, out: TextIO) -> int:
    # Here, not at the top: building the parser (``--help``) must not load git.
    from reconciler.gitrepo.workspace import Workspace, default_workdir

    settings = flags.settings_from_args(args)
    workdir = default_workdir(settings.cache_dir / "work", args.repo)
    workspace = Workspace(args.repo, args.branch, workdir)
    try:
        return _ack_and_push(args, out, settings.max_push_attempts, workspace)
    finally:
        workspace.close()


def _ack_and_push(
    args: argparse.Namespace, out: TextIO, attempts: int, workspace: Workspace
) -> int:
    for _ in range(attempts):
        workspace.sync()
        outcome = _ack(workspace.path, args.id, rfc3339(utc_now()))
        if isinstance(outcome, str):
            raise PermanentError(outcome, exit_code=EXIT_PROBLEMS)
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
    raise TransientError("push rejected repeatedly: the branch keeps moving; try again")
