"""What is a function of a file's bytes, kept between passes: parsed manifest files (with
their positions), schema verdicts per parsed object, the parsed lock, and the trigger
records' ids. A daemon and ``watch`` hold one in memory for their lifetime; the CLI's
``reconcile`` and ``plan`` keep theirs on disk under the cache dir (:meth:`ContentCache.load`
and :meth:`ContentCache.save`), so a pass whose tree did not change parses no YAML at all.
Never module state: two daemons, threads or tests in one process never share one by
accident.

Every entry is keyed by the file's git blob id (``sha1("blob <size>\\0" + bytes)``, what
``git ls-tree`` lists, or :func:`blob_id` of the bytes read), so a stale entry cannot be
returned for changed bytes. What an entry holds also depends on our code and schemas:
the file on disk carries :func:`version_key`, and a cache of another version is ignored.

It only remembers; it never decides. Bounded: :meth:`ContentCache.sweep` (once per pass)
drops what the previous pass did not use, so a repo that churns files cannot grow it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib
import importlib.util
import os
import pickle
import stat
import sys
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from reconciler.core.lockfile import Lock, parse_lock
from reconciler.core.manifests import ManifestObject, ParsedFile, parse_manifests
from reconciler.core.triggers import TriggerRecord
from reconciler.core.violations import Violation

# Bump when what an entry holds changes shape; the version key covers code and schemas.
CACHE_FORMAT = 2

FileKey = tuple[str, str, str]  # (blob id, file as shown, default namespace)
T = TypeVar("T")


def blob_id(raw: bytes) -> str:
    """The git blob id of ``raw``: what ``git hash-object`` prints for that file."""
    digest = hashlib.sha1(b"blob %d\0" % len(raw), usedforsecurity=False)
    digest.update(raw)
    return digest.hexdigest()


def cache_file(cache_dir: Path, repository: str) -> Path:
    """Where the CLI keeps the cache of one repository (its URL or path) under the
    machine's cache dir."""
    name = hashlib.sha256(repository.encode()).hexdigest()[:16]
    return cache_dir / "content" / f"{name}.pickle"


@functools.cache
def version_key() -> str:
    """What cached entries depend on besides file bytes: this package's code and schemas
    (name, size and mtime of each file), the release, the cache format, Python's
    version and the installed YAML and schema libraries (:data:`_VERDICT_MODULES`). An
    installed release changes it on upgrade; a checkout, on every edit; a library, when
    it is upgraded or goes."""
    import reconciler
    from reconciler.files.schemas import schema_dir

    package = Path(reconciler.__file__).resolve().parent
    hasher = hashlib.sha256(
        f"{CACHE_FORMAT} {reconciler.__version__} {sys.version_info[:2]}".encode()
    )
    for directory, pattern in ((package, "*.py"), (schema_dir(), "*.json")):
        for path in sorted(directory.rglob(pattern)):
            info = path.stat()
            hasher.update(
                f"{path.relative_to(directory)} {info.st_size} {info.st_mtime_ns}\n".encode()
            )
    # The parsers and checkers an entry's verdict also comes from: upgrading one (or
    # PyYAML losing libyaml) makes another cache, as upgrading us does.
    for module in _VERDICT_MODULES:
        try:
            spec = importlib.util.find_spec(module)
            origin = spec.origin if spec is not None else None
            found = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            found = None
        shown = f"{origin} {found.st_size} {found.st_mtime_ns}" if found else "absent"
        hasher.update(f"{module} {shown}\n".encode())
    return hasher.hexdigest()


# Whose code decides what a cached entry holds besides ours: YAML (ruamel.yaml and its C
# loader, PyYAML and libyaml) and the schema checks (jsonschema-rs, jsonschema).
_VERDICT_MODULES = (
    "ruamel.yaml",
    "_ruamel_yaml",
    "yaml",
    "yaml._yaml",
    "jsonschema_rs",
    "jsonschema",
    "referencing",
)


