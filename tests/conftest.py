"""Shared test setup: the real-registry fixtures (tests/registry_fixtures.py), the git
fixtures (tests/git_fixtures.py) and the version-policy repository
(tests/policy_fixtures.py) are plugins, so every test module shares one
session registry. Also the hypothesis profiles of the fuzz tests
(tests/test_fuzz_parsers.py): "fuzz", the default, a fixed and derandomized budget for
CI; "long" (``HYPOTHESIS_PROFILE=long``), many more examples, random each run."""

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["registry_fixtures", "git_fixtures", "policy_fixtures"]

_RELAXED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "fuzz",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_RELAXED,
)
settings.register_profile("long", max_examples=5_000, deadline=None, suppress_health_check=_RELAXED)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz"))
