"""What the oc-style verbs share: flags, the checkout they work in (manifests, lock, repo
config), round-trip edits of manifest files, pinning the edited tags in the lock with the
same core functions a reconcile pass uses, output formats, and ``--commit``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from reconciler.cli import progress
from reconciler.cli.flags import client_from_settings
from reconciler.config.settings import Settings
from reconciler.core import editing
from reconciler.core.consumers import read_consumer
from reconciler.core.lockfile import Lock, parse_lock, render_lock
from reconciler.core.manifests import BUILD_CONFIG, DEPLOYMENT_CONFIG, IMAGE_STREAM, ManifestObject
from reconciler.core.plan import Failure
from reconciler.core.references import ImageReference, InvalidReference, parse_image_reference
from reconciler.core.registries import (
    AllowedRegistry,
    BlockedRegistry,
    RegistriesConf,
    check_import_allowed,
)
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.streams import DOCKER_IMAGE, IMAGE_STREAM_TAG, TagRef, alias_target
from reconciler.core.triggers import IMAGE_CHANGE, TriggerRecord, derive_triggers
from reconciler.core.validation import ValidationReport
from reconciler.core.violations import Violation
from reconciler.core.yamltext import dump_yaml_text
from reconciler.files import triggerstore
from reconciler.passes.run import (
    compute_plan,
    read_lock,
    rfc3339,
    utc_now,
    validate_repo,
    write_derived,
)
from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError

T = TypeVar("T")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CANNOT_RUN = 2


class VerbError(Exception):
    """The verb cannot do what was asked; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_CANNOT_RUN) -> None:
        super().__init__(message)
        self.code = code


