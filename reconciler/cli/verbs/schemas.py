"""``reconciler schemas``: the JSON Schemas the reconciler validates with, for editors and
other tools. ``--list`` names each one with its ``$id``; ``--export DIR`` writes every
schema file, byte for byte, into one directory.

Each schema's ``$id`` is ``https://imagestream-reconciler.dev/schemas/v1/<file>`` and the
schemas refer to each other by relative name (``common.json#/$defs/...``), so an exported
directory is complete on its own: a validator that registers the files by their ``$id``
(or an editor that resolves references beside the file it loaded) never fetches anything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, TextIO

from reconciler.cli.command import EXIT_OK, Subparsers, add_verb, print_data
from reconciler.core.errors import ConfigurationError
from reconciler.files.schemas import SCHEMA_FILES, schema_dir

EXAMPLES = """\
  reconciler schemas --list
  reconciler schemas --export .schemas    # then, at the top of imagestreams/web.yaml:
      # yaml-language-server: $schema=../.schemas/imagestream.json
      (the path is relative to the manifest)
"""


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "schemas",
        description="Without --export, lists the schemas (as --list does).",
        run=run,
        examples=EXAMPLES,
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="name each schema with its $id")
    what.add_argument("--export", metavar="DIR", help="write every schema file into DIR")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text")


def _schemas() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, json.loads(path.read_text(encoding="utf-8")))
        for path in sorted(schema_dir().glob("*.json"))
    ]


def _kinds() -> dict[str, str]:
    """file name -> the manifest kind it checks (the files without one are shared or the
    daemon's)."""
    return {filename: kind for kind, filename in SCHEMA_FILES.items()}


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.export:
        return _export(Path(args.export), out)
    kinds = _kinds()
    rows = [
        {
            "file": path.name,
            "id": schema.get("$id", ""),
            "kind": kinds.get(path.name, ""),
            "title": schema.get("title", ""),
        }
        for path, schema in _schemas()
    ]
    if args.output == "json":
        print_data(rows, "json", out)
        return EXIT_OK
    width = max((len(r["file"]) for r in rows), default=0)
    for row in rows:
        print(f"{row['file']:<{width}}  {row['id']}", file=out)
    return EXIT_OK


def _export(target: Path, out: TextIO) -> int:
    try:
        target.mkdir(parents=True, exist_ok=True)
        for path, _schema in _schemas():
            (target / path.name).write_bytes(path.read_bytes())
            print(f"wrote {target / path.name}", file=out)
    except OSError as exc:
        raise ConfigurationError(f"cannot export to {target}: {exc.strerror or exc}") from exc
    return EXIT_OK
