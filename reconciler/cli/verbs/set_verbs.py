"""``reconciler set triggers`` and ``reconciler set image-lookup``: ``oc set triggers`` and
``oc set image-lookup`` on a checkout. They edit the manifests in place (a minimal edit
that keeps comments and formatting); the next pass follows what they wrote.

- ``set triggers TYPE/NAME --from-image=STREAM:TAG -c CONTAINER [--manual|--auto]`` adds
  or changes an image trigger: the ``image.openshift.io/triggers`` annotation of a
  Deployment, StatefulSet, DaemonSet, CronJob or Job, in the form oc writes it, or an
  ``ImageChange`` trigger of a DeploymentConfig (``dc/NAME``). ``--remove`` (with
  ``--from-image`` or ``--from-config``) and ``--remove-all`` take triggers away;
  ``--auto``/``--manual`` alone switch every trigger; no flag prints them. What each flag
  does is oc's (:mod:`reconciler.core.settriggers`).
- ``set image-lookup STREAM... [--enabled=false]`` sets ``spec.lookupPolicy.local``;
  no STREAM (or ``--list``) prints ``NAME LOCAL``.

Messages are oc's: ``deployment.apps/web triggers updated``,
``imagestream.image.openshift.io/ruby image lookup updated``, and, when the manifest
already says it, ``info: deployment.apps/web was not changed``.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.edits import Edits
from reconciler.core import settriggers as st
from reconciler.core.editing import child_map, set_value
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.manifests import ManifestObject
from reconciler.passes.plan import validate_repo

TRIGGER_TYPES = {
    **dict.fromkeys(["deploy", "deployment", "deployments", "deployment.apps"], "Deployment"),
    **dict.fromkeys(["sts", "statefulset", "statefulsets", "statefulset.apps"], "StatefulSet"),
    **dict.fromkeys(["ds", "daemonset", "daemonsets", "daemonset.apps"], "DaemonSet"),
    **dict.fromkeys(["cj", "cronjob", "cronjobs", "cronjob.batch"], "CronJob"),
    **dict.fromkeys(["job", "jobs", "job.batch"], "Job"),
    **dict.fromkeys(
        ["dc", "deploymentconfig", "deploymentconfigs", "deploymentconfig.apps.openshift.io"],
        st.DEPLOYMENT_CONFIG,
    ),
}
PLURAL = {
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "DaemonSet": "daemonsets",
    "CronJob": "cronjobs",
    "Job": "jobs",
    st.DEPLOYMENT_CONFIG: "deploymentconfigs",
}
STREAM_TYPES = {"is", "imagestream", "imagestreams", "imagestream.image.openshift.io"}
LOOKUP_RESOURCE = "imagestream.image.openshift.io"

TRIGGERS_EXAMPLES = """\
  # follow web:prod in the container web of a Deployment (the trigger annotation)
  reconciler set triggers deploy/web --from-image=web:prod -c web
  # the same, paused: written, but no record opens until it is --auto again
  reconciler set triggers deploy/web --from-image=web:prod -c web --manual
  # a stateful set on a tag of another namespace
  reconciler set triggers statefulset/db --from-image=shared/postgres:15 -c main
  # an ImageChange trigger on a DeploymentConfig
  reconciler set triggers dc/marsview --from-image=marsview:latest -c main
  reconciler set triggers deploy/web                      # print the triggers
  reconciler set triggers deploy/web --from-image=web:prod --remove
  reconciler set triggers dc/marsview --remove-all --commit
""" + command.exit_codes_help(
    "the object is not in the checkout, oc would refuse the change (a container that\n"
    "     does not exist, no -c, a flag combination), or the edit would make the manifests\n"
    "     invalid (a tag that is not in the repo): nothing is written"
)
LOOKUP_EXAMPLES = """\
  reconciler set image-lookup                   # NAME  LOCAL, for every stream
  reconciler set image-lookup ruby              # pods may name ruby:TAG directly
  reconciler set image-lookup ruby --enabled=false
  reconciler set image-lookup --all --commit
