"""Where to ask for an image the verbs name: every registry an unqualified name is
searched in, mirrors before the primary (as ``registries.conf`` says), and the rule for
moving on from one place to the next. The resolver for a pass follows the same rules."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from reconciler.core.allowlist import AllowedRegistry, check_import_allowed
from reconciler.core.references import ImageReference, InvalidReference, parse_image_reference
from reconciler.core.registries import BlockedRegistry, RegistriesConf
from reconciler.registry import errors as e
from reconciler.registry.errors import ResolveError

T = TypeVar("T")


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
