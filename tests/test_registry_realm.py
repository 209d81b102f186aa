"""Where credentials may go when a registry's Bearer challenge names a token realm
(issue 10, item 8).

Docker and containers/image send the credentials to whatever realm the challenge names.
We do too, with one limit: never in plain text to a host the operator did not name. So
the credentials go to the realm over https, or over plain HTTP only when the realm is on
the registry's own host (the all-plain-HTTP local setup, where the registry itself is
asked in plain text anyway). Otherwise the token request is refused before anything is
sent, with an error naming the realm. An anonymous token request carries nothing to
leak and is unaffected.

The registry is the scripted one of ``test_registry_faults`` (``httpx.MockTransport``); the
same-host plain-HTTP setup against a real registry and token server is in
``test_registry_auth``.
"""

from __future__ import annotations

import httpx
import pytest
from test_registry_faults import AMD64_BODY, REGISTRY, TOKEN, FakeRegistry, digest_of, req

from reconciler.core.secrets import Secret
from reconciler.registry.client import RegistryClient
from reconciler.registry.credentials import Credential
from reconciler.registry.errors import ResolveError
from reconciler.registry.models import ResolveRequest

PASSWORD = "pw-Secret-realm-71"
IDENTITY = "idtok-Secret-realm-3c"


class Lookup:
    """The one credential configured for the registry (or none)."""

    def __init__(self, credential: Credential | None) -> None:
        self.credential = credential

    def lookup(
        self, registry: str, repository: str | None = None, *, secrets: object = ()
    ) -> Credential | None:
        assert registry == REGISTRY
        return self.credential


BASIC = Credential("robot", Secret(PASSWORD), "auth.json")
IDENTITY_TOKEN = Credential("<token>", Secret(""), "auth.json", identity_token=Secret(IDENTITY))


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry(require_token=True)
    registry.add("app", "v1", AMD64_BODY)

    def token_anywhere(request: httpx.Request) -> httpx.Response | None:
        # A token service at whatever realm the test names.
        if request.url.path == "/token":
            return httpx.Response(200, json={"token": TOKEN, "expires_in": 300})
        return None

    registry.hooks.append(token_anywhere)
    return registry


def client(fake: FakeRegistry, credential: Credential | None) -> RegistryClient:
    return RegistryClient(
        transport=httpx.MockTransport(fake),
        credentials=Lookup(credential),
        sleep=lambda seconds: None,
    )


@pytest.fixture
def plain_registry_request() -> ResolveRequest:
    # The registry itself is insecure (plain HTTP), as importPolicy.insecure says.
    return req("reg.example/app:v1", insecure=True, known_digest=digest_of(AMD64_BODY))


def sent_anywhere_but_the_registry(fake: FakeRegistry) -> list[httpx.Request]:
    return [r for r in fake.seen if r.url.host != REGISTRY]


@pytest.mark.parametrize("credential", [BASIC, IDENTITY_TOKEN], ids=["basic", "identity-token"])
def test_credentials_are_not_sent_in_plain_text_to_a_realm_on_another_host(
    fake: FakeRegistry, plain_registry_request: ResolveRequest, credential: Credential
) -> None:
    fake.realm = "http://auth.example:8080/token"
    with client(fake, credential) as c, pytest.raises(ResolveError) as info:
        c.resolve(plain_registry_request)
    error = info.value
    assert (error.reason, error.retryable) == ("Unauthorized", False)
    assert "http://auth.example:8080" in error.message
    assert "auth.json" in error.message  # which credentials were held back
    assert PASSWORD not in str(error) and IDENTITY not in str(error)
    # Nothing went to the realm: not the credentials, not even a request.
    assert sent_anywhere_but_the_registry(fake) == []


def test_credentials_go_to_a_plain_http_realm_on_the_registry_host(
    fake: FakeRegistry, plain_registry_request: ResolveRequest
) -> None:
    # The all-plain-HTTP local setup: registry and token service on one host, other ports.
    fake.realm = "http://reg.example:5001/token"
    with client(fake, BASIC) as c:
        assert c.resolve(plain_registry_request).digest == digest_of(AMD64_BODY)
    (token,) = fake.token_requests()
    assert token.url.host == REGISTRY and token.url.scheme == "http"
    assert token.headers["authorization"].startswith("Basic ")


def test_credentials_go_to_an_https_realm_on_another_host(
    fake: FakeRegistry, plain_registry_request: ResolveRequest
) -> None:
    fake.realm = "https://auth.example/token"
    with client(fake, BASIC) as c:
        assert c.resolve(plain_registry_request).digest == digest_of(AMD64_BODY)
    (token,) = fake.token_requests()
    assert token.url.scheme == "https" and token.url.host == "auth.example"
    assert token.headers["authorization"].startswith("Basic ")


def test_an_anonymous_token_may_come_from_a_plain_http_realm_elsewhere(
    fake: FakeRegistry, plain_registry_request: ResolveRequest
) -> None:
    fake.realm = "http://auth.example/token"
    with client(fake, None) as c:
        assert c.resolve(plain_registry_request).digest == digest_of(AMD64_BODY)
    (token,) = fake.token_requests()
    assert "authorization" not in token.headers


def test_a_secure_registry_never_takes_a_plain_http_realm(fake: FakeRegistry) -> None:
    fake.realm = "http://reg.example/token"  # even on its own host
    with client(fake, BASIC) as c, pytest.raises(ResolveError) as info:
        c.resolve(req("reg.example/app:v1"))
    assert info.value.reason == "Unauthorized"
    assert "http://reg.example" in info.value.message
    assert fake.token_requests() == []
