"""``reconciler prune``: ``oc adm prune images`` for the lock's tag history. Keeps the
newest ``--keep-tag-revisions`` revisions of each tag and every entry younger than
``--keep-younger-than``; removes entries whose image is gone from its registry (a HEAD
on the digest answered 404); never the current image of a tag. Without ``--confirm`` it
only reports.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TextIO

from reconciler.cli import command, flags, progress
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.core.allowlist import AllowedRegistry
from reconciler.core.errors import EXIT_OK, PermanentError
from reconciler.core.lockfile import Lock, render_lock
from reconciler.core.prune import (
    DEFAULT_KEEP_REVISIONS,
    DurationError,
    PrunePolicy,
    check_candidates,
    parse_duration,
    pinned_images,
    prune_lock,
)
from reconciler.core.registries import RegistriesConf
from reconciler.core.resolution import repository_of
from reconciler.core.streams import LOCAL
from reconciler.files import loader, lockstore
from reconciler.gitrepo.checkout import commit_paths
from reconciler.passes.clients import import_secret_names
from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError
from reconciler.registry.models import ResolveRequest
from reconciler.registry.places import locations

if TYPE_CHECKING:  # the HTTP stack loads when the verb first asks a registry
    from reconciler.registry.client import RegistryClient

EXAMPLES = """\
  reconciler prune                                   # report what the defaults would remove
  reconciler prune --keep-tag-revisions=1 --confirm  # keep only each tag's current image
  reconciler prune --keep-younger-than=24h --confirm --commit
  reconciler prune --no-registry-check -o json       # policy only, no registry requests
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "prune",
        description="Like oc adm prune images, on the lock of a checkout. Without --confirm "
        "it only reports. Exit 0, or 2 when it could not run.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument(
        "--keep-tag-revisions",
        type=int,
        default=DEFAULT_KEEP_REVISIONS,
        metavar="N",
        help="revisions kept per tag, the current one included (default 3)",
    )
    p.add_argument(
        "--keep-younger-than",
        default="60m",
        metavar="DURATION",
        help="never remove entries younger than this (default 60m; e.g. 90s, 2h, 1h30m)",
    )
    p.add_argument("--confirm", action="store_true", help="write the pruned lock")
    p.add_argument(
        "--registry-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask the registries whether old images still exist (default: yes)",
    )
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")
    flags.add_repo_flags(p)
    flags.add_commit_flag(p)
    flags.add_registry_flags(p)


