"""``reconciler describe is/NAME`` (also ``describe imagestream NAME``, or every stream of
the namespace without a NAME): the layout of ``oc describe is``, built from the manifests
and the lock: tags with their source, history (``*`` on the current image) with relative
ages, and import failures. ``describe isimage NAME@sha256:...`` and ``describe istag
NAME:TAG`` (``TYPE/NAME`` too, as oc takes them) show one image as ``oc describe`` shows
an Image, its config read from the registry.
"""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any, TextIO

from reconciler.cli import command, flags, progress
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.imageconfig import read_image_config
from reconciler.core.describe import ImageDetails, render_describe, render_image
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.lockfile import TagLock
from reconciler.core.streams import TagRef
from reconciler.core.views import (
    IsTagView,
    StreamView,
    expand_isimage,
    find_istag,
    stream_views,
)
from reconciler.passes.clients import import_secret_names
from reconciler.registry.models import ImageConfig as RegistryImageConfig

STREAM_TYPES = {"is", "imagestream", "imagestreams", "imagestream.image.openshift.io"}
TAG_TYPES = {
    "istag",
    "istags",
    "imagestreamtag",
    "imagestreamtags",
    "imagestreamtag.image.openshift.io",
}
IMAGE_TYPES = {
    "isimage",
    "isimages",
    "imagestreamimage",
    "imagestreamimages",
    "imagestreamimage.image.openshift.io",
}

