"""Shared test setup: the real-registry fixtures (tests/registry_fixtures.py) and the
git fixtures (tests/git_fixtures.py) are plugins, so every test module shares one
session registry."""

pytest_plugins = ["registry_fixtures", "git_fixtures"]
