"""``reconciler tag SOURCE DEST...`` and ``reconciler tag -d DEST...``: ``oc tag`` on a
checkout. SOURCE is a registry image, ``stream:tag`` or ``stream@sha256:...``. Without
``--alias`` a stream tag is copied as an ``ImageStreamImage`` pin of its current image, as
``oc tag`` does; ``--alias`` makes the destination follow the source tag. As with ``oc
tag``, the destination tag is replaced whole: import policy flags not given go back to
their defaults (no ``--scheduled``: not scheduled). The edited tags are pinned in the lock
right away (a failure is recorded as the pass would record it).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.edits import (
    Edits,
    apply_tag_edit,
    docker_tag_edit,
    istag_argument,
    pin_or_undo,
    refuse_decided,
)
from reconciler.core import tagedits, tagrules
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.manifests import IMAGE_STREAM
from reconciler.core.references import InvalidReference, expand_digest, parse_image_reference
from reconciler.core.streams import (
    IMAGE_STREAM_IMAGE,
    IMAGE_STREAM_TAG,
    LEGACY,
    SOURCE,
    TagRef,
    parse_isimage_name,
    parse_istag_name,
    stream_tags,
)

EXAMPLES = """\
  # a scheduled tag from a second registry (the seed's develop tag)
  reconciler tag registry.spacedev.com/engine/marsview:develop marsview:develop --scheduled
  # the same without --scheduled: the tag is replaced whole, so it stops being scheduled
  reconciler tag registry.spacedev.com/engine/marsview:develop marsview:develop
  # copy the image marsview:latest points at now (an ImageStreamImage pin)
  reconciler tag marsview:latest marsview:prod
  # follow marsview:latest wherever it moves
  reconciler tag marsview:latest marsview:stable --alias
  # pin one image of a stream's history, into two tags at once (a unique 7+ hex prefix
  # of the digest is enough)
  reconciler tag marsview@sha256:38c7e1f marsview:rollback other:v1
  # delete tags, and commit the change
  reconciler tag -d marsview:old marsview:older --commit