EXAMPLES = """\
  reconciler describe is/approved-apache
  reconciler describe imagestream marsview -n toms-project
  reconciler describe is                     # every stream of the namespace
  reconciler describe is/marsview -o json    # the same data, for scripts
  # an image of a stream's history, or a tag's current image: what its config says
  # (ports, labels, user, command), read from its registry
  reconciler describe isimage marsview@sha256:38c7e1f
  reconciler describe istag/marsview:latest
""" + command.exit_codes_help(
    "the stream, tag or image is not found, the argument is not one of is/NAME,\n"
    "     istag/NAME:TAG or isimage/NAME@sha256:..., or an image's config cannot be read\n"
    "     from its registry (what the lock knows is still shown)"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "describe",
        description="Like oc describe is|istag|isimage, from the manifests and "
        "images.lock.yaml of a checkout; istag and isimage read the image's config from "
        "its registry.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument(
        "what",
        metavar="TYPE/NAME | TYPE [NAME]",
        help="is[/NAME], istag/NAME:TAG or isimage/NAME@sha256:...",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")
    flags.add_repo_flags(p)
    flags.add_registry_flags(p)


def parse_target(what: str, name: str | None) -> tuple[str, str | None]:
    """``TYPE/NAME``, ``TYPE NAME`` or ``TYPE``: ("is" | "istag" | "isimage", the NAME or
    None for every stream)."""
    kind_text, slash, rest = what.partition("/")
    kind = kind_text.lower()
    if slash and name:
        raise PermanentError(
            f"give {kind_text}/NAME or {kind_text} NAME, not both", exit_code=EXIT_PROBLEMS
        )
    wanted = (rest or None) if slash else name
    if kind in STREAM_TYPES:
        return "is", wanted
    if kind in TAG_TYPES | IMAGE_TYPES:
        if not wanted:
            shape = "NAME:TAG" if kind in TAG_TYPES else "NAME@sha256:..."
            raise PermanentError(f"describe {kind_text} needs {shape}", exit_code=EXIT_PROBLEMS)
        if kind in IMAGE_TYPES and "@" not in wanted:
            raise PermanentError(
                f"{wanted!r}: an image stream image is NAME@sha256:...", exit_code=EXIT_PROBLEMS
            )
        if kind in TAG_TYPES and "@" in wanted:
            raise PermanentError(
                f"{wanted!r} is an image stream image, not an image stream tag",
                exit_code=EXIT_PROBLEMS,
            )
        return ("istag" if kind in TAG_TYPES else "isimage"), wanted
    raise PermanentError(
        f"{what!r}: describe knows image streams, image stream tags and image stream images "
        "(is/NAME, istag/NAME:TAG, isimage/NAME@sha256:...)",
        exit_code=EXIT_PROBLEMS,
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    kind, wanted = parse_target(args.what, args.name)
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    now = flags.now_of(args)
    views = stream_views(checkout.streams(), checkout.lock, checkout.config, namespace)
    if kind != "is":
        assert wanted is not None
        return _describe_image(args, out, checkout, views, kind, wanted, namespace, now)
    if wanted is not None:
        views = [v for v in views if v.name == wanted]
        if not views:
            raise PermanentError(
                f'imagestreams.image.openshift.io "{wanted}" not found in namespace {namespace}',
                exit_code=EXIT_PROBLEMS,
            )
    if args.output != "text":
        data = [v.to_data(now) for v in views]
        command.print_data(data[0] if wanted is not None else data, args.output, out)
        return EXIT_OK
    out.write("\n\n".join(render_describe(view, now).rstrip("\n") for view in views))
    if views:
        out.write("\n")
    return EXIT_OK


def _describe_image(
    args: argparse.Namespace,
    out: TextIO,
    checkout: Checkout,
    views: list[StreamView],
    kind: str,
    wanted: str,
    namespace: str,
    now: dt.datetime,
) -> int:
    """``describe istag|isimage``: the image the lock names, and its config."""
    text = expand_isimage(views, wanted) if kind == "isimage" else wanted
    found = find_istag(views, text)
    resource = "imagestreamtags" if kind == "istag" else "imagestreamimages"
    if found is None or found.item is None:
        detail = "" if found is None else " (the tag has no image yet)"
        raise PermanentError(
            f'{resource}.image.openshift.io "{wanted}" not found in namespace {namespace}' + detail,
            exit_code=EXIT_PROBLEMS,
        )
    item = found.item
    ref = TagRef(namespace, found.stream.name, found.tag.name if found.tag else "")
    entry = checkout.lock.get(ref) if found.tag else _entry_holding(checkout, found)
    config = None
    errors: list[str] = []
    if entry is not None:
        settings = flags.settings_from_args(args)
        with (
            flags.client_from_settings(settings) as client,
            progress.activity("reading the image's config"),
        ):
            config, errors = read_image_config(
                client,
                settings,
                entry,
                item.digest,
                item.image,
                import_secret_names(checkout.config, settings, namespace),
                namespace,
            )
    details = _details(config) if config is not None else None
    if args.output != "text":
        data = found.to_object()
        if config is not None and data.get("image") is not None:
            data["image"]["dockerImageMetadata"] = _metadata(config)
        command.print_data(data, args.output, out)
    else:
        out.write(render_image(item.digest, item.image, item.created, details, now))
    if config is None:
        for line in errors:
            command.err(line)
        command.err(f"cannot read the config of {item.image}: only what the lock knows is shown")
        return EXIT_PROBLEMS
    return EXIT_OK


def _entry_holding(checkout: Checkout, found: IsTagView) -> TagLock | None:
    """A lock entry of the stream whose history holds the image (for where to ask)."""
    assert found.item is not None
    digest = found.item.digest
    for ref, entry in sorted(checkout.lock.tags.items()):
        if (ref.namespace, ref.stream) != (found.stream.namespace, found.stream.name):
            continue
        if any(i.digest == digest for i in entry.history):
            return entry
    return None


def _details(config: RegistryImageConfig) -> ImageDetails:
    return ImageDetails(
        created=config.created,
        architecture=config.architecture,
        os=config.os,
        entrypoint=config.entrypoint,
        cmd=config.cmd,
        working_dir=config.working_dir,
        user=config.user,
        exposed_ports=config.exposed_ports,
        labels=dict(config.labels),
        env=config.env,
        volumes=config.volumes,
    )


def _metadata(config: RegistryImageConfig) -> dict[str, Any]:
    """The config as an Image's ``dockerImageMetadata`` (Docker's field names)."""
    return {
        "Created": config.created,
        "Architecture": config.architecture,
        "Config": {
            "Entrypoint": list(config.entrypoint) or None,
            "Cmd": list(config.cmd) or None,
            "WorkingDir": config.working_dir or "",
            "User": config.user or "",
            "ExposedPorts": {port: {} for port in config.exposed_ports},
            "Labels": dict(config.labels),
            "Env": list(config.env),
            "Volumes": {volume: {} for volume in config.volumes},
        },
    }
