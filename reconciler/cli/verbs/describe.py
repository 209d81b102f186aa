"""``reconciler describe is/NAME`` (also ``describe imagestream NAME``, or every stream of
the namespace without a NAME): the layout of ``oc describe is``, built from the manifests
and the lock: tags with their source, history (``*`` on the current image) with relative
ages, and import failures.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from reconciler.cli.verbs import _repo
from reconciler.cli.verbs._repo import EXIT_OK, EXIT_PROBLEMS, VerbError
from reconciler.core.describe import render_describe, stream_views

STREAM_TYPES = {"is", "imagestream", "imagestreams", "imagestream.image.openshift.io"}

EXAMPLES = """\
  reconciler describe is/approved-apache
  reconciler describe imagestream marsview -n toms-project
  reconciler describe is                     # every stream of the namespace
  reconciler describe is/marsview -o json    # the same data, for scripts
""" + _repo.exit_codes_help(
    "the stream is not found, or the argument is not an image stream (is/NAME)"
)


def register(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = _repo.add_parser(
        verbs,
        "describe",
        help="show an image stream: its tags, their sources, history and failures",
        description="Like oc describe is, from the manifests and images.lock.yaml of a checkout.",
        examples=EXAMPLES,
    )
    p.add_argument("what", metavar="is/NAME | is [NAME]", help="the image stream(s)")
    p.add_argument("name", nargs="?", metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text")
    _repo.add_repo_flags(p)
    p.set_defaults(func=lambda args, out: _repo.run_verb(run, args, out))


def parse_target(what: str, name: str | None) -> str | None:
    """``is/NAME``, ``is NAME``, ``imagestream NAME`` or ``is``: the NAME or None (all)."""
    kind, slash, rest = what.partition("/")
    if kind.lower() not in STREAM_TYPES:
        raise VerbError(
            f"{what!r}: describe knows image streams only (is/NAME, imagestream NAME)",
            EXIT_PROBLEMS,
        )
    if slash and name:
        raise VerbError("give is/NAME or is NAME, not both", EXIT_PROBLEMS)
    return (rest or None) if slash else name


def run(args: argparse.Namespace, out: TextIO) -> int:
    wanted = parse_target(args.what, args.name)
    checkout = _repo.Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    now = _repo.now_of(args)
    views = stream_views(checkout.streams(), checkout.lock, checkout.config, namespace)
    if wanted is not None:
        views = [v for v in views if v.name == wanted]
        if not views:
            raise VerbError(
                f'imagestreams.image.openshift.io "{wanted}" not found in namespace {namespace}',
                EXIT_PROBLEMS,
            )
    if args.output != "text":
        data = [v.to_data(now) for v in views]
        _repo.print_data(data[0] if wanted is not None else data, args.output, out)
        return EXIT_OK
    out.write("\n\n".join(render_describe(view, now).rstrip("\n") for view in views))
    if views:
        out.write("\n")
    return EXIT_OK
