"""How a tag's image is chosen, as the manifests declare it: annotations on a spec tag
(and, for the minimum age, on its ImageStream), which OpenShift keeps, so the manifest
still applies to a cluster unchanged.

On a tag's ``annotations`` (prefix ``imagestream-reconciler.io/``):

====================== =============================================================
``semver``             a node-semver range: ``~1.4``, ``^1``, ``>=1.4 <2``, ``1.x``
``include-prereleases`` ``"true"``: pre-releases are candidates too (with ``semver``)
``tag-pattern``        a regular expression with a ``(?P<version>...)`` group
``order``              ``numerical`` (default) or ``alphabetical`` (with ``tag-pattern``)
``calver``             a calendar layout: ``YYYY.0M.0D``, ``YYYYMMDD-N``
``allow-downgrade``    ``"true"``: the policy may pick a lower version than the pinned one
``exclude-tags``       ``1.4.8, 1.5.*``: tag names and globs that are never candidates
                       (with a policy; :mod:`reconciler.core.tagexclude`)
``minimum-age``        ``24h``, ``90m``, ``7d``, ``1h30m``: a new candidate or digest is
                       pinned only once the reconciler first saw it that long ago
                       (also on the stream's ``metadata.annotations``, for every tag)
``hold``               why the tag is held: it keeps its digest (``reconciler hold``)
``hold-until``         when the hold ends by itself: ``2026-12-01`` (UTC midnight) or an
                       RFC 3339 time
====================== =============================================================

A tag with a policy names a repository in ``from.name`` (a tag there, if any, is the one
last chosen: write-back keeps it current).

Owns the names, reading the values into :class:`TagRules` (lenient: for objects that
passed validation) and every problem with them as a violation placed at the annotation's
value, inside the string where the problem is (:func:`rule_violations`). Pure.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.lockrecords import ALPHABETICAL, NUMERICAL, PolicySpec
from reconciler.core.manifests import ManifestObject
from reconciler.core.references import InvalidReference, parse_image_reference
from reconciler.core.scalartext import split_lines, value_places
from reconciler.core.streams import DOCKER_IMAGE, TagRef, TagSpec, stream_tags
from reconciler.core.tagexclude import ExcludeError, parse_excludes
from reconciler.core.times import rfc3339
from reconciler.core.versionpolicy import PolicyError, compile_policy
from reconciler.core.violations import Path, Violation

PREFIX = "imagestream-reconciler.io/"
SEMVER = PREFIX + "semver"
INCLUDE_PRERELEASES = PREFIX + "include-prereleases"
TAG_PATTERN = PREFIX + "tag-pattern"
ORDER = PREFIX + "order"
CALVER = PREFIX + "calver"
ALLOW_DOWNGRADE = PREFIX + "allow-downgrade"
EXCLUDE_TAGS = PREFIX + "exclude-tags"
MINIMUM_AGE = PREFIX + "minimum-age"
HOLD = PREFIX + "hold"
HOLD_UNTIL = PREFIX + "hold-until"

TAG_ANNOTATIONS = (
    SEMVER,
    INCLUDE_PRERELEASES,
    TAG_PATTERN,
    ORDER,
    CALVER,
    ALLOW_DOWNGRADE,
    EXCLUDE_TAGS,
    MINIMUM_AGE,
    HOLD,
    HOLD_UNTIL,
)
POLICY_KINDS = (SEMVER, TAG_PATTERN, CALVER)
# Ours on a stream's metadata.annotations (the signed-image gate's is read elsewhere).
STREAM_ANNOTATIONS = (MINIMUM_AGE, PREFIX + "require-signature")

_DURATION_RE = re.compile(r"(?:[0-9]{1,6}[dhms])+")
_DURATION_PART_RE = re.compile(r"([0-9]+)([dhms])")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_MINIMUM_AGE = 366 * 86400
MAX_REASON_LENGTH = 1024
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Hold:
    """A hold as declared: why, and until when (None: until released)."""

    reason: str
    until: dt.datetime | None = None

    @property
    def until_text(self) -> str | None:
        """``until`` as the lock writes times."""
        return rfc3339(self.until) if self.until is not None else None

    def active(self, now: dt.datetime) -> bool:
        """Held at ``now``: no end, or an end still to come."""
        return self.until is None or now < self.until


@dataclass(frozen=True)
class TagRules:
    """What the annotations say about one tag: its version policy, its minimum age (the
    text and seconds), its hold. ``repository``: for a policy tag, ``from.name`` without
    its tag; ``current``: that tag, the one last chosen (None when it names none)."""

    policy: PolicySpec | None = None
    minimum_age: str | None = None
    minimum_age_seconds: int = 0
    hold: Hold | None = None
    repository: str | None = None
    current: str | None = None


def parse_duration(text: str) -> int:
    """``24h``, ``1h30m``, ``7d``, ``90s`` in seconds. Raises ValueError with the reason."""
    if not _DURATION_RE.fullmatch(text):
        raise ValueError(
            f"{text!r} is not a duration: a number and a unit (d, h, m, s), e.g. 24h, 90m, "
            "7d or 1h30m"
        )
    seconds = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART_RE.findall(text))
    if seconds > MAX_MINIMUM_AGE:
        raise ValueError(f"{text!r} is more than a year")
    return seconds


def parse_until(text: str) -> dt.datetime:
    """A hold's end: ``YYYY-MM-DD`` (midnight UTC, the start of that day) or an RFC 3339
    time. Raises ValueError."""
    try:
        if _DATE_RE.fullmatch(text):
            day = dt.date.fromisoformat(text)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        if "T" not in text.upper() or not re.search(r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$", text):
            raise ValueError
        moment = dt.datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
        # In range as written, perhaps not in UTC (9999-12-31T23:59:59-23:59).
        moment = moment.astimezone(dt.UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{text!r} is not a date (2026-12-01, midnight UTC) or an RFC 3339 time "
            "(2026-12-01T09:00:00Z)"
        ) from None
    return moment


def _annotations(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}


def _raw_tags(stream: ManifestObject) -> list[object]:
    tags = stream.spec.get("tags")
    return tags if isinstance(tags, list) else []


def tag_annotations(stream: ManifestObject, tag: TagSpec) -> dict[str, str]:
    """The string annotations of ``tag`` ({} when none)."""
    raw = _raw_tags(stream)
    entry = raw[tag.index] if tag.index < len(raw) else None
    return _annotations(entry.get("annotations") if isinstance(entry, dict) else None)


def _policy_spec(annotations: Mapping[str, str]) -> PolicySpec | None:
    if not any(k in annotations for k in POLICY_KINDS):
        return None
    order = annotations.get(ORDER, NUMERICAL)
    return PolicySpec(
        semver=annotations.get(SEMVER),
        pattern=annotations.get(TAG_PATTERN) if SEMVER not in annotations else None,
        order=(order if order in (NUMERICAL, ALPHABETICAL) else NUMERICAL)
        if TAG_PATTERN in annotations and SEMVER not in annotations
        else None,
        calver=annotations.get(CALVER)
        if SEMVER not in annotations and TAG_PATTERN not in annotations
        else None,
        prereleases=annotations.get(INCLUDE_PRERELEASES) == "true",
        allow_downgrade=annotations.get(ALLOW_DOWNGRADE) == "true",
        exclude=_excludes(annotations.get(EXCLUDE_TAGS)),
    )


def _excludes(text: str | None) -> tuple[str, ...]:
    try:
        return parse_excludes(text) if text is not None else ()
    except ExcludeError:
        return ()  # validation refuses it first


def split_repository(name: str) -> tuple[str, str | None]:
    """A policy tag's ``from.name``: the repository and the tag it names (None), as
    written (an unqualified name stays unqualified)."""
    try:
        ref = parse_image_reference(name)
    except InvalidReference:
        return name, None
    if ref.tag is None:
        return name, None
    return name[: -len(ref.tag) - 1], ref.tag


def rules_of(stream: ManifestObject) -> dict[TagRef, TagRules]:
    """Every tag of ``stream`` that the annotations say something about. Lenient (the
    stream passed validation): a value that cannot be read is left out."""
    stream_age = _annotations(stream.metadata.get("annotations")).get(MINIMUM_AGE)
    out: dict[TagRef, TagRules] = {}
    for tag in stream_tags(stream):
        annotations = tag_annotations(stream, tag)
        registry = tag.from_kind == DOCKER_IMAGE and not tag.reference
        age_text = annotations.get(MINIMUM_AGE) or (stream_age if registry else None)
        seconds = 0
        if age_text is not None:
            try:
                seconds = parse_duration(age_text)
            except ValueError:
                age_text = None
        hold = None
        reason = annotations.get(HOLD)
        if reason is not None and reason.strip():
            until = None
            if HOLD_UNTIL in annotations:
                try:
                    until = parse_until(annotations[HOLD_UNTIL])
                except ValueError:
                    until = None
            hold = Hold(reason.strip(), until)
        policy = _policy_spec(annotations) if registry else None
        repository, current = split_repository(tag.from_name) if policy else (None, None)
        rules = TagRules(
            policy=policy,
            minimum_age=age_text if age_text is not None and registry else None,
            minimum_age_seconds=seconds if registry else 0,
            hold=hold,
            repository=repository,
            current=current,
        )
        if rules != TagRules():
            out[tag.ref] = rules
    return out


# -- validation ----------------------------------------------------------------------


class _Placer:
    """Violations about one annotation of one tag, placed at its value (inside the
    string when the problem has an offset and the value's YAML form can be followed)."""

    def __init__(self, stream: ManifestObject, base: Path) -> None:
        self.stream = stream
        self.base = base
        self.found: list[Violation] = []

    def add(
        self, key: str, message: str, offset: int | None = None, severity: str = "error"
    ) -> None:
        path = (*self.base, key)
        where = self.stream.locate(path)
        place = self.stream.positions.get((*self.stream.base, *path))
        value = self.stream.value(path)
        if place is not None and isinstance(value, str):
            places = value_places(split_lines(self.stream.source), place[0], place[1], value)
            if places is not None:
                where = places[max(0, min(offset or 0, len(places) - 1))]
        if severity == "warning":
            self.found.append(self.stream.violation_at(where, path, message, "warning"))
        else:
            self.found.append(self.stream.violation_at(where, path, message))


def _unknown(placer: _Placer, annotations: Mapping[str, str], known: tuple[str, ...]) -> None:
    for key in annotations:
        if key.startswith(PREFIX) and key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            placer.add(
                key,
                f"unknown annotation{hint}: the reconciler reads "
                + ", ".join(k.removeprefix(PREFIX) for k in known),
                severity="warning",
            )


def _flag(placer: _Placer, annotations: Mapping[str, str], key: str) -> None:
    if key in annotations and annotations[key] not in ("true", "false"):
        placer.add(key, f'must be "true" or "false" (got {annotations[key]!r})')


def rule_violations(stream: ManifestObject) -> list[Violation]:
    """Every problem with the annotations of ``stream`` and its tags, placed at the
    value: a range, pattern or layout that cannot be used (at the character), a
    duration or date that cannot be read, an ``exclude-tags`` entry that cannot be (at
    the entry's character), two policies on one tag, a modifier without its policy, a policy on a tag that does not import from a registry, a hold without
    a reason. Unknown annotations under our prefix are warnings."""
    meta = _Placer(stream, ("metadata", "annotations"))
    stream_annotations = _annotations(stream.metadata.get("annotations"))
    _unknown(meta, stream_annotations, STREAM_ANNOTATIONS)
    if MINIMUM_AGE in stream_annotations:
        try:
            parse_duration(stream_annotations[MINIMUM_AGE])
        except ValueError as exc:
            meta.add(MINIMUM_AGE, str(exc))
    found = meta.found
    for tag in stream_tags(stream):
        annotations = tag_annotations(stream, tag)
        if not annotations:
            continue
        placer = _Placer(stream, (*tag.path, "annotations"))
        _tag_violations(placer, tag, annotations)
        found.extend(placer.found)
    return found


def _tag_violations(placer: _Placer, tag: TagSpec, annotations: Mapping[str, str]) -> None:
    _unknown(placer, annotations, TAG_ANNOTATIONS)
    kinds = [k for k in POLICY_KINDS if k in annotations]
    for extra in kinds[1:]:
        placer.add(
            extra,
            f"a tag has one version policy: {kinds[0].removeprefix(PREFIX)} is given already",
        )
    for key in (INCLUDE_PRERELEASES, ALLOW_DOWNGRADE):
        _flag(placer, annotations, key)
    if INCLUDE_PRERELEASES in annotations and SEMVER not in annotations:
        placer.add(INCLUDE_PRERELEASES, "applies to a semver policy: this tag has none")
    if ORDER in annotations:
        if TAG_PATTERN not in annotations:
            placer.add(ORDER, "applies to a tag-pattern policy: this tag has none")
        elif annotations[ORDER] not in (NUMERICAL, ALPHABETICAL):
            placer.add(ORDER, f"must be {NUMERICAL} or {ALPHABETICAL} (got {annotations[ORDER]!r})")
    if ALLOW_DOWNGRADE in annotations and not kinds:
        placer.add(ALLOW_DOWNGRADE, "applies to a version policy: this tag has none")
    if EXCLUDE_TAGS in annotations:
        if not kinds:
            placer.add(EXCLUDE_TAGS, "applies to a version policy: this tag has none")
        try:
            parse_excludes(annotations[EXCLUDE_TAGS])
        except ExcludeError as exc:
            placer.add(EXCLUDE_TAGS, exc.message, exc.offset)
    registry = tag.from_kind == DOCKER_IMAGE and not tag.reference
    if kinds:
        key = kinds[0]
        if not registry:
            placer.add(
                key,
                "a version policy chooses among a registry repository's tags: the tag needs "
                "from.kind DockerImage (and no reference: true)",
            )
        else:
            _policy_value(placer, tag, annotations, key)
    if MINIMUM_AGE in annotations:
        if not registry:
            placer.add(
                MINIMUM_AGE, "applies to tags imported from a registry (from.kind DockerImage)"
            )
        try:
            parse_duration(annotations[MINIMUM_AGE])
        except ValueError as exc:
            placer.add(MINIMUM_AGE, str(exc))
    if HOLD in annotations:
        if not annotations[HOLD].strip():
            placer.add(HOLD, "give the reason for the hold (reconciler hold IS:TAG --reason TEXT)")
        elif len(annotations[HOLD]) > MAX_REASON_LENGTH:
            placer.add(HOLD, f"a reason of at most {MAX_REASON_LENGTH} characters")
    if HOLD_UNTIL in annotations:
        if HOLD not in annotations:
            placer.add(HOLD_UNTIL, f"ends a hold: this tag has no {HOLD} annotation")
        try:
            parse_until(annotations[HOLD_UNTIL])
        except ValueError as exc:
            placer.add(HOLD_UNTIL, str(exc))


def _policy_value(placer: _Placer, tag: TagSpec, annotations: Mapping[str, str], key: str) -> None:
    value = annotations[key]
    spec = PolicySpec(
        semver=value if key == SEMVER else None,
        pattern=value if key == TAG_PATTERN else None,
        order=NUMERICAL if key == TAG_PATTERN else None,
        calver=value if key == CALVER else None,
        prereleases=annotations.get(INCLUDE_PRERELEASES) == "true",
    )
    try:
        compile_policy(spec)
    except PolicyError as exc:
        placer.add(key, exc.message, exc.offset)
    try:
        ref = parse_image_reference(tag.from_name)
    except InvalidReference:
        return  # the cross check reports the name
    if ref.digest is not None:
        placer.add(
            key,
            "a version policy picks a tag: from.name must name a repository (a tag there is "
            "the one last chosen), not a digest",
        )


def expired_holds(stream: ManifestObject, now: dt.datetime) -> list[Violation]:
    """A warning at each ``hold-until`` of ``stream`` that has passed at ``now``: the
    hold released itself, and its annotations can go."""
    found = []
    for ref, rules in rules_of(stream).items():
        hold = rules.hold
        if hold is None or hold.active(now):
            continue
        tag = next(t for t in stream_tags(stream) if t.ref == ref)
        found.append(
            stream.violation(
                (*tag.path, "annotations", HOLD_UNTIL),
                f"the hold ended at {hold.until_text} and no longer applies: the tag moves "
                f"again (remove the hold: reconciler release {ref.stream}:{ref.tag})",
                "warning",
            )
        )
    return found