""" + command.exit_codes_help(
    "a tag did not resolve (the manifest edit is kept and the failure recorded), the edit\n"
    "     would make the manifests invalid, a tag to delete or a source is not found, or a\n"
    "     SOURCE or DEST is malformed or its short digest ambiguous"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "tag",
        description="Like oc tag, on a checkout: edits the ImageStream manifests (creating a "
        "stream file when the destination stream is new) and pins the tags in the lock.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument(
        "refs", nargs="+", metavar="SOURCE DEST", help="SOURCE then DEST... (or -d DEST...)"
    )
    p.add_argument("-d", "--delete", action="store_true", help="delete the given tags")
    p.add_argument(
        "--alias",
        action="store_true",
        help="follow the source tag (ImageStreamTag) instead of copying its image",
    )
    p.add_argument(
        "--source",
        choices=["docker", "istag", "isimage"],
        help="what SOURCE is (default: a stream of this repo if one is named so, else a registry image)",
    )
    p.add_argument("--reference", action="store_true", help="a pointer only: never imported")
    flags.add_import_policy_flags(p)
    flags.add_repo_flags(p)
    flags.add_commit_flag(p)
    flags.add_registry_flags(p)


def _dest(text: str, namespace: str) -> TagRef:
    return istag_argument(text, namespace, "destination")


def _classify(checkout: Checkout, source: str, namespace: str, forced: str | None) -> str:
    ns, slash, rest = source.rpartition("/")
    stream_ns = ns if slash and "." not in ns and ":" not in ns else namespace
    local_name = rest if slash and stream_ns == ns else source
    stream = local_name.split("@")[0].split(":")[0]
    if forced:
        return forced
    known = checkout.find(IMAGE_STREAM, stream_ns, stream) is not None or any(
        r.namespace == stream_ns and r.stream == stream for r in checkout.lock.tags
    )
    if known and "/" not in local_name:
        return "isimage" if "@" in local_name else "istag"
    return "docker"


def _split_stream_source(source: str, namespace: str) -> tuple[str, str]:
    """``[ns/]stream:tag`` or ``[ns/]stream@sha256:...`` -> (namespace, local name)."""
    ns, slash, rest = source.rpartition("/")
    return (ns, rest) if slash else (namespace, source)


def run(args: argparse.Namespace, out: TextIO) -> int:
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    now = flags.now_of(args)
    edits = Edits(checkout.root)
    messages: list[str] = []
    touched: set[TagRef] = set()

    if args.delete:
        for text in args.refs:
            ref = _dest(text, namespace)
            obj = checkout.find_stream(ref.namespace, ref.stream)
            if obj is None or not tagedits.remove_tag(edits.object(obj), ref.tag):
                raise PermanentError(
                    f"image stream tag {ref} is not in the manifests", exit_code=EXIT_PROBLEMS
                )
            touched.add(ref)
            messages.append(f"Deleted tag {ref.namespace}/{ref.stream}:{ref.tag}.")
    else:
        if len(args.refs) < 2:
            raise PermanentError("give SOURCE and at least one DEST (or -d DEST... to delete)")
        source, dests = args.refs[0], [_dest(d, namespace) for d in args.refs[1:]]
        kind = _classify(checkout, source, namespace, args.source)
        for dest in dests:
            edit, message = _edit_for(checkout, kind, source, dest, namespace, args)
            apply_tag_edit(checkout, edits, dest, edit)
            touched.add(dest)
            messages.append(message)

    if not edits.changes():
        for message in messages:
            print(message, file=out)
        print("the manifests already say this: nothing to change", file=out)
        return EXIT_OK
    settings = flags.settings_from_args(args)
    pinned = pin_or_undo(
        checkout, edits, settings, touched, now, reimport=None if args.delete else touched
    )
    if pinned is None:
        return EXIT_PROBLEMS
    written, result = pinned
    for message in messages:
        print(message, file=out)
    for _ref, failure in sorted(result.failures.items()):
        print(command.failure_line(failure), file=out)
    commit_message = f"reconciler tag {' '.join(args.refs)}" + (" -d" if args.delete else "")
    body = "\n".join(messages)
    command.finish(args, checkout.root, written, f"{commit_message}\n\n{body}\n", out)
    return EXIT_PROBLEMS if result.failures else EXIT_OK


def _edit_for(
    checkout: Checkout,
    kind: str,
    source: str,
    dest: TagRef,
    namespace: str,
    args: argparse.Namespace,
) -> tuple[tagedits.TagEdit, str]:
    # oc names the destination's namespace when it is not the current one.
    cross_ns = dest.namespace != namespace
    where = f"{dest.namespace}/" * cross_ns + f"{dest.stream}:{dest.tag}"
    if kind == "docker":
        try:
            parse_image_reference(source)
        except InvalidReference as exc:
            raise PermanentError(f"source {source!r}: {exc}", exit_code=EXIT_PROBLEMS) from exc
        edit = _replacing(checkout, dest, docker_tag_edit(dest.tag, source, args))
        if args.reference:
            return edit, f"Tag {where} set to reference {source}."
        if edit.scheduled:
            # oc's own two wordings (it drops "import" across namespaces).
            if cross_ns:
                return edit, f"Tag {where} set to {source} periodically."
            return edit, f"Tag {where} set to import {source} periodically."
        return edit, f"Tag {where} set to {source}."
    if args.scheduled:
        command.warn("--scheduled applies to registry images only; ignored")
    # A source without a namespace is in the current one (-n or the repo default), as with
    # `oc tag`, whatever namespace the destination names.
    src_ns, local = _split_stream_source(source, namespace)
    from_ns = src_ns if src_ns != dest.namespace else None
    if kind == "isimage":
        stream, _, digest = local.partition("@")
        known = (
            item.digest
            for ref, entry in checkout.lock.tags.items()
            if ref.namespace == src_ns and ref.stream == stream
            for item in entry.history
        )
        local = f"{stream}@{expand_digest(digest, known, f'source {source!r}')}"
        if parse_isimage_name(local) is None:
            raise PermanentError(
                f"source {source!r}: expected STREAM@sha256:<64 hex>", exit_code=EXIT_PROBLEMS
            )
        name, from_kind = local, IMAGE_STREAM_IMAGE
        named_ns = source.rpartition("/")[0]  # the source as given, its digest expanded
        message = f"Tag {where} set to {f'{named_ns}/{local}' if named_ns else local}."
    else:
        src = parse_istag_name(local, src_ns)
        if src is None:
            raise PermanentError(f"source {source!r}: expected STREAM:TAG", exit_code=EXIT_PROBLEMS)
        if src == dest:
            raise PermanentError(f"{where} cannot be tagged from itself", exit_code=EXIT_PROBLEMS)
        if args.alias:
            name, from_kind = f"{src.stream}:{src.tag}", IMAGE_STREAM_TAG
            message = f"Tag {where} set up to track {source}."
        else:
            entry = checkout.lock.get(src)
            if entry is None or entry.digest is None:
                raise PermanentError(
                    f"{src} has no image in the lock yet (reconcile first, or use --alias to "
                    "follow it)",
                    exit_code=EXIT_PROBLEMS,
                )
            name, from_kind = f"{src.stream}@{entry.digest}", IMAGE_STREAM_IMAGE
            message = f"Tag {where} set to {src.stream}@{entry.digest}."
    edit = tagedits.TagEdit(
        name=dest.tag,
        from_kind=from_kind,
        from_name=name,
        from_namespace=from_ns,
        reference_policy=flags.reference_policy(args),
        reference=True if args.reference else None,
    )
    return _replacing(checkout, dest, edit), message


def _replacing(checkout: Checkout, dest: TagRef, edit: tagedits.TagEdit) -> tagedits.TagEdit:
    """``edit`` as ``oc tag`` writes a tag: the whole tag is replaced (openshift/oc
    pkg/cli/tag/tag.go builds a new TagReference from the flags alone: ``Scheduled:
    o.scheduleTag``, ``Insecure: o.insecureTag``, ``Reference: o.referenceTag``,
    ``ImportMode`` Legacy unless given, ``ReferencePolicy`` source unless given), so a
    flag not given puts its field back to the default: ``tag SRC DEST`` without
    ``--scheduled`` on a scheduled tag stops its scheduled import. Defaults the tag
    already has are not spelt out; its annotations are kept."""
    existing = None
    obj = checkout.find_stream(dest.namespace, dest.stream)
    if obj is not None:
        existing = next((t for t in stream_tags(obj) if t.ref.tag == dest.tag), None)
    if obj is not None and existing is not None:
        refuse_decided(dest, tagrules.tag_annotations(obj, existing))
    mode = edit.import_mode or LEGACY
    policy = edit.reference_policy or SOURCE
    return replace(
        edit,
        scheduled=bool(edit.scheduled),
        insecure=bool(edit.insecure),
        reference=bool(edit.reference),
        import_mode=None if existing is None or existing.import_mode == mode else mode,
        reference_policy=(
            edit.reference_policy
            if existing is None
            else (None if existing.reference_policy == policy else policy)
        ),
    )
