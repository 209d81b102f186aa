"""The seed's ``oc`` verbs, GitOps style (import-image, tag, describe, get, prune,
new-app): each works on a checkout of the repository, editing or reading the YAML and
the lockfile. Each verb module has ``register(verbs)`` adding its subparser, whose
``func(args, out) -> int`` runs it."""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register_all(verbs: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add every verb module's subparser, in name order."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(verbs)