class ContentCache:
    """Parsed files, schema verdicts, locks and record ids, each keyed by blob id."""

    def __init__(self) -> None:
        # Each entry with the sweep epoch it was last used in.
        self._parsed: dict[FileKey, tuple[ParsedFile, int]] = {}
        # Unchanged files give back the same (never mutated) objects, so a verdict keyed
        # by the object is a verdict for its bytes; it goes when the object goes.
        self._verdicts: weakref.WeakKeyDictionary[ManifestObject, list[Violation]] = (
            weakref.WeakKeyDictionary()
        )
        self._lock: tuple[str, Lock] | None = None
        self._records: dict[str, tuple[TriggerRecord, int]] = {}  # by blob id
        self._epoch = 0
        self._changed = False  # since load: whether save has anything new to write
        # What was computed from the whole tree last time, by name: (inputs, result).
        self._memos: dict[str, tuple[tuple[object, ...], object]] = {}

    # -- manifests ----------------------------------------------------------------------

    def parsed_blob(self, blob: str, display: str, default_namespace: str) -> ParsedFile | None:
        """The file ``display`` with blob id ``blob``, if it was parsed before."""
        key = (blob, display, default_namespace)
        found = self._parsed.get(key)
        if found is None:
            return None
        self._parsed[key] = (found[0], self._epoch)
        return found[0]

    def parsed_file(
        self, raw: bytes, text: str, display: str, default_namespace: str
    ) -> ParsedFile:
        """``text`` (the decoded ``raw``) parsed as the manifests of file ``display``."""
        blob = blob_id(raw)
        cached = self.parsed_blob(blob, display, default_namespace)
        if cached is not None:
            return cached
        parsed = parse_manifests(text, display, default_namespace)
        self._parsed[(blob, display, default_namespace)] = (parsed, self._epoch)
        self._changed = True
        return parsed

    def schema_verdict(
        self, obj: ManifestObject, check: Callable[[ManifestObject], list[Violation]]
    ) -> list[Violation]:
        """``check(obj)``, run once per parsed object."""
        found = self._verdicts.get(obj)
        if found is None:
            found = check(obj)
            self._verdicts[obj] = found
            self._changed = True
        return found

    # -- the lock -----------------------------------------------------------------------

    def lock(self, raw: bytes, blob: str | None = None) -> Lock:
        """``raw`` (whose blob id is ``blob`` when known) parsed as a lockfile
        (LockfileError when it is not one); the lock read or written last is not parsed
        again."""
        blob = blob or blob_id(raw)
        if self._lock is not None and self._lock[0] == blob:
            return self._lock[1]
        lock = parse_lock(raw)
        self._lock = (blob, lock)
        self._changed = True
        return lock

    def remember_lock(self, raw: bytes, lock: Lock) -> None:
        """``lock`` is what ``raw`` parses to (it was just rendered from it)."""
        self._lock = (blob_id(raw), lock)
        self._changed = True

    # -- trigger records ----------------------------------------------------------------

    def record(self, blob: str) -> TriggerRecord | None:
        """The trigger record read before from a file with blob id ``blob``."""
        found = self._records.get(blob)
        if found is None:
            return None
        self._records[blob] = (found[0], self._epoch)
        return found[0]

    def remember_record(self, blob: str, record: TriggerRecord) -> None:
        """``record`` is what the file with blob id ``blob`` holds."""
        self._records[blob] = (record, self._epoch)
        self._changed = True

    # -- what is computed from the whole tree ----------------------------------------------

    def memo(self, name: str, inputs: tuple[object, ...], compute: Callable[[], T]) -> T:
        """``compute()``, or what it returned last time ``name`` was asked for with equal
        ``inputs``. Inputs are the parsed objects this cache handed out (equal when they
        are the same objects: the same bytes), configuration values and earlier memos: a
        pass over a tree that did not change judges and reads its objects once."""
        found = self._memos.get(name)
        if found is not None and found[0] == inputs:
            return found[1]  # type: ignore[return-value]
        result = compute()
        self._memos[name] = (inputs, result)
        self._changed = True
        return result

    # -- bounds and persistence ---------------------------------------------------------

    def sweep(self) -> None:
        """Forget what was not used since the last sweep; called once per pass."""
        sizes = len(self._parsed), len(self._records)
        self._parsed = {k: v for k, v in self._parsed.items() if v[1] == self._epoch}
        self._records = {k: v for k, v in self._records.items() if v[1] == self._epoch}
        self._changed = self._changed or sizes != (len(self._parsed), len(self._records))
        self._epoch += 1

    def save(self, path: Path) -> None:
        """Write what the current pass used to ``path`` (atomically: a reader sees the
        old file or the new one). Nothing is written when nothing changed since
        :meth:`load`. Best effort: a cache that cannot be written is no error."""
        if not self._changed and path.exists():
            return
        live = [(k, v[0]) for k, v in self._parsed.items() if v[1] == self._epoch]
        state = {
            "version": version_key(),
            "files": [(k, p, [self._verdicts.get(o) for o in p.objects]) for k, p in live],
            "lock": self._lock,
            "records": {k: v[0] for k, v in self._records.items() if v[1] == self._epoch},
            "memos": self._memos,
        }
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            temporary.unlink(missing_ok=True)
            # Ours alone, whatever the umask: load() reads no file that another could write.
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                pickle.dump(state["version"], handle, protocol=pickle.HIGHEST_PROTOCOL)
                pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, path)
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            with contextlib.suppress(OSError):
                temporary.unlink()

    @classmethod
    def load(cls, path: Path) -> ContentCache:
        """The cache :meth:`save` wrote at ``path``; an empty one when there is none, it
        is of another version, it cannot be read, or it is not ours alone. The file is
        the machine's own (under the cache dir), never the repository's; still, the cache
        dir may be shared (``RECONCILER_CACHE_DIR`` under ``/tmp``, a CI cache restored
        from another job), so a file is read only when this user owns it and no one else
        may write it (not through a symlink), and the unpickler builds nothing but our
        own data classes (:class:`_Unpickler`): a crafted file is an empty cache, never
        code run."""
        cache = cls()
        collecting = gc.isenabled()
        try:
            with _open_own(path) as handle:
                if _Unpickler(handle).load() != version_key():
                    return cache  # another version's: not even read
                # Hundreds of thousands of objects, none of them garbage: the cyclic
                # collector would walk them again and again while they are built.
                gc.disable()
                state = _Unpickler(handle).load()
            for key, parsed, verdicts in state["files"]:
                cache._parsed[key] = (parsed, 0)
                for obj, verdict in zip(parsed.objects, verdicts, strict=True):
                    if verdict is not None:
                        cache._verdicts[obj] = verdict
            cache._lock = state["lock"]
            cache._records = {k: (v, 0) for k, v in state["records"].items()}
            cache._memos = state["memos"]
        except Exception:  # a cache is only ever a shortcut: start empty
            return cls()
        finally:
            if collecting:
                gc.enable()
        return cache


def _open_own(path: Path) -> BinaryIO:
    """``path`` opened for reading, not through a symlink; OSError unless this user owns
    it and neither group nor others may write it."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o022:
            raise PermissionError(f"{path}: not a file that only its owner may write")
        if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
            raise PermissionError(f"{path}: owned by another user")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


class _Unpickler(pickle.Unpickler):
    """Builds only what :meth:`ContentCache.save` writes: plain data (which needs no
    global) and the classes of ``reconciler.core`` and the pass's own tree (frozen data
    classes and enums of pure code). Any other global (a function, ``os.system``, a
    dotted path to one) is an UnpicklingError."""

    _PLACES = ("reconciler.core.",)
    _ALSO = frozenset({("reconciler.passes.plan", "_Tree")})

    def find_class(self, module: str, name: str) -> Any:
        if "." not in name and (module.startswith(self._PLACES) or (module, name) in self._ALSO):
            found = getattr(importlib.import_module(module), name, None)  # our own code
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"the content cache holds no {module}.{name}")
