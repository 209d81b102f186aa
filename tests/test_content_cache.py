"""The CLI's content cache on disk (reconciler.files.contentcache) is a shortcut, never a
way in: the cache dir may be shared (``RECONCILER_CACHE_DIR`` under ``/tmp``, a CI cache
restored from another job), so a file crafted by someone else runs no code and decides
nothing; a file of ours loads back."""

from __future__ import annotations

import copy
import os
import pickle
from pathlib import Path

import pytest

from reconciler.files.contentcache import ContentCache, blob_id, version_key

STREAM = b"""\
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata:
  name: web
"""


class _Run:
    """Unpickled, it calls ``os.mkdir(marker)``: what a crafted cache file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.mkdir, (str(self.marker),)


def saved(path: Path) -> ContentCache:
    cache = ContentCache()
    cache.parsed_file(STREAM, STREAM.decode(), "web.yaml", "team")
    cache.save(path)
    return cache


def knows_the_stream(cache: ContentCache) -> bool:
    return cache.parsed_blob(blob_id(STREAM), "web.yaml", "team") is not None


def write_own(path: Path, *objects: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for obj in objects:
            pickle.dump(obj, handle)
    path.chmod(0o600)


def test_a_cache_file_of_ours_loads_back_and_only_we_may_write_it(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "content" / "repo.pickle"
    old = os.umask(0)
    try:
        saved(path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert knows_the_stream(ContentCache.load(path))


@pytest.mark.parametrize("where", ["version", "state"])
def test_a_crafted_cache_file_runs_no_code(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "content" / "repo.pickle"
    if where == "version":  # read before the version is even compared
        write_own(path, _Run(marker))
    else:
        write_own(path, version_key(), {"files": [], "lock": _Run(marker)})
    cache = ContentCache.load(path)
    assert not marker.exists()
    assert cache.parsed_blob(blob_id(STREAM), "web.yaml", "team") is None


def test_a_cache_file_others_may_write_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "content" / "repo.pickle"
    saved(path)
    path.chmod(0o666)
    assert not knows_the_stream(ContentCache.load(path))
    path.chmod(0o600)
    link = tmp_path / "content" / "link.pickle"
    link.symlink_to(path)
    assert not knows_the_stream(ContentCache.load(link))
    assert knows_the_stream(ContentCache.load(path))


@pytest.mark.parametrize("module", ["yaml._yaml", "jsonschema_rs", "ruamel.yaml"])
def test_a_new_yaml_or_schema_library_is_another_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str
) -> None:
    # Parsed files and verdicts come from these libraries as much as from our code: a
    # cache written before one was upgraded (or PyYAML lost libyaml) is not read after.
    import importlib.util

    path = tmp_path / "content" / "repo.pickle"
    saved(path)
    real = importlib.util.find_spec
    upgraded = tmp_path / "upgraded.py"
    upgraded.write_text("")

    def find_spec(name: str, *args: object) -> object:
        spec = real(name, *args)  # type: ignore[arg-type]
        if name == module and spec is not None:
            spec = copy.copy(spec)  # a loaded module's own spec: not to be changed
            spec.origin = str(upgraded)
        return spec

    version_key.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    try:
        assert not knows_the_stream(ContentCache.load(path))
    finally:
        monkeypatch.undo()
        version_key.cache_clear()
    assert knows_the_stream(ContentCache.load(path))
