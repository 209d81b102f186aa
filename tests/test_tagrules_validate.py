"""`reconciler validate` on version policies, minimum ages and holds (reconciler.core.tagrules
and the ImageStream schema): every bad value is an error naming the file, line, column
and field; a range, pattern or layout that does not compile is placed at the character at
fault; good values pass."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from reconciler.cli import main as cli
from reconciler.core.lockrecords import PolicySpec
from reconciler.core.manifests import parse_manifests
from reconciler.core.tagrules import Hold, TagRules, parse_duration, parse_until, rules_of

P = "imagestream-reconciler.io/"


def stream(
    annotations: str, *, kind: str = "DockerImage", name: str = "quay.io/team/app", meta: str = ""
) -> str:
    lines = "".join(f"        {line}\n" for line in annotations.strip("\n").splitlines())
    return (
        "apiVersion: image.openshift.io/v1\n"
        "kind: ImageStream\n"
        "metadata:\n"
        "  name: app\n"
        "  namespace: team\n"
        f"{meta}"
        "spec:\n"
        "  tags:\n"
        "    - name: stable\n"
        "      annotations:\n"
        f"{lines}"
        "      from:\n"
        f"        kind: {kind}\n"
        f"        name: {name}\n"
    )


def validate(tmp_path: Path, text: str) -> tuple[int, list[str]]:
    (tmp_path / "app.yaml").write_text(text)
    out = io.StringIO()
    code = cli.main(["validate", str(tmp_path)], out=out)
    return code, [
        line for line in out.getvalue().splitlines() if not line.startswith(("valid", "invalid"))
    ]


def test_good_policies_pass(tmp_path: Path) -> None:
    for written in [
        f"{P}semver: '~1.4'",
        f"{P}semver: '>=1.4 <2 || ^3'\n{P}include-prereleases: 'true'\n{P}allow-downgrade: 'false'",
        f"{P}tag-pattern: '^v(?P<version>\\d+)$'\n{P}order: alphabetical",
        f"{P}calver: YYYYMMDD-N\n{P}minimum-age: 1h30m",
        f"{P}hold: 'CVE-2026-1234 under review'\n{P}hold-until: '2099-12-01'",
        f"{P}semver: '~1.4'\n{P}exclude-tags: '1.4.8, 1.5.*,v1.?.0-rc*'",
        f"{P}calver: YYYY.0M.0D\n{P}exclude-tags: " + ",".join(["2026.01.0?"] * 64),
    ]:
        code, out = validate(tmp_path, stream(written))
        assert (code, out) == (0, []), written


@pytest.mark.parametrize(
    ("annotations", "line", "column", "field", "words"),
    [
        # Placed inside the value, at the character at fault (the value starts at column
        # 44 for semver, 49 for tag-pattern, 44 for calver).
        (f"{P}semver: '>=1.4 <'", 10, 51, "semver", "expected a version after '<'"),
        (
            f"{P}tag-pattern: '^v(?P<version>\\d+'",
            10,
            51,
            "tag-pattern",
            "not a regular expression",
        ),
        (
            f"{P}tag-pattern: '^(?P<version>.*)-(\\d+)$'",
            10,
            49,
            "tag-pattern",
            "may start with '-'",
        ),
        (f"{P}calver: 'YYYY.MM.DDD'", 10, 54, "calver", "unexpected 'D'"),
        # The schema's words, at the annotation.
        (f"{P}semver: '~1.4 @2'", 10, 9, "semver", "must be a semver range"),
        (f"{P}minimum-age: 1 day", 10, 9, "minimum-age", "must be a duration"),
        (
            f"{P}include-prereleases: 'yes'",
            10,
            9,
            "include-prereleases",
            'must be "true" or "false"',
        ),
        (f"{P}order: newest", 10, 9, "order", "numerical or alphabetical"),
        (f"{P}hold-until: next week", 10, 9, "hold-until", "must be a date"),
        (f"{P}hold: ' '", 10, 9, "hold", "must say why"),
        (f"{P}tag-pattern: '^v\\d+$'", 10, 9, "tag-pattern", "(?P<version>...) group"),
        # Combinations, and what only the reconciler can tell.
        (f"{P}semver: '^1'\n{P}calver: YYYY", 11, 43, "calver", "one version policy"),
        (f"{P}include-prereleases: 'true'", 10, 57, "include-prereleases", "semver policy"),
        (f"{P}hold-until: '2099-12-01'", 10, 48, "hold-until", "no imagestream-reconciler.io/hold"),
        (f"{P}hold-until: '2026-02-30'\n{P}hold: x", 10, 48, "hold-until", "not a date"),
        # exclude-tags: the entry's character (the value starts at column 50).
        (f"{P}exclude-tags: '1.4.8'", 10, 50, "exclude-tags", "applies to a version policy"),
        (f"{P}semver: '~1'\n{P}exclude-tags: '1.4.8,, 1.5.*'", 11, 56, "exclude-tags", "empty"),
        (f"{P}semver: '~1'\n{P}exclude-tags: '1.4.8, '", 11, 57, "exclude-tags", "empty"),
        (
            f"{P}semver: '~1'\n{P}exclude-tags: '1.4.8, {'9' * 129}'",
            11,
            57 + 128,
            "exclude-tags",
            "at most 128 characters",
        ),
        (
            f"{P}semver: '~1'\n{P}exclude-tags: '{',' * 64}'",
            11,
            50 + 64,
            "exclude-tags",
            "at most 64 entries (got 65)",
        ),
        (f"{P}semver: '~1'\n{P}exclude-tags: '1.4.[78]'", 11, 9, "exclude-tags", "globs (* and ?)"),
        # In range as written, out of range in UTC: OverflowError, a traceback, before.
        (f"{P}hold-until: '9999-12-31T23:59:59-23:59'\n{P}hold: x", 10, 48, "hold-until", "not a"),
    ],
)
def test_bad_values_name_file_line_column_and_field(
    tmp_path: Path, annotations: str, line: int, column: int, field: str, words: str
) -> None:
    code, out = validate(tmp_path, stream(annotations))
    assert code == 1
    assert len(out) == 1, out
    assert out[0].startswith(
        f"app.yaml:{line}:{column}: ImageStream/team/app: spec.tags[0].annotations.{P}{field}: "
    ), out[0]
    assert words in out[0]


def test_exclude_tags_are_read_into_the_policy() -> None:
    text = stream(f"{P}semver: '~1.4'\n{P}exclude-tags: ' 1.4.8 ,1.5.*'")
    (obj,) = parse_manifests(text, "app.yaml", "default").objects
    (rules,) = rules_of(obj).values()
    assert rules.policy == PolicySpec(semver="~1.4", exclude=("1.4.8", "1.5.*"))


def test_a_policy_needs_a_registry_repository(tmp_path: Path) -> None:
    code, out = validate(
        tmp_path, stream(f"{P}semver: '^1'", kind="ImageStreamTag", name="other:1")
    )
    assert code == 1
    assert any("needs from.kind DockerImage" in line for line in out), out
    code, out = validate(
        tmp_path, stream(f"{P}semver: '^1'", name="quay.io/team/app@sha256:" + "a" * 64)
    )
    assert code == 1 and "not a digest" in out[0]


def test_unknown_annotations_under_our_prefix_are_warnings(tmp_path: Path) -> None:
    code, out = validate(tmp_path, stream(f"{P}semvar: '^1'"))
    assert code == 0
    assert "warning: unknown annotation (did you mean imagestream-reconciler.io/semver?)" in out[0]


def test_stream_minimum_age(tmp_path: Path) -> None:
    meta = f"  annotations:\n    {P}minimum-age: 24 hours\n"
    code, out = validate(tmp_path, stream(f"{P}semver: '^1'", meta=meta))
    assert code == 1
    assert out[0].startswith(
        f"app.yaml:7:5: ImageStream/team/app: metadata.annotations.{P}minimum-age: "
    )


def test_rules_are_read_from_a_valid_stream() -> None:
    meta = f"  annotations:\n    {P}minimum-age: 24h\n"
    text = stream(
        f"{P}semver: '~1.4'\n{P}include-prereleases: 'true'\n{P}hold: frozen\n{P}hold-until: '2099-12-01'",
        name="quay.io/team/app:1.4.6",
        meta=meta,
    )
    (obj,) = parse_manifests(text, "app.yaml", "default").objects
    ((ref, rules),) = rules_of(obj).items()
    assert str(ref) == "team/app:stable"
    assert rules == TagRules(
        policy=PolicySpec(semver="~1.4", prereleases=True),
        minimum_age="24h",
        minimum_age_seconds=86400,
        hold=Hold("frozen", parse_until("2099-12-01")),
        repository="quay.io/team/app",
        current="1.4.6",
    )


def test_durations_and_dates() -> None:
    assert parse_duration("24h") == 86400
    assert parse_duration("1h30m") == 5400
    assert parse_duration("7d") == 7 * 86400
    for bad in ["", "24", "h", "1.5h", "-1h", "1y", "400d"]:
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_until("2026-12-01").isoformat() == "2026-12-01T00:00:00+00:00"
    assert parse_until("2026-12-01T09:00:00+02:00").isoformat() == "2026-12-01T07:00:00+00:00"
    for bad in [
        "2026-12-01T09:00:00",
        "tomorrow",
        "2026-13-01",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
    ]:
        with pytest.raises(ValueError):
            parse_until(bad)


def test_an_expired_hold_is_a_warning_at_its_end(tmp_path: Path) -> None:
    text = stream(f"{P}hold: frozen for the audit\n{P}hold-until: '2026-12-01'")
    (tmp_path / "app.yaml").write_text(text)
    out = io.StringIO()
    code = cli.main(["validate", str(tmp_path), "--now", "2026-11-30T23:59:59Z"], out=out)
    assert (code, out.getvalue()) == (0, "valid: 1 objects in 1 files, 0 errors, 0 warnings\n")
    out = io.StringIO()
    code = cli.main(["validate", str(tmp_path), "--now", "2026-12-01T00:00:00Z"], out=out)
    assert code == 0
    assert out.getvalue().splitlines()[0] == (
        f"app.yaml:11:9: ImageStream/team/app: spec.tags[0].annotations.{P}hold-until: warning: "
        "the hold ended at 2026-12-01T00:00:00Z and no longer applies: the tag moves again "
        "(remove the hold: reconciler release app:stable)"
    )
