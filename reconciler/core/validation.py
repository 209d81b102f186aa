"""A validation report for a set of objects: schema results plus cross-object checks,
and which objects are therefore invalid (skipped by the reconcile pass, their lock
entries kept as they were).

The schema check is passed in as a function so that this module stays pure; a workload's
``image.openshift.io/triggers`` annotation and an ImageStream's version policies, holds and
minimum ages (``reconciler.core.tagrules``), strings to the schema, are checked here.
Problems are violations, never exceptions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from reconciler.core.crosscheck import cross_check
from reconciler.core.manifests import IMAGE_STREAM, ManifestObject
from reconciler.core.repoconfig import RepoConfig
from reconciler.core.tagrules import rule_violations
from reconciler.core.triggerannotation import annotation_violations
from reconciler.core.violations import Violation, sort_violations
from reconciler.core.workloads import is_workload

# A per-object check (the schema, the machine's import policy): the violations it finds.
SchemaCheck = Callable[[ManifestObject], list[Violation]]


@dataclass
class ValidationReport:
    """Every violation found, sorted, and the objects split into ``valid`` and
    ``invalid`` (at least one error), each in the order given."""

    violations: list[Violation] = field(default_factory=list)
    valid: list[ManifestObject] = field(default_factory=list)
    invalid: list[ManifestObject] = field(default_factory=list)

    @property
    def errors(self) -> list[Violation]:
        """The violations of severity error."""
        return [v for v in self.violations if v.is_error]

    @property
    def warnings(self) -> list[Violation]:
        """The violations of severity warning."""
        return [v for v in self.violations if not v.is_error]


def validate_objects(
    objects: Sequence[ManifestObject],
    config: RepoConfig,
    schema_check: SchemaCheck,
    file_violations: Sequence[Violation] = (),
    object_checks: Sequence[SchemaCheck] = (),
) -> ValidationReport:
    """``object_checks`` are further per-object checks (the machine's import policy),
    run like the schema check."""
    violations: list[Violation] = list(file_violations)
    bad: set[int] = set()
    for obj in objects:
        found = schema_check(obj)
        for extra in object_checks:
            found = [*found, *extra(obj)]
        if is_workload(obj):
            found = [*found, *annotation_violations(obj)]
        if obj.kind == IMAGE_STREAM and not obj.in_template:
            # The schema words what it can check of our annotations; the rest (a range, a
            # pattern, a layout that does not compile; combinations) is placed here, once.
            flagged = {v.path for v in found}
            found = [*found, *(v for v in rule_violations(obj) if v.path not in flagged)]
        violations.extend(found)
        if any(v.is_error for v in found):
            bad.add(id(obj))
    # Cross-object checks see every object (a malformed stream still defines its tags, so
    # references to it do not cascade), but report only on objects that passed the schema:
    # one message per mistake.
    schema_invalid = set(bad)
    for obj, violation in cross_check(objects, config):
        if id(obj) in schema_invalid:
            continue
        violations.append(violation)
        if violation.is_error:
            bad.add(id(obj))
    return ValidationReport(
        violations=sort_violations(violations),
        valid=[o for o in objects if id(o) not in bad],
        invalid=[o for o in objects if id(o) in bad],
    )
