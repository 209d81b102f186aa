"""``reconciler import-image NAME[:TAG] --from=IMAGE [--confirm]``: ``oc import-image`` on a
checkout. Without ``--confirm`` it shows the manifest change it would make and what the
tag resolves to now; with it, it writes the ImageStream (a new file for a new stream, a
minimal edit otherwise) and the tag's lock entry, as a reconcile pass would pin it.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING, TextIO

from reconciler.cli import command, flags, progress
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.edits import (
    Edits,
    apply_tag_edit,
    docker_tag_edit,
    refuse_decided,
    write_and_pin,
)
from reconciler.config.settings import Settings
from reconciler.core import policy, tagrules
from reconciler.core.describe import render_describe
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.references import InvalidReference, parse_image_reference
from reconciler.core.resolution import Failure, ImportRequest, Outcome, Resolution
from reconciler.core.streams import DOCKER_IMAGE, LEGACY, TagRef, parse_istag_name, stream_tags
from reconciler.core.tagorder import prioritize_tags
from reconciler.core.views import stream_view
from reconciler.passes.clients import import_secret_names
from reconciler.passes.run import write_plan
from reconciler.registry.errors import ResolveError
from reconciler.registry.places import first_answer, locations

if TYPE_CHECKING:  # the HTTP stack loads when the verb first asks a registry
    from reconciler.registry.client import RegistryClient

DEFAULT_MAX_BULK = Settings().max_images_bulk_imported_per_repository  # OpenShift's: 50

EXAMPLES = """\
  # the seed's first stream: preview, then write the stream and its lock entry
  reconciler import-image approved-apache:2.4 --from=bitnami/apache:2.4
  reconciler import-image approved-apache:2.4 --from=bitnami/apache:2.4 --confirm
  # re-check a private registry tag on every pass
  reconciler import-image marsview --from=registry.marsrover.space/engine/marsview \\
      --scheduled --confirm --commit
  # every tag of a repository (up to --max-images, taken as OpenShift takes them:
  # latest, then the newest versions)
  reconciler import-image mysql --from=docker.io/library/mysql --all --confirm
  # the same from a stream's spec.dockerImageRepository, which it then removes
  reconciler import-image mysql --all --confirm
  # re-import an existing tag (its spec is unchanged; the lock moves if the image did)
  reconciler import-image approved-apache:2.4 --confirm
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "import-image",
        description="Like oc import-image, on a checkout: edits the ImageStream manifest and "
        "pins the tag in images.lock.yaml. Without --confirm nothing is written. Exit 0 when "
        "the tag resolves, 1 when it does not, 2 when the command could not run.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("name", metavar="NAME[:TAG]", help="image stream (and tag, default latest)")
    p.add_argument("--from", dest="source", metavar="IMAGE", help="the registry image to import")
    p.add_argument(
        "--confirm", action="store_true", help="write the manifest and the lock (default: preview)"
    )
    flags.add_import_policy_flags(p)
    p.add_argument("--all", action="store_true", help="import every tag of the --from repository")
    p.add_argument(
        "--max-images",
        type=int,
        metavar="N",
        help="with --all: at most N tags, in OpenShift's order (latest, minor versions newest "
        "first, full versions newest first, other names) (default: "
        "maxImagesBulkImportedPerRepository, "
        f"$RECONCILER_MAX_IMAGES_BULK_IMPORTED_PER_REPOSITORY or {DEFAULT_MAX_BULK})",
    )
    flags.add_repo_flags(p)
    flags.add_commit_flag(p)
    flags.add_registry_flags(p)


def _docker_image_repository(obj: ManifestObject | None) -> str | None:
    """The stream's ``spec.dockerImageRepository``, when it names one."""
    spec = obj.body.get("spec") if obj is not None else None
    value = spec.get("dockerImageRepository") if isinstance(spec, dict) else None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _request(ref: TagRef, source: str, insecure: bool, mode: str) -> ImportRequest:
    try:
        image = parse_image_reference(source)
    except InvalidReference as exc:
        raise PermanentError(f"--from {source!r}: {exc}") from exc
    if image.tag is None and image.digest is None:
        image = replace(image, tag="latest")
    return ImportRequest(ref, image, insecure, mode)


