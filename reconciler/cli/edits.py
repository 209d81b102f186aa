"""Round-trip edits of manifest files for the ``oc`` verbs: files being edited or created,
written together with their own line endings and byte-order mark, undone as a whole when
the verb fails after writing; and the tag edits ``import-image`` and ``tag`` make."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.cli import command, progress
from reconciler.cli.checkout import Checkout
from reconciler.cli.flags import reference_policy
from reconciler.config.settings import Settings
from reconciler.core import editing, newfiles, tagedits, tagrules
from reconciler.core.errors import EXIT_PROBLEMS, PermanentError
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.plan import Plan
from reconciler.core.streams import DOCKER_IMAGE, TagRef, parse_istag_name
from reconciler.core.violations import Violation
from reconciler.files import worktree
from reconciler.passes.plan import ResolveCache, compute_plan

if TYPE_CHECKING:  # the HTTP stack loads when a verb first asks a registry
    from reconciler.registry.client import RegistryClient


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
            try:
                raw = worktree.read_inside(self.root, self.root / obj.file)
            except OSError as exc:
                raise PermanentError(f"{obj.file}: cannot read: {exc.strerror or exc}") from exc
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
                where = f"{obj.file}:{exc.line}:{exc.column}" if exc.line else obj.file
                raise PermanentError(f"{where}: {exc}{hint}") from exc
            self.files[obj.file] = edited
        try:
            return edited.object_at(obj.document, obj.base)
        except editing.EditError as exc:
            raise PermanentError(f"{obj.file}: {exc}") from exc

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
        """Write every change; never outside the work tree (a PermanentError names a
        path whose symlink leads out, and what was written before it is undone)."""
        paths: list[str] = []
        for path, old, new in self.changes():
            data = self._encode(path, new)
            self._written[path] = None if old is None else self._raw.get(path)
            try:
                worktree.write_inside(self.root, path, data)
            except worktree.RefusedPath as exc:
                del self._written[path]
                self.restore()
                raise PermanentError(f"{path}: {exc}; nothing written") from exc
            paths.append(path)
        return paths

    def restore(self) -> None:
        """Undo :meth:`write` (the verb failed after writing): the original bytes."""
        for path, old in self._written.items():
            if old is None:
                worktree.remove_inside(self.root, path)
            else:
                worktree.write_inside(self.root, path, old)
        self._written.clear()


def write_and_pin(
    checkout: Checkout,
    edits: Edits,
    settings: Settings,
    touched: set[TagRef],
    now: dt.datetime,
    *,
    reimport: set[TagRef] | None,
    client: RegistryClient | None = None,
    answers: ResolveCache | None = None,
) -> tuple[list[str], Plan, list[Violation]]:
    """Write ``edits`` and plan the pass scoped to the ``touched`` tags (and the aliases
    that follow them: nothing else in the lock moves), undoing the writes if planning
    raises. ``answers`` are registry answers the verb already has (its preview): a tag
    is asked once. Returns the files written, the plan, and the validation errors in
    the files written (the caller decides whether to :meth:`Edits.restore`)."""
    written = edits.write()
    try:
        with contextlib.ExitStack() as stack:
            if client is None:
                from reconciler.passes.clients import registry_client

                client = stack.enter_context(registry_client(settings))
            stack.enter_context(progress.activity("asking the registries"))
            plan = compute_plan(
                checkout.root,
                settings,
                client,
                now,
                answers,
                force=reimport or (),
                scope=touched,
            )
    except BaseException:
        edits.restore()
        raise
    edited = set(written)
    return written, plan, [v for v in plan.report.errors if v.file in edited]


def docker_tag_edit(tag: str, source: str, args: argparse.Namespace) -> tagedits.TagEdit:
    """A tag imported from the registry image ``source``, with the policy flags given."""
    return tagedits.TagEdit(
        name=tag,
        from_kind=DOCKER_IMAGE,
        from_name=source,
        scheduled=args.scheduled,
        insecure=args.insecure,
        import_mode=args.import_mode,
        reference_policy=reference_policy(args),
        reference=True if getattr(args, "reference", False) else None,
    )


def apply_tag_edit(checkout: Checkout, edits: Edits, dest: TagRef, edit: tagedits.TagEdit) -> None:
    """Apply ``edit`` to the stream of ``dest``: a minimal edit of its manifest, or, for a
    new stream, a new file (the same one for every tag of that stream)."""
    obj = checkout.find_stream(dest.namespace, dest.stream)
    if obj is not None:
        stream = edits.object(obj)
        tagedits.apply_tag(stream, edit, edits.files[obj.file].style.quote)
        return
    path = checkout.new_file_path(IMAGE_STREAM, dest.stream, "imagestreams")
    style = checkout.style_for_new(IMAGE_STREAM)
    text = edits.created.get(path)
    if text is None:
        ns_field = dest.namespace if dest.namespace != checkout.config.default_namespace else None
        text = newfiles.new_file_text([newfiles.new_stream(dest.stream, ns_field)], style)
    doc = editing.ManifestFile(text, style)
    tagedits.apply_tag(doc.object_at(0, ()), edit, style.quote)
    edits.create(path, doc.render())


def edit_tag_annotations(
    checkout: Checkout, edits: Edits, ref: TagRef, values: dict[str, str | None]
) -> None:
    """Set (str) or remove (None) annotations of the spec tag ``ref``, a minimal edit of
    its stream's manifest. Raises PermanentError (exit 1) when the tag is not there."""
    obj = checkout.find_stream(ref.namespace, ref.stream)
    if obj is None:
        raise PermanentError(
            f"image stream {ref.namespace}/{ref.stream} is not in the manifests",
            exit_code=EXIT_PROBLEMS,
        )
    try:
        tagedits.set_tag_annotations(
            edits.object(obj), ref.tag, values, edits.files[obj.file].style.quote
        )
    except editing.EditError as exc:
        raise PermanentError(
            f"image stream tag {ref} is not in the manifests ({obj.file}: {exc})",
            exit_code=EXIT_PROBLEMS,
        ) from exc


