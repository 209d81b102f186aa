"""``reconciler describe is/NAME`` (also ``describe imagestream NAME``, or every stream of
the namespace without a NAME): the layout of ``oc describe is``, built from the manifests
and the lock: tags with their source, history (``*`` on the current image) with relative
ages, and import failures.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from reconciler.cli import command, flags
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.core.describe import render_describe
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.views import stream_views

STREAM_TYPES = {"is", "imagestream", "imagestreams", "imagestream.image.openshift.io"}

EXAMPLES = """\
  reconciler describe is/approved-apache
  reconciler describe imagestream marsview -n toms-project
  reconciler describe is                     # every stream of the namespace
  reconciler describe is/marsview -o json    # the same data, for scripts
""" + command.exit_codes_help(
    "the stream is not found, or the argument is not an image stream (is/NAME)"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "describe",
        description="Like oc describe is, from the manifests and images.lock.yaml of a checkout.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("what", metavar="is/NAME | is [NAME]", help="the image stream(s)")
    p.add_argument("name", nargs="?", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")
    flags.add_repo_flags(p)


def parse_target(what: str, name: str | None) -> str | None:
    """``is/NAME``, ``is NAME``, ``imagestream NAME`` or ``is``: the NAME or None (all)."""
    kind, slash, rest = what.partition("/")
    if kind.lower() not in STREAM_TYPES:
        raise PermanentError(
            f"{what!r}: describe knows image streams only (is/NAME, imagestream NAME)",
            exit_code=EXIT_PROBLEMS,
        )
    if slash and name:
        raise PermanentError("give is/NAME or is NAME, not both", exit_code=EXIT_PROBLEMS)
    return (rest or None) if slash else name


def run(args: argparse.Namespace, out: TextIO) -> int:
    wanted = parse_target(args.what, args.name)
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    now = flags.now_of(args)
    views = stream_views(checkout.streams(), checkout.lock, checkout.config, namespace)
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