def missing_images(
    lock: Lock,
    conf: RegistriesConf,
    client: RegistryClient,
    namespace: str | None,
    pull_secrets: Callable[[str], tuple[str, ...]] = lambda namespace: (),
    workers: int = 8,
    allowed: Sequence[AllowedRegistry] | None = None,
    pinned: set[tuple[str, str, str]] | None = None,
) -> tuple[set[str], list[str]]:
    """Pull specs whose manifest every place to ask answered NotFound for (a HEAD on the
    digest through ``client``); and what could not be checked (kept). ``pull_secrets``
    names the pull secrets linked to a namespace."""
    wanted: dict[str, tuple[str, bool, tuple[str, ...]]] = {}
    for ref, item in check_candidates(lock, pinned):
        if namespace is not None and ref.namespace != namespace:
            continue
        entry = lock.tags[ref]
        # A Local-policy pull spec names the cluster's registry; whether the image still
        # exists is a question for the registry it was imported from.
        spec = item.image
        if entry.source.reference_policy == LOCAL and entry.resolved_from:
            spec = f"{repository_of(entry.resolved_from)}@{item.digest}"
        _, insecure, secrets = wanted.get(item.image, (spec, False, ()))
        wanted[item.image] = (
            spec,
            insecure or entry.source.insecure,
            tuple(dict.fromkeys((*secrets, *pull_secrets(ref.namespace)))),
        )

    def check(image: str, insecure: bool, secrets: tuple[str, ...]) -> bool | str:
        try:
            places = locations(image, conf, insecure, allowed)
        except ResolveError as exc:
            return exc.message
        for place in places:
            request = ResolveRequest(
                place.endpoint,
                insecure=place.insecure,
                import_mode="PreserveOriginal",  # the digest itself, never a child
                pull_secrets=secrets,
                # Pinned already (it is in the history): a HEAD that names it is enough.
                known_digest=place.endpoint.digest,
            )
            try:
                client.resolve(request)
            except ResolveError as exc:
                if exc.reason == e.NOT_FOUND:
                    continue
                return exc.message
            return True
        return False

    missing: set[str] = set()
    unknown: list[str] = []

    def checked(item: tuple[str, tuple[str, bool, tuple[str, ...]]]) -> bool | str:
        answer = check(*item[1])
        bar.advance()
        return answer

    with (
        progress.Bar("checking images in their registries", len(wanted)) as bar,
        ThreadPoolExecutor(max_workers=max(1, workers)) as pool,
    ):
        results = dict(zip(wanted, pool.map(checked, wanted.items()), strict=True))
    for image, answer in sorted(results.items()):
        if answer is False:
            missing.add(image)
        elif isinstance(answer, str):
            unknown.append(f"{image}: {answer}")
    return missing, unknown


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.keep_tag_revisions < 0:
        raise PermanentError("--keep-tag-revisions must be 0 or more")
    try:
        policy = PrunePolicy(args.keep_tag_revisions, parse_duration(args.keep_younger_than))
    except DurationError as exc:
        raise PermanentError(f"--keep-younger-than: {exc}") from exc
    checkout = Checkout.open(args.repo)
    namespace = args.namespace  # all namespaces unless -n
    now = flags.now_of(args)
    lock = checkout.lock
    scoped = Lock(
        tags={r: t for r, t in lock.tags.items() if namespace is None or r.namespace == namespace},
        consumers=lock.consumers,
    )
    # Pins anywhere in the repo protect an image, whichever namespace is being pruned.
    pinned = pinned_images(lock)
    missing: set[str] = set()
    unknown: list[str] = []
    if args.registry_check:
        settings = flags.settings_from_args(args)
        with flags.client_from_settings(settings) as client:
            missing, unknown = missing_images(
                scoped,
                settings.registries,
                client,
                namespace,
                lambda ns: import_secret_names(checkout.config, settings, ns),
                workers=min(8, settings.max_concurrency),
                allowed=settings.allowed,
                pinned=pinned,
            )
    pruned_scope, removals = prune_lock(scoped, policy, now, missing, pinned)
    tags = dict(lock.tags)
    tags.update(pruned_scope.tags)
    pruned = Lock(tags=tags, consumers=lock.consumers)

    if args.output != "text":
        command.print_data(
            {
                "confirm": args.confirm,
                "keepTagRevisions": policy.keep_revisions,
                "keepYoungerThan": args.keep_younger_than,
                "removed": [r.to_data() for r in removals],
                "unchecked": unknown,
            },
            args.output,
            out,
        )
    else:
        for line in unknown:
            command.warn(f"could not check {line} (kept)")
        if not removals:
            print("nothing to prune", file=out)
        else:
            verb = "removed" if args.confirm else "would remove"
            print(
                f"{verb} {len(removals)} history entr{'y' if len(removals) == 1 else 'ies'}:",
                file=out,
            )
            for removal in removals:
                print(f"  {removal.text()}", file=out)
            if not args.confirm:
                print("dry run: run again with --confirm to write the lock", file=out)
    if args.confirm and removals:
        lockstore.write_derived(checkout.root, render_lock(pruned), [])
        message = (
            f"reconciler prune --keep-tag-revisions={policy.keep_revisions} "
            f"--keep-younger-than={args.keep_younger_than}\n\n"
            + "\n".join(r.text() for r in removals)
            + "\n"
        )
        if args.output == "text":
            command.finish(args, checkout.root, [loader.LOCKFILE_NAME], message, out)
        elif args.commit:
            commit_paths(checkout.root, [loader.LOCKFILE_NAME], message)
    return EXIT_OK
