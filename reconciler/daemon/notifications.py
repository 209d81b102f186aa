"""Registry notifications matched to tags: an index of (host, repository) → the tags a
notification for it should re-check, built from the lock and registries.conf (the
logical name and every location it is sent to), and the matching itself. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.core.lockfile import Lock
from reconciler.core.references import (
    InvalidReference,
    parse_image_reference,
    registry_endpoint_host,
)
from reconciler.core.registries import BlockedRegistry, RegistriesConf
from reconciler.core.streams import TagRef
from reconciler.daemon.webhooks import PushedRepository

Index = dict[tuple[str, str], set[tuple[TagRef, str | None]]]


def index(
    lock: Lock, recheckable: Iterable[TagRef], conf: RegistriesConf
) -> tuple[Index, dict[TagRef, set[str]]]:
    """(host, repository) → (tag, upstream tag) for every re-checkable tag of ``lock``
    (the host "" matches any host), and per tag the registry hosts it is asked at."""
    found: Index = {}
    asked_at: dict[TagRef, set[str]] = {}
    for ref in recheckable:
        entry = lock.get(ref)
        if entry is None:
            continue
        try:
            image = parse_image_reference(entry.source.name)
            logical = conf.expand(image)
            places = [(r.registry or "", r.repository, r.tag) for r in logical]
            for candidate in logical:
                try:
                    endpoints = conf.endpoints(candidate, entry.source.insecure)
                except BlockedRegistry:
                    continue
                places += [
                    (e.reference.registry or "", e.reference.repository, e.reference.tag)
                    for e in endpoints
                ]
                asked_at.setdefault(ref, set()).update(
                    registry_endpoint_host(e.reference.registry or "").lower()
                    for e in endpoints
                    if e.reference.registry
                )
        except InvalidReference:
            continue
        for host, repository, tag in places:
            for key in ((host.lower(), repository), ("", repository)):
                found.setdefault(key, set()).add((ref, tag))
    return found, asked_at


def matching(found: Index, pushes: Iterable[PushedRepository]) -> set[TagRef]:
    """The tags a batch of registry pushes should re-check."""
    matched: set[TagRef] = set()
    for push in pushes:
        for host in {push.host.lower(), ""}:
            for ref, tag in found.get((host, push.repository), set()):
                if push.tag is None or tag is None or tag == push.tag:
                    matched.add(ref)
    return matched


def named(push: PushedRepository) -> str:
    """A push as people name it: ``host/repository:tag``."""
    where = f"{push.host}/{push.repository}" if push.host else push.repository
    return f"{where}:{push.tag}" if push.tag else where


def ratelimit_remaining(status: dict[str, dict[str, object]]) -> dict[str, int]:
    """Per registry host (lower case) that sent one, from the client's
    ``registry_status()``: what its last ``RateLimit-Remaining`` said."""
    found: dict[str, int] = {}
    for host, snapshot in status.items():
        remaining = getattr(snapshot.get("rate_limit"), "remaining", None)
        if isinstance(remaining, int):
            found[host.lower()] = remaining
    return found


def registry_backoff(status: dict[str, dict[str, object]]) -> dict[str, tuple[bool, float]]:
    """Per registry host (lower case), from the client's ``registry_status()``: whether it
    is backed off (its circuit open, or paused after a 429), and the seconds until it may
    be asked again (0 while an open circuit's probe is due or deciding)."""
    found: dict[str, tuple[bool, float]] = {}
    for host, snapshot in status.items():
        circuit = bool(snapshot.get("circuit_open"))
        paused = float(str(snapshot.get("paused_for_seconds", 0.0)))
        left = max(float(str(snapshot.get("open_for_seconds", 0.0))) if circuit else 0.0, paused)
        found[host.lower()] = (circuit or paused > 0, left)
    return found
