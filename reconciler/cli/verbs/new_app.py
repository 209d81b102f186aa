"""``reconciler new-app --image-stream=NAME[:TAG]``: ``oc new-app`` on a checkout. Reads
the pinned image's config from its registry (exposed ports, labels, volumes) and writes
a Deployment that follows the tag through the ``image.openshift.io/triggers`` annotation,
as ``oc new-app`` 4.x does (``--as-deployment-config``: a DeploymentConfig with an
``ImageChange`` trigger), and a Service for the exposed ports, into one new file.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from reconciler.cli import command, flags, progress
from reconciler.cli.checkout import Checkout
from reconciler.cli.command import Subparsers, add_verb
from reconciler.cli.edits import Edits
from reconciler.cli.imageconfig import read_image_config
from reconciler.core import newfiles
from reconciler.core.errors import EXIT_OK, EXIT_PROBLEMS, PermanentError
from reconciler.core.manifests import DEPLOYMENT_CONFIG
from reconciler.core.newapp import app_name, build_objects, parse_image_config, summary, valid_name
from reconciler.core.objects import DEPLOYMENT
from reconciler.core.streams import parse_istag_name
from reconciler.passes.clients import import_secret_names
from reconciler.passes.plan import validate_repo
from reconciler.registry.models import ImageConfig as RegistryImageConfig

EXAMPLES = """\
  # the seed: a Deployment (following my-python:latest) and a Service
  reconciler new-app --image-stream=my-python
  reconciler new-app --image-stream=approved-apache:2.4 --name=apache --commit
  reconciler new-app --image-stream=marsview:develop --dry-run   # print, write nothing
  # a DeploymentConfig with an ImageChange trigger instead, as before OpenShift 4.14
  reconciler new-app --image-stream=my-python --as-deployment-config
""" + command.exit_codes_help(
    "the tag has no image in the lock yet, its image config cannot be read from its\n"
    "     registry, the objects exist already, or they would not validate: nothing written"
)


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "new-app",
        description="Like oc new-app --image-stream, on a checkout: inspects the tag's "
        "pinned image (exposed ports, labels) in its registry and writes a Deployment with "
        "the image.openshift.io/triggers annotation (or, with --as-deployment-config, a "
        "DeploymentConfig with an ImageChange trigger) and a Service to a new file.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument(
        "--image-stream", "-i", required=True, metavar="NAME[:TAG]", help="the stream tag to run"
    )
    p.add_argument("--name", metavar="NAME", help="name of the objects (default: the stream's)")
    p.add_argument("--dry-run", action="store_true", help="print the objects; write nothing")
    p.add_argument(
        "--as-deployment-config",
        action="store_true",
        help="a DeploymentConfig with an ImageChange trigger instead of a Deployment",
    )
    flags.add_repo_flags(p)
    flags.add_commit_flag(p)
    flags.add_registry_flags(p)


def _config_blob(config: RegistryImageConfig) -> dict[str, Any]:
    """The parts of the image config blob new-app reads, in the blob's own shape."""
    return {
        "created": config.created,
        "config": {
            "Labels": dict(config.labels),
            "ExposedPorts": {port: {} for port in config.exposed_ports},
            "User": config.user,
            "Volumes": {volume: {} for volume in config.volumes},
        },
    }


def run(args: argparse.Namespace, out: TextIO) -> int:
    checkout = Checkout.open(args.repo)
    namespace = checkout.namespace(args)
    stream_text = args.image_stream
    src_ns = namespace
    if "/" in stream_text:
        src_ns, stream_text = stream_text.split("/", 1)
    ref = parse_istag_name(stream_text, src_ns)
    if ref is None:
        raise PermanentError(
            f"--image-stream {args.image_stream!r}: expected [NAMESPACE/]NAME[:TAG]"
        )
    name = args.name or app_name(ref.stream)
    if not valid_name(name):
        raise PermanentError(f"{name!r} is not a valid name (lowercase letters, digits, '-')")
    entry = checkout.lock.get(ref)
    if entry is None or entry.digest is None:
        raise PermanentError(
            f"image stream tag {ref} has no image in the lock: import or reconcile it first",
            exit_code=EXIT_PROBLEMS,
        )
    kind = DEPLOYMENT_CONFIG if args.as_deployment_config else DEPLOYMENT
    if checkout.find(kind, namespace, name) is not None:
        raise PermanentError(
            f'{kind.lower()} "{name}" already exists in {namespace}', exit_code=EXIT_PROBLEMS
        )

    settings = flags.settings_from_args(args)
    secrets = import_secret_names(checkout.config, settings, ref.namespace)
    with (
        flags.client_from_settings(settings) as client,
        progress.activity("reading the image's config"),
    ):
        found, errors = read_image_config(
            client, settings, entry, entry.digest, entry.image, secrets, ref.namespace
        )
    if found is None:
        for line in errors:
            command.err(line)
        command.err(f"cannot read the image config of {ref}: nothing written")
        return EXIT_PROBLEMS
    config = parse_image_config(_config_blob(found))
    ns_field = namespace if namespace != checkout.config.default_namespace else None
    objects = build_objects(
        name,
        ref,
        entry.image or "",
        config,
        namespace=ns_field,
        deployment_config=args.as_deployment_config,
    )
    style = checkout.style_for_new(kind)
    header = f"# reconciler new-app --image-stream={args.image_stream}" + (
        " --as-deployment-config\n" if args.as_deployment_config else "\n"
    )
    text = newfiles.new_file_text(objects, style, header=header)
    path = checkout.new_file_path(kind, name, "deployments")
    for line in summary(name, config, objects):
        print(f"--> {line}", file=out)
    if args.dry_run:
        print(f"--- {path} (dry run: not written)", file=out)
        out.write(text)
        return EXIT_OK
    edits = Edits(checkout.root)
    edits.create(path, text)
    written = edits.write()
    _, report, _ = validate_repo(checkout.root)
    problems = [v for v in report.errors if v.file == path]
    if problems:
        edits.restore()
        command.report_problems(problems, "nothing written: the objects would not validate")
        return EXIT_PROBLEMS
    message = (
        f"reconciler new-app --image-stream={args.image_stream}\n\n"
        f"{kind}/{name} on {ref.stream}:{ref.tag}"
        + (f", Service/{name}" if len(objects) > 1 else "")
        + "\n"
    )
    command.finish(args, checkout.root, written, message, out)
    print("the next reconcile pass opens the trigger records that deploy it", file=out)
    return EXIT_OK
