"""The one YAML dialect we write (lockfile, trigger records): block style, two-space
indent, no line folding, keys in the order given. Same data in, same bytes out."""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML


def machine_yaml() -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # Our fixed key order reads best in diffs.
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # never fold long image references
    yaml.allow_duplicate_keys = False
    return yaml


def dump_machine_yaml(data: Any, header: str = "") -> bytes:
    out = io.StringIO()
    out.write(header)
    machine_yaml().dump(data, out)
    return out.getvalue().encode()
