"""Pytest fixtures for a real local registry (``reconciler.devregistry``) and a client.

Owns: fixture functions only; ``tests/conftest.py`` imports them. Fixtures:

- ``local_registry`` (session): one started :class:`LocalRegistry` shared by all tests; tests
  must use their own repository names (see ``unique_repo``).
- ``fresh_registry`` (function): a registry of its own, for tests that stop or fill it.
- ``registry_client`` (function): a :class:`RegistryClient` closed after the test.
- ``unique_repo`` (function): a repository name no other test uses.

Must not: skip when the registry binary is missing. A missing ``docker-registry`` is a broken
test environment, and the fixture fails saying how to install it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from reconciler.devregistry import LocalRegistry
from reconciler.registry.client import RegistryClient


@pytest.fixture(scope="session")
def local_registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def fresh_registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def registry_client() -> Iterator[RegistryClient]:
    with RegistryClient(max_concurrency=8, timeout=5.0) as client:
        yield client


@pytest.fixture
def unique_repo() -> str:
    return f"test/r{uuid.uuid4().hex[:12]}"