def run(args: argparse.Namespace, out: TextIO) -> int:
    settings = flags.settings_from_args(args)
    # One client for the whole verb: the tag listing, the preview and the pin share its
    # connections and tokens, and each tag is asked once.
    with flags.client_from_settings(settings) as client:
        return _import(args, out, settings, client)


def _import(
    args: argparse.Namespace, out: TextIO, settings: Settings, client: RegistryClient
) -> int:
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    target = parse_istag_name(args.name, namespace)
    if target is None:
        raise PermanentError(f"{args.name!r}: expected NAME[:TAG]")
    if args.all and ":" in args.name:
        raise PermanentError("--all imports every tag: give the stream NAME without a tag")
    stream_name = target.stream
    now = flags.now_of(args)
    obj = checkout.find_stream(namespace, stream_name)
    specs = {t.ref.tag: t for t in stream_tags(obj)} if obj is not None else {}

    # Which tags, from where.
    plan: list[tuple[str, str]] = []
    # A stream's spec.dockerImageRepository (OpenShift imports its tags; the reconciler
    # refuses the field): --all without --from imports from it and removes it.
    repository = _docker_image_repository(obj)
    if args.all and not args.source and repository:
        args.source = repository
    if args.all:
        if not args.source:
            raise PermanentError(
                "--all needs --from=REPOSITORY (or a stream with spec.dockerImageRepository)"
            )
        repo_ref = parse_image_reference(args.source)
        if repo_ref.tag or repo_ref.digest:
            raise PermanentError("--all takes a repository without a tag or digest in --from")
        limit = (
            args.max_images
            if args.max_images is not None
            else settings.max_images_bulk_imported_per_repository
        )
        secrets = import_secret_names(checkout.config, settings, namespace)
        with progress.activity(f"listing the tags of {repo_ref}"):
            try:
                place, tags = first_answer(
                    locations(repo_ref, settings.registries, bool(args.insecure), settings.allowed),
                    lambda p: client.list_tags(
                        p.endpoint,
                        insecure=p.insecure,
                        page_size=100,
                        pull_secrets=secrets,
                        namespace=namespace,
                        logical_registry=p.logical.registry,
                    ),
                )
            except ResolveError as exc:
                command.err(f"cannot list the tags of {args.source}: {exc.message}")
                return EXIT_PROBLEMS
        # OpenShift's order: latest, then minor versions newest first, then full
        # versions newest first, then the rest by name (see reconciler.core.tagorder).
        tags = prioritize_tags(tags)
        if len(tags) > limit:
            left = tags[limit:]
            command.warn(
                f"{place.logical.name} has {len(tags)} tags: importing {limit} in OpenShift's "
                f"order (latest, then the newest versions); not imported: "
                + ", ".join(left[:10])
                + (f" and {len(left) - 10} more" if len(left) > 10 else "")
            )
            tags = tags[:limit]
        plan = [(tag, f"{args.source}:{tag}") for tag in tags]
    elif args.source:
        plan = [(target.tag, args.source)]
    else:
        existing = specs.get(target.tag)
        if existing is None:
            raise PermanentError(
                f"image stream tag {stream_name}:{target.tag} does not exist in {namespace}: "
                "give --from=IMAGE (and --confirm) to create it"
            )
        if existing.from_kind != DOCKER_IMAGE:
            raise PermanentError(
                f"{stream_name}:{target.tag} is tagged from {existing.from_kind} "
                f"{existing.from_name}, not a registry image: nothing to import"
            )
        plan = [(target.tag, existing.from_name)]

    refs = [TagRef(namespace, stream_name, tag) for tag, _ in plan]
    if args.source and obj is not None:
        # --from rewrites each tag's from, which decides nothing on a held or policy tag.
        for ref in refs:
            if ref.tag in specs:
                refuse_decided(ref, tagrules.tag_annotations(obj, specs[ref.tag]))
    edits_list = [docker_tag_edit(tag, source, args) for tag, source in plan]
    edits = Edits(checkout.root)
    if args.all and obj is not None and repository:
        # Its tags are now spec tags: the field is done with.
        del edits.object(obj)["spec"]["dockerImageRepository"]
    for ref, edit in zip(refs, edits_list, strict=True):
        apply_tag_edit(checkout, edits, ref, edit)

    # What each tag resolves to now (the same requests the pass will make).
    requests = []
    for ref, edit in zip(refs, edits_list, strict=True):
        spec = specs.get(ref.tag)
        insecure = edit.insecure if edit.insecure is not None else bool(spec and spec.insecure)
        mode = edit.import_mode or (spec.import_mode if spec else LEGACY)
        requests.append(_request(ref, edit.from_name, insecure, mode))
    # The platform the pass would choose for this stream (its annotations), so that the
    # answers can stand for the pass's own.
    platform = policy.stream_platform(obj, settings.platform) if obj else settings.platform
    from reconciler.registry.resolver import resolve_imports

    with progress.activity("asking the registries"):
        outcomes: dict[TagRef, Outcome] = resolve_imports(
            requests,
            client,
            settings.registries,
            settings.platform,
            allowed=settings.allowed,
            pull_secrets=lambda r: import_secret_names(checkout.config, settings, r.ref.namespace),
            platform_for=lambda r: platform,
        )
    failed = {ref: o for ref, o in outcomes.items() if isinstance(o, Failure)}

    diff = edits.diff()
    if not args.confirm:
        print(
            diff if diff else "the manifests already say this: no change to them",
            file=out,
            end="" if diff else "\n",
        )
        print("", file=out)
        _print_outcomes(refs, requests, outcomes, out)
        if failed:
            return EXIT_PROBLEMS
        print("preview only: run again with --confirm to write the manifest and the lock", file=out)
        return EXIT_OK

    if failed:
        _print_outcomes(refs, requests, outcomes, out)
        command.err("nothing written: the image could not be imported")
        return EXIT_PROBLEMS

    answers = {r: outcomes[r.ref] for r in requests if r.ref in outcomes}
    written, result, problems = write_and_pin(
        checkout,
        edits,
        settings,
        set(refs),
        now,
        reimport=set(refs),
        client=client,
        answers=answers,
    )
    if problems or result.failures:
        edits.restore()
        for violation in problems:
            command.err(violation.text())
        for ref, failure in sorted(result.failures.items()):
            command.err(f"{ref}: {failure.reason}: {failure.message}")
        command.err("nothing written")
        return EXIT_PROBLEMS
    written += write_plan(checkout.root, result)
    lines = [
        f"reconciler import-image {args.name}" + (f" --from={args.source}" if args.source else ""),
        "",
    ]
    for ref in refs:
        entry = result.new_lock.get(ref)
        if entry is not None and entry.image:
            lines.append(f"{ref.stream}:{ref.tag} -> {entry.image}")
    command.finish(args, checkout.root, written, "\n".join(lines) + "\n", out)
    print("", file=out)
    # The plan already read the edited checkout: describe from it, not from a third read.
    edited = next(
        (
            o
            for o in (*result.report.valid, *result.report.invalid)
            if o.kind == IMAGE_STREAM and o.namespace == namespace and o.name == stream_name
        ),
        None,
    )
    view = stream_view(namespace, stream_name, edited, result.new_lock, result.config)
    out.write(render_describe(view, now))
    return EXIT_OK


def _print_outcomes(
    refs: list[TagRef], requests: list[ImportRequest], outcomes: dict[TagRef, Outcome], out: TextIO
) -> None:
    for ref, request in zip(refs, requests, strict=True):
        outcome = outcomes.get(ref)
        print(f"{ref.stream}:{ref.tag} from {request.image}", file=out)
        if isinstance(outcome, Resolution):
            print(f"  resolves now to {outcome.digest} ({outcome.source})", file=out)
        elif isinstance(outcome, Failure):
            print(command.failure_line(outcome), file=out)