def refuse_decided(dest: TagRef, annotations: Mapping[str, str]) -> None:
    """A held tag keeps its digest, and a version policy picks a tag's image whatever
    ``from.name`` names: writing ``from`` would change neither, so ``tag`` and
    ``import-image --from`` refuse."""
    name = f"{dest.stream}:{dest.tag}"
    if tagrules.HOLD in annotations:
        raise PermanentError(
            f"{name} is held ({annotations[tagrules.HOLD]}): release it first "
            f"(reconciler release {name})",
            exit_code=EXIT_PROBLEMS,
        )
    for key in tagrules.POLICY_KINDS:
        if key in annotations:
            kind = key.removeprefix(tagrules.PREFIX)
            raise PermanentError(
                f"{name} picks its image by {kind} {annotations[key]}: writing its from would "
                f"not change what it pins; to pin one image, remove its {key} annotation first (or hold "
                f"the tag: reconciler hold {name})",
                exit_code=EXIT_PROBLEMS,
            )


def istag_argument(text: str, namespace: str, what: str) -> TagRef:
    """A verb's ``[NAMESPACE/]STREAM:TAG`` argument (``what`` names it in the error)."""
    ns, slash, rest = text.rpartition("/")
    ref = parse_istag_name(rest, ns if slash else namespace)
    if ref is None or ":" not in rest:
        raise PermanentError(
            f"{what} {text!r}: expected [NAMESPACE/]STREAM:TAG", exit_code=EXIT_PROBLEMS
        )
    return ref


def pin_or_undo(
    checkout: Checkout,
    edits: Edits,
    settings: Settings,
    touched: set[TagRef],
    now: dt.datetime,
    *,
    reimport: set[TagRef] | None,
) -> tuple[list[str], Plan] | None:
    """:func:`write_and_pin`, and the plan's files written too; when the edit would make
    the manifests invalid, the writes are undone, the problems reported, and None is
    returned (the verb exits 1)."""
    written, result, problems = write_and_pin(
        checkout, edits, settings, touched, now, reimport=reimport
    )
    if problems:
        edits.restore()
        command.report_problems(
            problems, "nothing written: the edit would make the manifests invalid"
        )
        return None
    from reconciler.passes.run import write_plan

    return [*written, *write_plan(checkout.root, result)], result