""" + command.exit_codes_help("a stream is not in the checkout: nothing is written")


def _bool(text: str) -> bool:
    if text.lower() in ("true", "t", "1"):
        return True
    if text.lower() in ("false", "f", "0"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: expected true or false")


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "set",
        description="Like oc set triggers and oc set image-lookup, on a checkout.",
        examples="  reconciler set triggers deploy/web --from-image=web:prod -c web\n"
        "  reconciler set image-lookup web\n"
        "  reconciler set triggers --help      # every form, and the exit codes\n",
        run=_no_action,
    )
    actions = p.add_subparsers(dest="set_verb", required=True, metavar="ACTION")
    q = add_verb(
        actions,
        "triggers",
        help="add, change, remove or print the image triggers of workloads and dcs",
        description="Like oc set triggers, on a checkout: writes the "
        "image.openshift.io/triggers annotation of a Deployment, StatefulSet, DaemonSet, "
        "CronJob or Job, or the ImageChange triggers of a DeploymentConfig.",
        examples=TRIGGERS_EXAMPLES,
        run=run_triggers,
    )
    q.add_argument("objects", nargs="+", metavar="TYPE/NAME", help="deploy/web, dc/marsview, ...")
    q.add_argument("--from-image", metavar="STREAM:TAG", help="the image stream tag to follow")
    q.add_argument("--from-config", action="store_true", help="the config-change trigger")
    q.add_argument(
        "-c", "--containers", metavar="NAMES", help="comma-separated containers the trigger sets"
    )
    q.add_argument("--auto", action="store_true", help="the trigger(s) fire (unpaused)")
    q.add_argument("--manual", action="store_true", help="the trigger(s) are paused")
    q.add_argument("--remove", action="store_true", help="remove the trigger named")
    q.add_argument("--remove-all", action="store_true", help="remove every trigger")
    q.add_argument("--dry-run", action="store_true", help="print the change; write nothing")
    flags.add_repo_flags(q)
    flags.add_commit_flag(q)
    q = add_verb(
        actions,
        "image-lookup",
        help="let pods name a stream's tags directly (lookupPolicy.local)",
        description="Like oc set image-lookup, on a checkout: sets spec.lookupPolicy.local "
        "of image streams, or prints it.",
        examples=LOOKUP_EXAMPLES,
        run=run_image_lookup,
    )
    q.add_argument("streams", nargs="*", metavar="STREAM", help="image streams (is/NAME too)")
    q.add_argument(
        "--enabled",
        nargs="?",
        const=True,
        default=True,
        type=_bool,
        metavar="BOOL",
        help="resolve the stream's tags in this namespace (default true; --enabled=false)",
    )
    q.add_argument("--list", action="store_true", help="print NAME LOCAL for the streams named")
    q.add_argument("--all", action="store_true", help="every stream of the namespace")
    q.add_argument("--dry-run", action="store_true", help="print the change; write nothing")
    flags.add_repo_flags(q)
    flags.add_commit_flag(q)


def _no_action(args: argparse.Namespace, out: TextIO) -> int:  # argparse requires ACTION
    raise AssertionError("unreachable: argparse requires an action")


def tabbed(rows: Sequence[Sequence[str]]) -> str:
    """Rows as oc's tab writer lays them out here (padding 2, last column unpadded)."""
    widths = [max(len(r[i]) for r in rows if i < len(r)) + 2 for i in range(len(rows[0]))]
    lines = [
        "".join(c if i == len(r) - 1 else f"{c:<{widths[i]}}" for i, c in enumerate(r)).rstrip()
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _targets(texts: Sequence[str], table: dict[str, str], what: str) -> list[tuple[str, str]]:
    """``TYPE/NAME...`` or ``TYPE NAME...`` as (kind, name) pairs."""
    if "/" not in texts[0]:
        kind = table.get(texts[0].lower())
        if kind is None or len(texts) < 2:
            raise PermanentError(
                f"{texts[0]!r}: expected TYPE/NAME or TYPE NAME ({what})", exit_code=EXIT_PROBLEMS
            )
        return [(kind, name) for name in texts[1:]]
    out = []
    for text in texts:
        type_name, _, name = text.partition("/")
        kind = table.get(type_name.lower())
        if kind is None or not name:
            if type_name.lower() in ("bc", "buildconfig", "buildconfigs"):
                raise PermanentError(
                    "set triggers on a BuildConfig is not supported: edit its spec.triggers",
                    exit_code=EXIT_PROBLEMS,
                )
            raise PermanentError(f"{text!r}: expected TYPE/NAME ({what})", exit_code=EXIT_PROBLEMS)
        out.append((kind, name))
    return out


def _from_image(text: str, namespace: str) -> tuple[str, str]:
    """``--from-image`` as oc's ``Complete`` reads it: ``[NAMESPACE/]STREAM:TAG`` on this
    server, as (``STREAM:TAG``, namespace or "" for the current one)."""
    parts = text.split("/")
    on_registry = len(parts) > 2 or (
        len(parts) == 2 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost")
    )
    if "@" in text or on_registry:
        raise st.TriggersError(
            "the value of --from-image must point to an image stream tag on this server"
        )
    stream, colon, tag = parts[-1].partition(":")
    if not stream or (len(parts) == 2 and not parts[0]):
        raise st.TriggersError(
            f"the value of --from-image does not appear to be a valid reference to an "
            f"image: {text!r}"
        )
    if not colon or not tag:
        raise st.TriggersError(
            "the value of --from-image must include the tag you wish to pull from"
        )
    ns = parts[0] if len(parts) == 2 else ""
    return parts[-1], "" if ns == namespace else ns


def _options(args: argparse.Namespace, namespace: str) -> st.Options:
    from_image, from_namespace = (
        _from_image(args.from_image, namespace) if args.from_image else ("", "")
    )
    options = st.Options(
        remove_all=args.remove_all,
        remove=args.remove,
        auto=args.auto,
        manual=args.manual,
        from_config=args.from_config,
        from_image=from_image,
        from_image_namespace=from_namespace,
        containers=tuple(c for c in (args.containers or "").split(",") if c),
    )
    st.check_options(options)
    if not (options.print_table or options.remove_all or options.auto or options.manual):
        options = replace(options, auto=True)  # oc's Complete
    return options


def run_triggers(args: argparse.Namespace, out: TextIO) -> int:
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    options = _options(args, namespace)
    targets = _targets(args.objects, TRIGGER_TYPES, "deploy, sts, ds, cj, job or dc")
    found: list[tuple[str, ManifestObject]] = []
    for kind, name in targets:
        obj = checkout.find(kind, namespace, name)
        if obj is None:
            plural = PLURAL[kind]
            group = st.RESOURCES[kind].partition(".")[2]
            raise PermanentError(
                f'{plural}.{group} "{name}" not found in namespace {namespace}',
                exit_code=EXIT_PROBLEMS,
            )
        found.append((kind, obj))
    edits = Edits(checkout.root)
    if options.print_table:
        rows = [["NAME", "TYPE", "VALUE", "AUTO"]]
        for kind, obj in found:
            node = edits.object(obj)
            definition = st.read_triggers(kind, node, obj.namespace, [])
            rows += st.table_rows(f"{PLURAL[kind]}/{obj.name}", definition)
        out.write(tabbed(rows))
        return EXIT_OK
    messages = []
    for kind, obj in found:
        node = edits.object(obj)
        warnings: list[str] = []
        previous = st.read_triggers(kind, node, obj.namespace, warnings)
        definition = copy.deepcopy(previous)
        st.update(definition, options)
        before = edits.files[obj.file].render()
        st.apply(kind, node, definition, previous)
        for warning in warnings:
            command.warn(f"{obj.file}: {obj.display}: {warning}")
        resource = f"{st.RESOURCES[kind]}/{obj.name}"
        changed = edits.files[obj.file].render() != before
        messages.append(
            f"{resource} triggers updated" if changed else f"info: {resource} was not changed"
        )
    return _write(args, out, checkout, edits, messages, "set triggers")


def _write(
    args: argparse.Namespace,
    out: TextIO,
    checkout: Checkout,
    edits: Edits,
    messages: list[str],
    verb: str,
) -> int:
    """Write the edits when they add no validation error; print oc's messages."""
    if not edits.changes():
        for message in messages:
            print(message, file=out)
        return EXIT_OK
    if args.dry_run:
        out.write(edits.diff())
        for message in messages:
            print(f"{message} (dry run)", file=out)
        return EXIT_OK
    # Errors the files had already are not the edit's (compared without their lines,
    # which an edit may shift).
    before = {(v.file, v.object, v.path, v.message) for v in checkout.report.errors}
    written = edits.write()
    _, report, _ = validate_repo(checkout.root)
    problems = [
        v
        for v in report.errors
        if v.file in written and (v.file, v.object, v.path, v.message) not in before
    ]
    if problems:
        edits.restore()
        command.report_problems(
            problems, "nothing written: the edit would make the manifests invalid"
        )
        return EXIT_PROBLEMS
    for message in messages:
        print(message, file=out)
    commit = f"reconciler {verb} {' '.join(_argv(args))}\n\n" + "\n".join(messages) + "\n"
    command.finish(args, checkout.root, written, commit, out)
    return EXIT_OK


def _argv(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "objects", None) or getattr(args, "streams", None) or [])


