"""One module per verb, each with ``register(subparsers)`` (see
:mod:`reconciler.cli.command`).

``VERBS`` lists them in help order, each with its module and the line ``--help`` shows
for it: the command builds the parser from this index and imports only the module of
the verb it runs (``reconciler --help`` imports none), so each verb loads only what it
uses."""

from __future__ import annotations

# verb -> (module in this package, its line in ``reconciler --help``)
VERBS: dict[str, tuple[str, str]] = {
    "validate": (
        "validate",
        "check manifests against the schemas and each other",
    ),
    "reconcile": (
        "reconcile",
        "one pass: sync, validate, resolve, commit the lock and triggers, push",
    ),
    "plan": (
        "plan",
        "what a pass would do to a local checkout; writes nothing",
    ),
    "triggers": (
        "triggers",
        "list or acknowledge trigger records",
    ),
    "run": (
        "run",
        "the daemon: keep a repo reconciled (scheduled imports, webhooks, metrics)",
    ),
    "watch": (
        "watch",
        "re-validate and print the plan on every save (for local editing)",
    ),
    "completion": (
        "completion",
        "print a shell completion script",
    ),
    "schemas": (
        "schemas",
        "list the JSON Schemas, or export them for an editor or another validator",
    ),
    "describe": (
        "describe",
        "show an image stream (tags, sources, history, failures) or one of its images",
    ),
    "get": (
        "get",
        "list image streams, image stream tags or images",
    ),
    "import-image": (
        "import_image",
        "create or update an image stream tag from a registry image, and pin it",
    ),
    "new-app": (
        "new_app",
        "write a Deployment (and a Service) that follows a stream tag",
    ),
    "prune": (
        "prune",
        "trim tag history in the lock (old revisions, images gone from their registry)",
    ),
    "set": (
        "set_verbs",
        "set image triggers or image lookup, as oc set does",
    ),
    "tag": (
        "tag",
        "point image stream tags at an image, another tag, or an image of a stream",
    ),
    "hold": (
        "hold",
        "keep an image stream tag at the digest it pins now, saying why",
    ),
    "release": (
        "release",
        "end the hold on an image stream tag",
    ),
}
