"""Pytest fixtures for a real local registry (``testsupport.registry``) and a client.

Owns: fixture functions only; ``tests/conftest.py`` imports them. Fixtures:

- ``local_registry`` (session): one started :class:`LocalRegistry` shared by all tests; tests
  must use their own repository names (see ``unique_repo``).
- ``fresh_registry`` (function): a registry of its own, for tests that stop or fill it.
- ``tls_registry`` (session): a registry serving https with a self-signed certificate
  (``tls_registry.tls_certificate`` is the CA to trust).
- ``registry_client`` (function): a :class:`RegistryClient` closed after the test.
- ``unique_repo`` (function): a repository name no other test uses.

Must not: skip when the registry binary is missing. A missing ``docker-registry`` is a broken
test environment, and the fixture fails saying how to install it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.registry.client import RegistryClient
from reconciler.registry.limits import RegistryLimits
from testsupport.certs import make_self_signed_cert
from testsupport.registry import LocalRegistry


@pytest.fixture(scope="session")
def local_registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture
def fresh_registry() -> Iterator[LocalRegistry]:
    with LocalRegistry() as registry:
        yield registry


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    directory: Path = tmp_path_factory.mktemp("tls")
    with LocalRegistry(tls=make_self_signed_cert(directory)) as registry:
        yield registry


@pytest.fixture
def registry_client() -> Iterator[RegistryClient]:
    # Quick retries: a stopped registry is reported in a fraction of a second, not seconds.
    quick = RegistryLimits(backoff_base=0.01, backoff_cap=0.05)
    with RegistryClient(max_concurrency=8, timeout=5.0, default_limits=quick) as client:
        yield client


@pytest.fixture
def unique_repo() -> str:
    return f"test/r{uuid.uuid4().hex[:12]}"
