"""Loads and compiles our JSON Schemas once; checks one object; returns Violations.

The schemas in ``schemas/`` (draft 2020-12, written for this project) model what
OpenShift's API validation checks in ImageStream, BuildConfig and DeploymentConfig
objects, and the Kubernetes workloads that follow image stream tags, and what the
reconciler reads from them. ``check_schema`` runs the matching one
over an object and turns every error into a ``Violation`` that names the field, with the
file, line and column of the object's text.

How the results are read:

- A field whose value is ``null`` is treated as absent, as the API server's JSON decoder
  does (``creationTimestamp: null``, ``as: null``): nulls are dropped before validation.
- An unknown field in a structure we model is a *warning* ("OpenShift drops unknown
  fields"), with a "did you mean" hint when a known field is close. So is a bad value
  in a field that OpenShift ignores (``x-severity`` in the schema, e.g. a BuildConfig's
  ``strategy.type``). Everything else is an *error*; an object is accepted when it has
  no errors.
- Inside a Template, a ``${PARAM}`` or ``${{PARAM}}`` placeholder may stand in any
  scalar position: an error about a string that holds a placeholder is dropped, whatever
  the check (type, enum, pattern, const, length). The schemas themselves stay strict.
- ``status`` is never checked.

$refs between the schema files are resolved through a registry built from the schema
directory: nothing is ever fetched.

Two checkers give one verdict. Most objects are valid, and a compiled validator
(``jsonschema-rs``) says so several times faster than ``jsonschema``; only an object it
refuses (or that it cannot take) goes through ``jsonschema``, which words every error with
its path, so each message and its file:line:col are what ``jsonschema`` alone would give.
``jsonschema`` is imported only then: a valid repo never loads it.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.core.manifests import (
    BUILD_CONFIG,
    DEPLOYMENT_CONFIG,
    IMAGE_STREAM,
    ManifestObject,
)
from reconciler.core.objects import (
    CRON_JOB,
    DAEMON_SET,
    DEPLOYMENT,
    JOB,
    REPLICA_SET,
    STATEFUL_SET,
)
from reconciler.core.violations import Path as FieldPath
from reconciler.core.violations import Violation

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

SCHEMA_FILES = {
    IMAGE_STREAM: "imagestream.json",
    BUILD_CONFIG: "buildconfig.json",
    DEPLOYMENT_CONFIG: "deploymentconfig.json",
    DEPLOYMENT: "deployment.json",
    STATEFUL_SET: "statefulset.json",
    DAEMON_SET: "daemonset.json",
    REPLICA_SET: "replicaset.json",
    JOB: "job.json",
    CRON_JOB: "cronjob.json",
}

# OpenShift template parameters: ${NAME} (string substitution) and ${{NAME}} (JSON value).
PLACEHOLDER = re.compile(r"\$\{\{?[A-Za-z0-9_]+\}?\}")

# Our own schema annotations (see schemas/common.json's $comment): the message to report
# when a keyword of the subschema fails, a note appended to it, and a severity other
# than "error" for values that OpenShift ignores rather than refuses.
_MESSAGE_KEY = "x-message"
_NOTE_KEY = "x-note"
_SEVERITY_KEY = "x-severity"
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def schema_dir() -> Path:
    """The ``schemas/`` directory: beside the package in a checkout, inside it in a wheel
    (the wheel's force-include puts it at ``reconciler/schemas/``)."""
    beside = Path(__file__).resolve().parents[2] / "schemas"
    # Check for one of our files, not just a directory: in site-packages, the parent of
    # the package is shared with every other distribution.
    if (beside / SCHEMA_FILES[IMAGE_STREAM]).is_file():
        return beside
    return Path(str(importlib.resources.files("reconciler") / "schemas"))


@functools.cache
def _schema_files() -> dict[str, dict[str, Any]]:
    """Every schema file's contents, by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(schema_dir().glob("*.json"))
    }


@functools.cache
def _fast_validators() -> dict[str, Callable[[Any], bool]]:
    """The compiled check per kind: True when the body is valid. Empty when
    ``jsonschema-rs`` is not installed (every object then goes through ``jsonschema``)."""
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - it is a dependency; keep working without it
        return {}
    schemas = {name: _for_rust(contents) for name, contents in _schema_files().items()}
    try:
        registry = jsonschema_rs.Registry([(c["$id"], c) for c in schemas.values()])
    except Exception:  # schemas it cannot take: jsonschema judges everything
        return {}
    found: dict[str, Callable[[Any], bool]] = {}
    for kind, filename in SCHEMA_FILES.items():
        try:
            validator = jsonschema_rs.Draft202012Validator(
                schemas[filename], registry=registry, validate_formats=True
            )
        except Exception:  # this kind goes through jsonschema alone
            continue
        found[kind] = validator.is_valid
    return found


# A regex range of lone surrogates, which Rust's regex cannot spell. It can be dropped for
# the compiled check: a string holding a lone surrogate never reaches it (it cannot take
# one, so such an object goes through jsonschema, which applies the pattern as written).
_SURROGATE_RANGE = "\\ud800-\\udfff"


def _for_rust(value: Any) -> Any:
    """A schema as the compiled validator takes it (see ``_SURROGATE_RANGE``)."""
    if isinstance(value, dict):
        return {
            (k.replace(_SURROGATE_RANGE, "") if isinstance(k, str) else k): (
                v.replace(_SURROGATE_RANGE, "")
                if k == "pattern" and isinstance(v, str)
                else _for_rust(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_for_rust(v) for v in value]
    return value


# ECMA 262's WhiteSpace and LineTerminator: what \s matches in a JSON Schema pattern.
_ECMA_SPACE = (
    "\\t\\n\\v\\f\\r \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)


@functools.cache
def ecma_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled so that Python's ``re`` reads it as JSON Schema (ECMA 262)
    does: a ``$`` outside a character class matches at the end of the text only, and
    ``\\s`` is ECMA's set of spaces. Python's ``$`` also matches before a final line
    break, so ``^[a-z0-9]+$`` took ``"evil\\n"`` (a name, a namespace, a tag) where
    jsonschema-rs and the API server refuse it."""
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            escape = pattern[index : index + 2]
            # ECMA 262's \s is its own set (it has U+FEFF; Python's has U+001C-U+001F).
            if escape == "\\s":
                escape = _ECMA_SPACE if in_class else f"[{_ECMA_SPACE}]"
            elif escape == "\\S" and not in_class:
                escape = f"[^{_ECMA_SPACE}]"
            out.append(escape)
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            # "[]...]" and "[^]...]": Python takes that first "]" literally.
            start = index + 1 + (pattern[index + 1 : index + 2] == "^")
            if pattern[start : start + 1] == "]":
                out.append(pattern[index : start + 1])
                index = start + 1
                continue
        elif char == "$":
            char = r"\Z"
        out.append(char)
        index += 1
    return re.compile("".join(out))


def _pattern_keyword(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """jsonschema's ``pattern`` keyword with :func:`ecma_pattern`'s reading of ``$``."""
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@functools.cache
def strict_validator_class() -> type[Draft202012Validator]:
    """Draft 2020-12 with every pattern read as JSON Schema reads it (see ecma_pattern),
    as jsonschema-rs does: for our schemas and the daemon's config alike."""
    from jsonschema import Draft202012Validator, validators

    strict: type[Draft202012Validator] = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern_keyword}
    )
    return strict


