"""The lock's records of how a tag's image was chosen (issue 9): the version policy the
manifest declares, the pick and what it was picked over, the candidates waiting out a
minimum age with the time the reconciler first saw each, and a hold.

Each record is written on one line of ``images.lock.yaml`` (a flow mapping), so a
reviewer reads a policy move as "chosen: {tag: 1.4.7, over: 1.4.6, candidates: 3}" in the
diff. Owns the records' shapes, their lock spelling and reading them back (through
:mod:`reconciler.core.lockfields`). Must not decide anything: what they say is worked out
by ``reconciler.core.choosing``, what the annotations mean by ``reconciler.core.tagrules``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.core import lockfields
from reconciler.core.lockfields import Path
from reconciler.core.memo import pickled_by_fields
from reconciler.core.tagexclude import MAX_ENTRIES, entry_problem
from reconciler.core.yamltext import Flow

# The orders a tag-pattern policy may ask for.
NUMERICAL = "numerical"
ALPHABETICAL = "alphabetical"
ORDERS = (NUMERICAL, ALPHABETICAL)


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A tag's version policy as declared: exactly one of ``semver`` (a range),
    ``pattern`` (a regular expression with a ``version`` group, ordered by ``order``) or
    ``calver`` (a layout), and its modifiers. Compiled by
    ``reconciler.core.versionpolicy``."""

    semver: str | None = None
    pattern: str | None = None
    order: str | None = None  # numerical | alphabetical, with ``pattern``
    calver: str | None = None
    prereleases: bool = False  # semver: pre-releases are candidates too
    allow_downgrade: bool = False  # may pick a lower version than the pinned one
    # exclude-tags: tag names and globs that are never candidates (as written, in order)
    exclude: tuple[str, ...] = ()

    def describe(self) -> str:
        """For people: ``semver ~1.4``, ``semver ^1 (pre-releases included)``,
        ``tag-pattern ^v(?P<version>\\d+)$ (numerical)``, ``calver YYYY.0M.0D``."""
        if self.semver is not None:
            text = f"semver {self.semver}"
            if self.prereleases:
                text += " (pre-releases included)"
        elif self.pattern is not None:
            text = f"tag-pattern {self.pattern} ({self.order or NUMERICAL})"
        else:
            text = f"calver {self.calver}"
        return text

    def to_flow(self) -> Flow:
        """The lock's one line: ``{semver: '~1.4', prereleases: true, exclude: [1.4.8]}``."""
        data = Flow()
        if self.semver is not None:
            data["semver"] = self.semver
        if self.pattern is not None:
            data["pattern"] = self.pattern
            data["order"] = self.order or NUMERICAL
        if self.calver is not None:
            data["calver"] = self.calver
        if self.prereleases:
            data["prereleases"] = True
        if self.allow_downgrade:
            data["allowDowngrade"] = True
        if self.exclude:
            data["exclude"] = list(self.exclude)
        return data


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ChosenRecord:
    """What a policy picked when the tag last moved: the upstream ``tag``, the
    ``runner_up`` (the next candidate in the policy's order, None when there was none)
    and how many of the listed tags the policy admitted (``candidates``). Kept as it was
    until the pick changes, so a new tag that is not picked changes nothing."""

    tag: str
    candidates: int
    runner_up: str | None = None

    def to_flow(self) -> Flow:
        """The lock's one line: ``{tag: 1.4.7, over: 1.4.6, candidates: 3}``."""
        data = Flow(tag=self.tag)
        if self.runner_up is not None:
            data["over"] = self.runner_up
        data["candidates"] = self.candidates
        return data


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class WaitingItem:
    """A digest the minimum age holds back, with the time the reconciler first saw it
    (RFC 3339); pinnable ``minimumAge`` after that. A plain tag's is a ``digest`` its
    registry answered. A policy tag's names the upstream ``tag`` too: a candidate better
    than the pinned one with the digest it had when first seen, or the pinned tag's own
    new digest. A ``tag`` without a ``digest`` is a candidate whose digest is not known
    yet (a lock written before digests were recorded, or a probe that failed): when it
    is first recorded, the clock starts again."""

    first_seen: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The tag, or the digest shortened, for messages."""
        return self.tag if self.tag is not None else (self.digest or "")[:19]

    def to_flow(self) -> Flow:
        """One line of ``waiting``: ``{tag: 1.4.8, digest: 'sha256:...', firstSeen: '...'}``."""
        data = Flow()
        if self.tag is not None:
            data["tag"] = self.tag
        if self.digest is not None:
            data["digest"] = self.digest
        data["firstSeen"] = self.first_seen
        return data


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class HoldRecord:
    """A hold on the tag, mirrored from its annotations (the hold's durable source, see
    ``reconciler.core.tagrules``): why, until when (RFC 3339, None: until released), and
    since when the reconciler has seen it."""

    reason: str
    since: str
    until: str | None = None

    def to_flow(self) -> Flow:
        """The lock's one line: ``{reason: '...', until: '...', since: '...'}``."""
        data = Flow(reason=self.reason)
        if self.until is not None:
            data["until"] = self.until
        data["since"] = self.since
        return data


