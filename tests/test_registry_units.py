"""The registry shell's parts on their own: the auth flow driven by hand (a challenge is
answered without a socket, and works the same under a plain ``httpx.Client``), and where
registry failures sit in the program's exception tree."""

from __future__ import annotations

import httpx
import pytest

from reconciler.core.errors import (
    ConfigurationError,
    PermanentError,
    ReconcilerError,
    TransientError,
)
from reconciler.core.references import parse_image_reference
from reconciler.registry import errors as e
from reconciler.registry.auth import TOKEN_FETCH, RegistryAuth, TokenCache
from reconciler.registry.credentials import CredentialsError
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import GateClosed
from reconciler.registry.targets import target_for

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="https://auth.example/token",service="reg.example"'}


def auth_for(tokens: TokenCache, now: float = 100.0) -> RegistryAuth:
    target = target_for(parse_image_reference("reg.example/app:v1"), False, ())
    return RegistryAuth(
        target, tokens=tokens, credentials=None, clock=lambda: now, user_agent="test"
    )


def manifest_request() -> httpx.Request:
    return httpx.Request("HEAD", "https://reg.example/v2/app/manifests/v1")


def test_flow_answers_a_challenge_without_a_socket() -> None:
    tokens = TokenCache()
    flow = auth_for(tokens).auth_flow(manifest_request())
    first = next(flow)
    assert "authorization" not in first.headers
    fetch = flow.send(httpx.Response(401, headers=CHALLENGE, request=first))
    assert fetch.extensions[TOKEN_FETCH] is True
    assert (fetch.url.host, fetch.url.params["scope"]) == ("auth.example", "repository:app:pull")
    again = flow.send(httpx.Response(200, json={"token": "t1"}, request=fetch))
    assert again is not first  # what went out stays as it went out
    assert again.headers["authorization"] == "Bearer t1"
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200, request=again))
    # The next flow starts with the cached token and asks for nothing else.
    cached = next(auth_for(tokens).auth_flow(manifest_request()))
    assert cached.headers["authorization"] == "Bearer t1"


def test_flow_refuses_a_second_challenge() -> None:
    flow = auth_for(TokenCache()).auth_flow(manifest_request())
    first = next(flow)
    fetch = flow.send(httpx.Response(401, headers=CHALLENGE, request=first))
    again = flow.send(httpx.Response(200, json={"token": "t1"}, request=fetch))
    with pytest.raises(ResolveError) as info:
        flow.send(httpx.Response(401, headers=CHALLENGE, request=again))
    assert info.value.reason == e.UNAUTHORIZED


def test_flow_works_under_a_plain_httpx_client() -> None:
    def registry(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            return httpx.Response(200, json={"token": "t1"})
        if request.headers.get("authorization") != "Bearer t1":
            return httpx.Response(401, headers=CHALLENGE)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(registry)) as client:
        response = client.head(
            "https://reg.example/v2/app/manifests/v1", auth=auth_for(TokenCache())
        )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("reason", "retryable"),
    [
        (e.REGISTRY_UNAVAILABLE, True),
        (e.TIMEOUT, True),
        (e.TOO_MANY_REQUESTS, True),
        (e.NOT_FOUND, False),
        (e.UNAUTHORIZED, False),
        (e.FORBIDDEN, False),
        (e.DIGEST_MISMATCH, False),
        (e.INVALID_RESPONSE, False),
        (e.UNSUPPORTED_MEDIA_TYPE, False),
        (e.NO_MATCHING_PLATFORM, False),
        (e.BAD_REQUEST, False),
        (e.TLS_VERIFICATION_FAILED, False),
    ],
)
def test_resolve_error_is_a_reconciler_error_retryable_by_reason(
    reason: str, retryable: bool
) -> None:
    error = ResolveError(reason, "reg.example/app: detail", registry="reg.example")
    assert isinstance(error, ReconcilerError)
    assert error.retryable is retryable
    assert str(error) == f"{reason}: reg.example/app: detail"
    assert error.message == "reg.example/app: detail"


def test_other_registry_failures_sit_on_their_branch() -> None:
    assert isinstance(CredentialsError("auth.json: not JSON"), ConfigurationError)
    closed = GateClosed(e.REGISTRY_UNAVAILABLE, "reg.example is backed off")
    assert isinstance(closed, TransientError) and closed.retryable
    assert not isinstance(closed, PermanentError)
    assert (closed.reason, closed.detail, str(closed)) == (
        e.REGISTRY_UNAVAILABLE,
        "reg.example is backed off",
        "reg.example is backed off",
    )
