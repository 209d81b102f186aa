"""One module per verb, each with ``register(subparsers)`` (see
:mod:`reconciler.cli.command`). ``reconciler.cli.main.VERBS`` lists them in help order."""
