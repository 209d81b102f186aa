"""``reconciler get is|istag|images [NAME]``: tables like ``oc get`` from the manifests and
the lock, or the objects as ``-o json|yaml`` (shaped like OpenShift's ImageStream,
ImageStreamTag, ImageStreamImage and Image objects, status built from the lock).
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.references import expand_digest
from reconciler.core.tables import image_rows, is_rows, istag_rows, render_table
from reconciler.core.views import StreamView, find_istag, image_views, istag_views, stream_views

TYPES = {
    "is": "is",
    "imagestream": "is",
    "imagestreams": "is",
    "istag": "istag",
    "istags": "istag",
    "imagestreamtag": "istag",
    "imagestreamtags": "istag",
    "isimage": "istag",
    "imagestreamimage": "istag",
    "image": "images",
    "images": "images",
}
RESOURCE = {
    "is": "imagestream.image.openshift.io",
    "istag": "imagestreamtag.image.openshift.io",
    "images": "image.image.openshift.io",
}

EXAMPLES = """\
  reconciler get is                          # NAME  IMAGE REPOSITORY  TAGS  UPDATED
  reconciler get is -A -o wide               # every namespace, with the file of each stream
  reconciler get istag marsview:latest -o yaml
  reconciler get istag marsview@sha256:38c7...   # an image stream image
  reconciler get istag marsview@sha256:38c7e1f   # a unique prefix (7+ hex) is enough
  reconciler get images                      # sha256:...  registry/repo@sha256:...
  reconciler get is approved-apache -o json
""" + command.exit_codes_help(
    "a NAME is not found, its short digest is ambiguous, or TYPE is unknown (the names\n"
    "     that were found are still shown)"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "get",
        description="Like oc get, from the manifests and images.lock.yaml of a checkout. "
        "A digest may be shortened to sha256: and 7 or more hex characters when that is "
        "unique.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("type", metavar="TYPE", help="is | istag | images")
    p.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="stream, stream:tag, stream@sha256:... (istag) or sha256:... (images)",
    )
    p.add_argument(
        "-o", "--output", choices=["table", "wide", "json", "yaml", "name"], default="table"
    )
    flags.add_repo_flags(p, all_namespaces=True)


def _listing(items: list[dict[str, Any]], single: bool) -> dict[str, Any]:
    if single:
        return items[0]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _expand_isimage(views: list[StreamView], text: str) -> str:
    """``stream@sha256:<prefix>`` with the prefix expanded to the one digest of the
    stream's history it starts; other names unchanged."""
    stream, at, digest = text.partition("@")
    if not at:
        return text
    known = (
        item.digest
        for view in views
        if view.name == stream
        for tag in view.tags
        for item in tag.history
    )
    return f"{stream}@{expand_digest(digest, known, text)}"


def run(args: argparse.Namespace, out: TextIO) -> int:
    kind = TYPES.get(args.type.lower())
    if kind is None:
        raise PermanentError(
            f"unknown type {args.type!r}: expected is, istag or images", exit_code=EXIT_PROBLEMS
        )
    checkout = Checkout.open(args.repo)
    namespace = None if args.all_namespaces else checkout.namespace(args)
    now = flags.now_of(args)
    wide = args.output == "wide"
    views = stream_views(checkout.streams(), checkout.lock, checkout.config, namespace)
    missing: list[str] = []
    invalid = False  # a short digest that is ambiguous or too short (reported already)
    objects: list[dict[str, Any]] = []
    names: list[str] = []
    table = ""

    if kind == "is":
        if args.names:
            missing = [n for n in args.names if n not in {v.name for v in views}]
            views = [v for v in views if v.name in args.names]
        objects = [v.to_object() for v in views]
        names = [v.name for v in views]
        table = render_table(*is_rows(views, now, wide=wide, all_namespaces=namespace is None))
    elif kind == "istag":
        if args.names:
            found = []
            for text in args.names:
                try:
                    view = find_istag(views, _expand_isimage(views, text))
                except PermanentError as exc:
                    command.err(str(exc))
                    invalid = True
                    continue
                if view is None:
                    missing.append(text)
                else:
                    found.append(view)
            tags = found
        else:
            tags = istag_views(views)
        objects = [t.to_object() for t in tags]
        names = [t.name for t in tags]
        table = render_table(*istag_rows(tags, now, wide=wide, all_namespaces=namespace is None))
    else:
        images = image_views(checkout.lock, namespace)
        if args.names:
            wanted = []
            for text in args.names:
                try:
                    wanted.append(expand_digest(text, (i.digest for i in images), text))
                except PermanentError as exc:
                    command.err(str(exc))
                    invalid = True
            missing = [n for n in wanted if not any(i.digest == n for i in images)]
            images = [i for i in images if i.digest in wanted]
        objects = [i.to_object() for i in images]
        names = [i.digest for i in images]
        table = render_table(*image_rows(images, wide=wide))

    for name in missing:
        command.err(
            f'{RESOURCE[kind].split(".")[0]}s.{RESOURCE[kind].split(".", 1)[1]} "{name}" not found'
        )
    if args.output in ("json", "yaml"):
        if objects or not args.names:
            command.print_data(
                _listing(objects, len(args.names) == 1 and len(objects) == 1), args.output, out
            )
    elif args.output == "name":
        for name in names:
            print(f"{RESOURCE[kind]}/{name}", file=out)
    elif objects:
        out.write(table)
    elif not missing and not invalid:
        where = "any namespace" if namespace is None else f"{namespace} namespace"
        print(f"No resources found in {where}.", file=out)
    return EXIT_PROBLEMS if missing or invalid else EXIT_OK