def run_image_lookup(args: argparse.Namespace, out: TextIO) -> int:
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    names: list[str] = []
    for text in args.streams:
        type_name, slash, name = text.partition("/")
        if slash and type_name.lower() not in STREAM_TYPES:
            raise PermanentError(
                f"{text!r}: image lookup is set on image streams here (the "
                "alpha.image.policy.openshift.io/resolve-names annotation oc puts on a "
                "workload is not supported): give STREAM",
                exit_code=EXIT_PROBLEMS,
            )
        names.append(name if slash else text)
    streams = sorted(
        (s for s in checkout.streams() if s.namespace == namespace), key=lambda s: s.name
    )
    if names:
        missing = [n for n in names if n not in {s.name for s in streams}]
        if missing:
            raise PermanentError(
                f'imagestreams.image.openshift.io "{missing[0]}" not found in namespace '
                f"{namespace}",
                exit_code=EXIT_PROBLEMS,
            )
        streams = [s for s in streams if s.name in names]
    if args.list or (not names and not args.all):
        rows = [["NAME", "LOCAL"]]
        rows += [[s.name, str(_local(s)).lower()] for s in streams]
        out.write(tabbed(rows))
        return EXIT_OK
    edits = Edits(checkout.root)
    messages = []
    for stream in streams:
        node = edits.object(stream)
        spec = child_map(node, "spec")
        policy = spec.get("lookupPolicy")
        current = policy.get("local") if isinstance(policy, dict) else None
        changed = False
        if current is not args.enabled and (args.enabled or current is not None):
            changed = set_value(child_map(spec, "lookupPolicy"), "local", args.enabled)
        resource = f"{LOOKUP_RESOURCE}/{stream.name}"
        messages.append(
            f"{resource} image lookup updated" if changed else f"info: {resource} was not changed"
        )
    return _write(args, out, checkout, edits, messages, "set image-lookup")


def _local(stream: ManifestObject) -> bool:
    spec = stream.body.get("spec")
    policy = spec.get("lookupPolicy") if isinstance(spec, dict) else None
    return isinstance(policy, dict) and policy.get("local") is True
