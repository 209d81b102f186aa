"""Results computed from one manifest object alone, kept as long as the object lives;
and a quick way for the cached values to be pickled.

A :class:`~reconciler.core.objects.ManifestObject` never changes once parsed, and the
content cache hands the same object back for the same file bytes, so a pass (and the
next one, in a daemon) need not read a stream's tags or a consumer's triggers again:
they are kept per object, in a weak mapping, and go when the object goes. Results must
not be mutated by callers (they are frozen dataclasses or tuples).

Pure: no I/O; the mapping is a cache of pure functions, never a source of truth.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # objects.py uses pickled_by_fields: no import cycle at run time
    from reconciler.core.objects import ManifestObject

R = TypeVar("R")
C = TypeVar("C", bound=type)


def pickled_by_fields(cls: C) -> C:
    """A frozen dataclass with slots, pickled as its constructor's arguments: the
    content cache holds tens of thousands of them, and the slots' own pickling (a
    Python ``__setstate__`` per object) made loading it twice as slow."""
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    get = operator.attrgetter(*names)
    single = len(names) == 1

    def reduce(self: Any) -> tuple[type, tuple[Any, ...]]:
        return cls, ((get(self),) if single else get(self))

    cls.__reduce__ = reduce  # type: ignore[assignment]
    return cls


def per_object(
    function: Callable[[ManifestObject, Hashable], R],
) -> Callable[[ManifestObject, Hashable], R]:
    """``function(obj, option)`` computed once per object and option."""
    results: weakref.WeakKeyDictionary[ManifestObject, dict[Any, R]] = weakref.WeakKeyDictionary()

    @functools.wraps(function)
    def memoized(obj: ManifestObject, option: Hashable) -> R:
        found = results.get(obj)
        if found is None:
            found = results[obj] = {}
        if option not in found:
            found[option] = function(obj, option)
        return found[option]

    return memoized