@functools.cache
def _validators() -> dict[str, Draft202012Validator]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    schemas = _schema_files()
    resources: list[tuple[str, Resource[Any]]] = []
    for contents in schemas.values():
        Draft202012Validator.check_schema(contents)
        resources.append((contents["$id"], Resource.from_contents(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    strict = strict_validator_class()
    return {
        kind: strict(
            schemas[filename],
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        for kind, filename in SCHEMA_FILES.items()
    }


def check_schema(obj: ManifestObject) -> list[Violation]:
    """Every schema violation of one object (errors and warnings), in file order."""
    if obj.kind not in SCHEMA_FILES:
        return [obj.violation(("kind",), f"no schema for kind '{obj.kind}'")]
    body = _drop_nulls(obj.body)
    if is_valid_fast(obj.kind, body):
        return []
    return full_check(obj, body)


def is_valid_fast(kind: str, body: Any) -> bool:
    """The compiled validator's verdict on ``body`` (nulls dropped): True only when it
    is valid; False when invalid, or when the compiled validator cannot tell."""
    fast = _fast_validators().get(kind)
    if fast is None:
        return False
    try:
        return fast(body)
    except Exception:  # a value it cannot take (NaN, a huge integer): let jsonschema judge
        return False


def full_check(obj: ManifestObject, body: Any | None = None) -> list[Violation]:
    """``check_schema`` through ``jsonschema`` alone: every error worded, however the
    compiled validator would judge. Tests compare the two paths with it."""
    validator = _validators()[obj.kind]
    body = _drop_nulls(obj.body) if body is None else body
    found: set[Violation] = set()
    for error in validator.iter_errors(body):
        if obj.in_template and _is_placeholder(error.instance):
            continue
        for path, message, severity in _describe(error):
            found.add(obj.violation(path, message, severity))
    return sorted(found, key=lambda v: (v.line, v.column, v.path, v.message))


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _is_placeholder(value: Any) -> bool:
    return isinstance(value, str) and PLACEHOLDER.search(value) is not None


def _describe(error: ValidationError) -> Iterable[tuple[FieldPath, str, str]]:
    """(path, message, severity) for one jsonschema error; some errors make several."""
    path: FieldPath = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    keyword = error.validator
    instance: Any = error.instance

    if keyword == "required":
        required: Any = error.validator_value
        missing = [name for name in required if name not in instance]
        for name in missing:
            yield path, f"missing required field '{name}'", "error"
        return

    if keyword == "additionalProperties":
        known = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        for name in instance:
            if name in known or any(p.search(name) for p in patterns):
                continue
            message = f"unknown field '{name}' (OpenShift drops unknown fields)"
            hint = _closest(name, known)
            if hint:
                message += f"; did you mean '{hint}'?"
            yield (*path, name), message, "warning"
        return

    if "propertyNames" in error.absolute_schema_path:
        # The instance is the key itself; point at it.
        text = schema.get(_MESSAGE_KEY) or error.message
        yield (*path, str(instance)), f"invalid key '{instance}': {text}", "error"
        return

    message = _value_message(error, schema)
    note = schema.get(_NOTE_KEY)
    if note:
        message += f"; {note}"
    yield path, message, str(schema.get(_SEVERITY_KEY, "error"))


def _value_message(error: ValidationError, schema: Mapping[str, Any]) -> str:
    keyword = error.validator
    instance: Any = error.instance
    value: Any = error.validator_value
    custom = schema.get(_MESSAGE_KEY)
    got = f" (got {_show(instance)})"

    if keyword == "type":
        wanted = [value] if isinstance(value, str) else list(value)
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        return f"must be {names}{got}"
    if keyword == "enum" and not custom:
        choices = [c for c in value if c != ""]
        message = "must be one of " + ", ".join(str(c) for c in choices) + got
        hint = _closest(instance, [str(c) for c in choices], fuzzy=False)
        if hint:
            message += f"; did you mean '{hint}'?"
        return message
    if keyword == "const" and not custom:
        return f"must be {_show(value)}{got}"
    if custom:
        if isinstance(instance, dict | list):
            return str(custom)
        return f"{custom}{got}"
    if keyword == "minLength" and value == 1:
        return "must not be empty"
    if keyword == "minLength":
        return f"must be at least {value} characters long{got}"
    if keyword == "maxLength":
        return f"must be at most {value} characters long{got}"
    if keyword == "minimum":
        return f"must be at least {value}{got}"
    if keyword == "minItems":
        return f"must have at least {value} item{'s' if value != 1 else ''}"
    if keyword == "pattern":
        return f"must match the pattern {value}{got}"
    return error.message


def _closest(name: Any, known: list[str], fuzzy: bool = True) -> str | None:
    """A known name that differs only by case, or (for field names) a near spelling."""
    if not isinstance(name, str):
        return None
    for candidate in known:
        if candidate != name and candidate.lower() == name.lower():
            return candidate
    if fuzzy:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            return close[0]
    return None


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return f"'{text}'"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return json.dumps(value)