def err(message: str) -> None:
    print(f"reconciler: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    print(f"reconciler: warning: {message}", file=sys.stderr)


def exit_codes_help(one: str) -> str:
    """The "exit codes:" section of a verb's --help epilog; ``one`` says what 1 means."""
    return (
        "\nexit codes:\n"
        "  0  done\n"
        f"  1  {one}\n"
        "  2  could not run: not a checkout, an unreadable lockfile or manifest, git failed,\n"
        "     bad flags\n"
    )


# ---------------------------------------------------------------- short digests

DIGEST_PREFIX_MIN = 7  # hex characters after "sha256:", like git's and oc's short ids
_DIGEST_PREFIX = re.compile(r"sha256:[0-9a-f]{0,63}")


def expand_digest(text: str, known: Iterable[str], what: str) -> str:
    """``sha256:`` and at least DIGEST_PREFIX_MIN hex characters of a digest: the one digest
    of ``known`` that starts so. A full digest, anything that is not a sha256 digest or a
    prefix of no known digest comes back unchanged, for the caller to report as not found.
    A prefix that is too short or matches several digests is a VerbError (exit 1) naming
    ``what`` (and the candidates)."""
    if not _DIGEST_PREFIX.fullmatch(text):
        return text
    if len(text) - len("sha256:") < DIGEST_PREFIX_MIN:
        raise VerbError(
            f"{what}: a short digest needs at least {DIGEST_PREFIX_MIN} hex characters after "
            "sha256:",
            EXIT_PROBLEMS,
        )
    matches = sorted({digest for digest in known if digest.startswith(text)})
    if len(matches) > 1:
        raise VerbError(
            f"{what}: {text} is ambiguous, it starts {len(matches)} digests: " + ", ".join(matches),
            EXIT_PROBLEMS,
        )
    return matches[0] if matches else text


# ---------------------------------------------------------------- flags


def add_parser(
    verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
    name: str,
    *,
    help: str,
    description: str,
    examples: str,
    aliases: Sequence[str] = (),
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = verbs.add_parser(
        name,
        help=help,
        description=description,
        epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        aliases=list(aliases),
    )
    return parser


def add_repo_flags(parser: argparse.ArgumentParser, *, all_namespaces: bool = False) -> None:
    parser.add_argument(
        "--repo", default=".", metavar="PATH", help="the checkout to work in (default: .)"
    )
    parser.add_argument(
        "-n",
        "--namespace",
        metavar="NS",
        help="namespace (default: the repo's defaultNamespace in .reconciler.yaml)",
    )
    if all_namespaces:
        parser.add_argument(
            "-A", "--all-namespaces", action="store_true", help="every namespace in the repo"
        )
    # For tests and reproducible output: the time "now" is taken as (RFC 3339).
    parser.add_argument("--now", help=argparse.SUPPRESS)


def add_import_policy_flags(parser: argparse.ArgumentParser) -> None:
    """A registry tag's import policy, as ``import-image`` and ``tag`` set it."""
    parser.add_argument(
        "--scheduled",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="re-check a registry image periodically (importPolicy.scheduled)",
    )
    parser.add_argument(
        "--insecure",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="use plain HTTP for this registry (importPolicy.insecure; TLS is always verified)",
    )
    parser.add_argument(
        "--reference-policy",
        choices=["source", "local", "Source", "Local"],
        help="referencePolicy.type of the tag (default Source)",
    )
    parser.add_argument(
        "--import-mode",
        choices=["Legacy", "PreserveOriginal"],
        help="pin the platform image (Legacy) or the whole index (PreserveOriginal)",
    )


def reference_policy(args: argparse.Namespace) -> str | None:
    """``--reference-policy`` as the manifest spells it (``Source``, ``Local``)."""
    text = getattr(args, "reference_policy", None)
    return str(text).capitalize() if text else None


def add_commit_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--commit", action="store_true", help="commit the files written (git, in the checkout)"
    )


def now_of(args: argparse.Namespace) -> dt.datetime:
    text = getattr(args, "now", None)
    if not text:
        return utc_now()
    try:
        moment = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise VerbError(f"--now {text!r}: not an RFC 3339 time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ---------------------------------------------------------------- output


def print_data(data: Any, fmt: str, out: TextIO) -> None:
    if fmt == "json":
        print(json.dumps(data, indent=2), file=out)
        return
    out.write(dump_yaml_text(data))


# ---------------------------------------------------------------- the checkout


@dataclass
class Checkout:
    root: Path
    config: RepoConfig
    report: ValidationReport
    lock: Lock
    lock_bytes: bytes | None

    @classmethod
    def open(cls, repo: str) -> Checkout:
        root = Path(repo)
        if not root.is_dir():
            raise VerbError(f"{repo}: not a directory (a checkout of the GitOps repository)")
        config, report, _ = validate_repo(root)
        lock, raw = read_lock(root)
        return cls(root, config, report, lock, raw)

    def namespace(self, args: argparse.Namespace) -> str:
        return str(getattr(args, "namespace", None) or self.config.default_namespace)

    @property
    def objects(self) -> list[ManifestObject]:
        return [o for o in (*self.report.valid, *self.report.invalid) if not o.in_template]

    def streams(self) -> list[ManifestObject]:
        return [o for o in self.objects if o.kind == IMAGE_STREAM]

    def find(self, kind: str, namespace: str, name: str) -> ManifestObject | None:
        for obj in self.objects:
            if obj.kind == kind and obj.namespace == namespace and obj.name == name:
                return obj
        return None

    def find_stream(self, namespace: str, name: str) -> ManifestObject | None:
        return self.find(IMAGE_STREAM, namespace, name)

    def errors_for(self, obj: ManifestObject) -> list[Violation]:
        return [v for v in self.report.errors if v.file == obj.file]

    def new_file_path(self, kind: str, name: str, default_dir: str) -> str:
        """Where a new object of ``kind`` goes: the directory that holds most objects of
        that kind, else ``default_dir``; ``<name>.yaml`` unless taken."""
        counts: dict[str, int] = {}
        for obj in self.objects:
            if obj.kind == kind:
                parent = Path(obj.file).parent.as_posix()
                counts[parent] = counts.get(parent, 0) + 1
        directory = max(sorted(counts), key=lambda d: counts[d]) if counts else default_dir
        base = Path(directory) if directory != "." else Path()
        candidate = base / f"{name}.yaml"
        if (self.root / candidate).exists():
            candidate = base / f"{name}-{kind.lower()}.yaml"
        return candidate.as_posix()

    def style_for_new(self, kind: str) -> editing.Style:
        """New files follow the indentation of an existing file of the same kind."""
        for obj in self.objects:
            if obj.kind == kind:
                try:
                    text = (self.root / obj.file).read_text(encoding="utf-8")
                except OSError:
                    continue
                return editing.detect_style(text)
        return editing.DEFAULT_STYLE


# ---------------------------------------------------------------- edits


@dataclass
class Edits:
    """Manifest files being edited (round trip) or created, written together."""

    root: Path
    files: dict[str, editing.ManifestFile] = field(default_factory=dict)
    created: dict[str, str] = field(default_factory=dict)
    _written: dict[str, bytes | None] = field(default_factory=dict)
    # The file as it was on disk: edits work on LF text, and are written back with the
    # file's own line endings and byte-order mark.
    _raw: dict[str, bytes] = field(default_factory=dict)

    def object(self, obj: ManifestObject) -> Any:
        edited = self.files.get(obj.file)
        if edited is None:
            raw = (self.root / obj.file).read_bytes()
            self._raw[obj.file] = raw
            text = raw.decode("utf-8-sig").replace("\r\n", "\n")
            try:
                edited = editing.ManifestFile(text)
            except editing.EditError as exc:
                hint = ""
                if "'\\t'" in str(exc):
                    hint = (
                        " (a tab character outside a string, e.g. before a comment: valid"
                        " for readers, but the editor cannot keep it; use spaces there)"
                    )
                raise VerbError(f"{obj.file}: {exc}{hint}") from exc
            self.files[obj.file] = edited
        try:
            return edited.object_at(obj.document, obj.base)
        except editing.EditError as exc:
            raise VerbError(f"{obj.file}: {exc}") from exc

    def create(self, relative: str, text: str) -> None:
        self.created[relative] = text

    def changes(self) -> list[tuple[str, str | None, str]]:
        out: list[tuple[str, str | None, str]] = []
        for path, edited in sorted(self.files.items()):
            new = edited.render()
            if new != edited.original:
                out.append((path, edited.original, new))
        for path, text in sorted(self.created.items()):
            out.append((path, None, text))
        return out

    def diff(self) -> str:
        chunks: list[str] = []
        for path, old, new in self.changes():
            chunks.extend(
                difflib.unified_diff(
                    (old or "").splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    "/dev/null" if old is None else f"a/{path}",
                    f"b/{path}",
                )
            )
        return "".join(chunks)

    def _encode(self, path: str, text: str) -> bytes:
        raw = self._raw.get(path, b"")
        if b"\r\n" in raw:
            text = text.replace("\n", "\r\n")
        data = text.encode("utf-8")
        return b"\xef\xbb\xbf" + data if raw.startswith(b"\xef\xbb\xbf") else data

    def write(self) -> list[str]:
        paths: list[str] = []
        for path, old, new in self.changes():
            target = self.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            self._written[path] = None if old is None else self._raw.get(path)
            target.write_bytes(self._encode(path, new))
            paths.append(path)
        return paths

    def restore(self) -> None:
        """Undo :meth:`write` (the verb failed after writing): the original bytes."""
        for path, old in self._written.items():
            target = self.root / path
            if old is None:
                target.unlink(missing_ok=True)
            else:
                target.write_bytes(old)
        self._written.clear()


# ---------------------------------------------------------------- pinning


@dataclass
class PinResult:
    lock: Lock
    old_lock: Lock
    lock_bytes: bytes
    lock_changed: bool
    triggers: list[TriggerRecord]
    failures: dict[TagRef, Failure]
    report: ValidationReport


def _followers(lock: Lock, roots: set[TagRef]) -> set[TagRef]:
    """``roots`` plus every ImageStreamTag alias that follows one of them (chains too)."""
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for ref, entry in lock.tags.items():
            if ref in found or entry.source.kind != IMAGE_STREAM_TAG:
                continue
            target = alias_target(ref, entry.source.name, entry.source.namespace)
            if target in found:
                found.add(ref)
                grew = True
    return found


def pin_tags(
    root: Path,
    settings: Settings,
    touched: set[TagRef],
    now: dt.datetime,
    *,
    reimport: set[TagRef] | None = None,
) -> PinResult:
    """Run the reconcile plan on the checkout and take from its lock only the ``touched``
    tags (and aliases following them): other scheduled tags are not moved by a verb that
    edits one stream. Trigger records for ImageChange consumers of the moved tags are
    derived as the pass would, so the next pass does not miss them."""
    stamp = rfc3339(now)
    with client_from_settings(settings) as client, progress.activity("asking the registries"):
        # ``reimport``: existing tags the rules would leave alone, asked about anyway.
        plan = compute_plan(root, settings, client, now, force=reimport or ())
        desired = dict(plan.new_lock.tags)
        failures = {ref: f for ref, f in plan.failures.items() if ref in touched}
    scope = _followers(Lock(tags=desired), set(touched))
    merged = dict(plan.old_lock.tags)
    for ref in scope:
        if ref in desired:
            merged[ref] = desired[ref]
        else:
            merged.pop(ref, None)
    lock = Lock(tags=merged, consumers=plan.old_lock.consumers)
    consumers = [
        read_consumer(o)
        for o in plan.report.valid
        if not o.in_template and o.kind in (BUILD_CONFIG, DEPLOYMENT_CONFIG)
    ]
    records = [
        r for r in derive_triggers(plan.old_lock, lock, consumers, stamp) if r.type == IMAGE_CHANGE
    ]
    existing = {r.id for r in triggerstore.read_records(root)[0]}
    new_bytes = render_lock(lock)
    changed = plan.old_bytes is None or parse_lock(plan.old_bytes) != lock
    if not changed and plan.old_bytes is not None:
        new_bytes = plan.old_bytes
    return PinResult(
        lock=lock,
        old_lock=plan.old_lock,
        lock_bytes=new_bytes,
        lock_changed=changed,
        triggers=[r for r in records if r.id not in existing],
        failures=failures,
        report=plan.report,
    )


def write_pins(root: Path, result: PinResult) -> list[str]:
    return write_derived(root, result.lock_bytes if result.lock_changed else None, result.triggers)


def write_and_pin(
    checkout: Checkout,
    edits: Edits,
    settings: Settings,
    touched: set[TagRef],
    now: dt.datetime,
    *,
    reimport: set[TagRef] | None,
) -> tuple[list[str], PinResult, list[Violation]]:
    """Write ``edits`` and pin the ``touched`` tags (:func:`pin_tags`), undoing the writes
    if pinning raises. Returns the files written, the result, and the validation errors
    in the files written (the caller decides whether to :meth:`Edits.restore`)."""
    written = edits.write()
    try:
        result = pin_tags(checkout.root, settings, touched, now, reimport=reimport)
    except BaseException:
        edits.restore()
        raise
    edited = set(written)
    return written, result, [v for v in result.report.errors if v.file in edited]


# ---------------------------------------------------------------- tag edits


def docker_tag_edit(tag: str, source: str, args: argparse.Namespace) -> editing.TagEdit:
    """A tag imported from the registry image ``source``, with the policy flags given."""
    return editing.TagEdit(
        name=tag,
        from_kind=DOCKER_IMAGE,
        from_name=source,
        scheduled=args.scheduled,
        insecure=args.insecure,
        import_mode=args.import_mode,
        reference_policy=reference_policy(args),
        reference=True if getattr(args, "reference", False) else None,
    )


def apply_tag_edit(checkout: Checkout, edits: Edits, dest: TagRef, edit: editing.TagEdit) -> None:
    """Apply ``edit`` to the stream of ``dest``: a minimal edit of its manifest, or, for a
    new stream, a new file (the same one for every tag of that stream)."""
    obj = checkout.find_stream(dest.namespace, dest.stream)
    if obj is not None:
        stream = edits.object(obj)
        editing.apply_tag(stream, edit, edits.files[obj.file].style.quote)
        return
    path = checkout.new_file_path(IMAGE_STREAM, dest.stream, "imagestreams")
    style = checkout.style_for_new(IMAGE_STREAM)
    text = edits.created.get(path)
    if text is None:
        ns_field = dest.namespace if dest.namespace != checkout.config.default_namespace else None
        text = editing.new_file_text([editing.new_stream(dest.stream, ns_field)], style)
    doc = editing.ManifestFile(text, style)
    editing.apply_tag(doc.object_at(0, ()), edit, style.quote)
    edits.create(path, doc.render())


def failure_line(failure: Failure) -> str:
    return f"  ! error: Import failed ({failure.reason}): {failure.message}"


def report_problems(problems: Sequence[Violation], message: str) -> None:
    """The validation errors that stopped a verb, then ``message`` (what was not done)."""
    for violation in problems:
        err(violation.text())
    err(message)


# ---------------------------------------------------------------- registry places


@dataclass(frozen=True)
class Located:
    """Where one logical reference is asked: the logical name (what the lock records)
    and the rewritten place that answers."""

    logical: ImageReference
    endpoint: ImageReference
    insecure: bool


def locations(
    text: str | ImageReference,
    conf: RegistriesConf,
    insecure: bool = False,
    allowed: Sequence[AllowedRegistry] | None = None,
) -> list[Located]:
    """Every place to ask for ``text``: search registries for an unqualified name, then
    mirrors before the primary, as the resolver does; registries outside ``allowed``
    (allowedRegistriesForImport) are never asked. Raises ResolveError when blocked, not
    allowed, or not a reference."""
    try:
        ref = parse_image_reference(text) if isinstance(text, str) else text
    except InvalidReference as exc:
        raise ResolveError(e.BAD_REQUEST, str(exc), registry="") from None
    out: list[Located] = []
    blocked: list[str] = []
    for logical in conf.expand(ref):
        refusal = check_import_allowed(logical, insecure, allowed)
        if refusal is not None:
            blocked.append(refusal)
            continue
        try:
            endpoints = conf.endpoints(logical, insecure)
        except BlockedRegistry as exc:
            blocked.append(str(exc))
            continue
        out.extend(Located(logical, ep.reference, ep.insecure) for ep in endpoints)
    if not out:
        raise ResolveError("Blocked", "; ".join(blocked) or f"no registry for {ref}", registry="")
    return out


def first_answer(places: Sequence[Located], ask: Callable[[Located], T]) -> tuple[Located, T]:
    """Ask each place in turn; the first answer wins. A mirror that fails gives way to the
    next place for the same name; a search registry gives way to the next one only when
    it answers NotFound."""
    errors: list[ResolveError] = []
    for index, place in enumerate(places):
        try:
            return place, ask(place)
        except ResolveError as failure:
            errors.append(failure)
            following = places[index + 1 : index + 2]
            if (
                following
                and following[0].logical != place.logical
                and failure.reason != e.NOT_FOUND
            ):
                # As the resolver does: only "not here" moves on to the next search registry.
                raise failure from None
    for known in errors:
        if known.reason != e.NOT_FOUND:
            raise known
    if len(errors) == 1:
        raise errors[0]
    raise ResolveError(
        e.NOT_FOUND,
        "not found in any of: " + "; ".join(err.message for err in errors),
        registry="",
    )


# ---------------------------------------------------------------- git


def git_commit(root: Path, paths: Sequence[str], message: str) -> str:
    """Commit ``paths`` (only those) in the checkout with the user's git identity."""
    if not paths:
        raise VerbError("nothing to commit")

    def run(*argv: str) -> str:
        proc = subprocess.run(["git", *argv], cwd=root, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise VerbError(f"git {argv[0]} failed: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout.strip()

    run("add", "--", *paths)
    run("commit", "-q", "-m", message, "--", *paths)
    return run("rev-parse", "HEAD")


def finish(
    args: argparse.Namespace, root: Path, paths: Sequence[str], message: str, out: TextIO
) -> None:
    for path in paths:
        print(f"wrote {path}", file=out)
    if getattr(args, "commit", False) and paths:
        sha = git_commit(root, paths, message)
        print(f"committed {sha[:12]}: {message.splitlines()[0]}", file=out)


def run_verb(func: Any, args: argparse.Namespace, out: TextIO) -> int:
    """Turn VerbError into a message and its exit code."""
    try:
        return int(func(args, out))
    except VerbError as exc:
        err(str(exc))
        return exc.code