# -- reading them back -----------------------------------------------------------------


def policy_from_data(raw: Mapping[str, Any], where: str, path: Path) -> PolicySpec:
    """A ``policy`` line: exactly one of ``semver``, ``pattern``, ``calver``."""
    spec = PolicySpec(
        semver=lockfields.opt(raw, "semver", where, path),
        pattern=lockfields.opt(raw, "pattern", where, path),
        order=lockfields.opt(raw, "order", where, path),
        calver=lockfields.opt(raw, "calver", where, path),
        prereleases=lockfields.flag(raw, "prereleases", where, path),
        allow_downgrade=lockfields.flag(raw, "allowDowngrade", where, path),
        exclude=_excludes(raw, where, path),
    )
    kinds = [k for k in ("semver", "pattern", "calver") if raw.get(k) is not None]
    if len(kinds) != 1:
        raise lockfields.FieldError(
            f"{where}: must name exactly one of semver, pattern, calver (got "
            f"{', '.join(kinds) or 'none'})",
            path,
        )
    if spec.pattern is not None:
        lockfields.one_of(raw, "order", ORDERS, NUMERICAL, where, path)
    return spec


def _excludes(raw: Mapping[str, Any], where: str, path: Path) -> tuple[str, ...]:
    """A policy's ``exclude`` (absent: none, as in locks written before it existed): a
    list of entries as the ``exclude-tags`` annotation allows them."""
    value = raw.get("exclude")
    if value is None:
        return ()
    if not isinstance(value, list) or not value or len(value) > MAX_ENTRIES:
        raise lockfields.FieldError(
            f"{where}: field 'exclude' must be a list of 1 to {MAX_ENTRIES} tag names or globs",
            (*path, "exclude"),
        )
    for i, entry in enumerate(value):
        problem = entry_problem(entry) if isinstance(entry, str) else ("not a string", 0)
        if problem is not None:
            raise lockfields.FieldError(
                f"{where}: field 'exclude' item {i}: {problem[0]}", (*path, "exclude", i)
            )
    return tuple(value)


def chosen_from_data(raw: Mapping[str, Any], where: str, path: Path) -> ChosenRecord:
    """A ``chosen`` line."""
    record = ChosenRecord(
        tag=lockfields.req(raw, "tag", where, path),
        candidates=lockfields.req(raw, "candidates", where, path, int),
        runner_up=lockfields.opt(raw, "over", where, path),
    )
    if record.candidates < 1:
        raise lockfields.FieldError(
            f"{where}: field 'candidates' must be at least 1", (*path, "candidates")
        )
    return record


def waiting_from_data(raw: Any, where: str, path: Path) -> WaitingItem:
    """One ``waiting`` item: a ``tag``, a ``digest`` or both, and ``firstSeen``."""
    if not isinstance(raw, dict):
        raise lockfields.FieldError(f"{where}: not a mapping", path)
    item = WaitingItem(
        first_seen=lockfields.req(raw, "firstSeen", where, path),
        tag=lockfields.opt(raw, "tag", where, path),
        digest=lockfields.opt(raw, "digest", where, path),
    )
    if item.tag is None and item.digest is None:
        raise lockfields.FieldError(f"{where}: must name a tag, a digest or both", path)
    lockfields.check_digest(item.digest, "digest", where, path)
    lockfields.check_time(item.first_seen, "firstSeen", where, path)
    return item


def hold_from_data(raw: Mapping[str, Any], where: str, path: Path) -> HoldRecord:
    """A ``hold`` line."""
    record = HoldRecord(
        reason=lockfields.req(raw, "reason", where, path),
        since=lockfields.req(raw, "since", where, path),
        until=lockfields.opt(raw, "until", where, path),
    )
    lockfields.check_time(record.since, "since", where, path)
    if record.until is not None:
        lockfields.check_time(record.until, "until", where, path)
    return record
