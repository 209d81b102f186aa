"""``reconciler get is|istag|images [NAME]``: tables like ``oc get`` from the manifests and
the lock, or the objects as ``-o json|yaml`` (shaped like OpenShift's ImageStream,
ImageStreamTag, ImageStreamImage and Image objects, status built from the lock).
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reconciler.commands import _repo
from reconciler.commands._repo import EXIT_OK, EXIT_PROBLEMS, VerbError
from reconciler.core.describe import (
    find_istag,
    image_rows,
    image_views,
    is_rows,
    istag_rows,
    istag_views,
    render_table,
    stream_views,
)

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
  reconciler get images                      # sha256:...  registry/repo@sha256:...
  reconciler get is approved-apache -o json
"""


def register(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = _repo.add_parser(
        verbs,
        "get",
        help="list image streams, image stream tags or images",
        description="Like oc get, from the manifests and images.lock.yaml of a checkout. "
        "Exit 0, or 1 when a NAME is not found.",
        examples=EXAMPLES,
    )
    p.add_argument("type", metavar="TYPE", help="is | istag | images")
    p.add_argument(
        "names", nargs="*", metavar="NAME", help="stream, stream:tag or stream@sha256:..."
    )
    p.add_argument(
        "-o", "--output", choices=["table", "wide", "json", "yaml", "name"], default="table"
    )
    _repo.add_repo_flags(p, all_namespaces=True)
    p.set_defaults(func=lambda args, out: _repo.run_verb(run, args, out))


def _listing(items: list[dict[str, Any]], single: bool) -> dict[str, Any]:
    if single:
        return items[0]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def run(args: argparse.Namespace, out: TextIO) -> int:
    kind = TYPES.get(args.type.lower())
    if kind is None:
        raise VerbError(f"unknown type {args.type!r}: expected is, istag or images")
    checkout = _repo.Checkout.open(args.repo)
    namespace = None if args.all_namespaces else checkout.namespace(args)
    now = _repo.now_of(args)
    wide = args.output == "wide"
    views = stream_views(checkout.streams(), checkout.lock, checkout.config, namespace)
    missing: list[str] = []
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
                view = find_istag(views, text)
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
            missing = [n for n in args.names if not any(i.digest == n for i in images)]
            images = [i for i in images if i.digest in args.names]
        objects = [i.to_object() for i in images]
        names = [i.digest for i in images]
        table = render_table(*image_rows(images, wide=wide))

    for name in missing:
        _repo.err(
            f'{RESOURCE[kind].split(".")[0]}s.{RESOURCE[kind].split(".", 1)[1]} "{name}" not found'
        )
    if args.output in ("json", "yaml"):
        if objects or not args.names:
            _repo.print_data(
                _listing(objects, len(args.names) == 1 and len(objects) == 1), args.output, out
            )
    elif args.output == "name":
        for name in names:
            print(f"{RESOURCE[kind]}/{name}", file=out)
    elif objects:
        out.write(table)
    elif not missing:
        where = "any namespace" if namespace is None else f"{namespace} namespace"
        print(f"No resources found in {where}.", file=out)
    return EXIT_PROBLEMS if missing else EXIT_OK
