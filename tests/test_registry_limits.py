"""RegistryClient limits and auth edge cases against the scripted registry of
test_registry_faults (httpx.MockTransport): 429 + Retry-After (seconds and HTTP-date, capped),
5xx bursts and connection errors with backoff, the circuit breaker, RateLimit-* headers,
per-registry concurrency and rate caps, Basic auth, token re-challenge and insufficient_scope,
tag listing pagination, and secrets kept out of logs. Time is a fake clock: nothing here
sleeps for real or asserts wall-clock durations."""

from __future__ import annotations

import base64
import email.utils
import logging
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from test_registry_faults import (
    AMD64_BODY,
    REGISTRY,
    TOKEN,
    FakeRegistry,
    digest_of,
    manifest,
)
from test_registry_faults import req as any_req

from reconciler.core.references import parse_image_reference
from reconciler.core.secrets import Secret
from reconciler.registry.auth import TokenCache
from reconciler.registry.client import RegistryClient
from reconciler.registry.credentials import AuthConfig, Credential, CredentialStore
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import RegistryLimits, parse_rate_limit, parse_retry_after
from reconciler.registry.models import Resolved, ResolveRequest

PASSWORD = "pw-Secret-5be1"
WALL = 1_700_000_000.0


def req(text: str, **kwargs: object) -> ResolveRequest:
    """A request for a tag whose digest is pinned already: the steady state, one HEAD per
    resolve, so the counts below are the limits' doing alone."""
    tag = text.rsplit(":", 1)[1]
    body = AMD64_BODY if tag == "v1" else manifest(tag)
    return any_req(text, known_digest=digest_of(body), **kwargs)


def fails(call: Callable[..., object], *args: object, **kwargs: object) -> ResolveError:
    with pytest.raises(ResolveError) as info:
        call(*args, **kwargs)
    return info.value


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    registry.add("app", "v1", AMD64_BODY)
    for i in range(20):
        registry.add("app", f"t{i}", manifest(f"t{i}"))
    return registry


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(fake: FakeRegistry, clock: FakeClock, **kwargs: object) -> RegistryClient:
    return RegistryClient(
        max_concurrency=kwargs.pop("max_concurrency", 4),  # type: ignore[arg-type]
        transport=httpx.MockTransport(fake),
        clock=clock.monotonic,
        sleep=clock.sleep,
        wall_clock=lambda: WALL + clock.now,
        jitter=lambda: 0.5,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def tokens() -> TokenCache:
    return TokenCache()


@pytest.fixture
def client(fake: FakeRegistry, clock: FakeClock, tokens: TokenCache) -> Iterator[RegistryClient]:
    with make_client(fake, clock, tokens=tokens) as c:
        yield c


def registry_requests(fake: FakeRegistry) -> list[httpx.Request]:
    return [r for r in fake.seen if r.url.host == REGISTRY]


def failing_first(n: int, response: httpx.Response | Exception) -> object:
    count = [0]

    def hook(request: httpx.Request) -> httpx.Response | None:
        if request.url.host != REGISTRY or count[0] >= n:
            return None
        count[0] += 1
        if isinstance(response, Exception):
            raise response
        return response

    return hook


# -- 429 and Retry-After ----------------------------------------------------------------------


def test_429_retry_after_seconds_is_waited_then_succeeds(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    fake.hooks.append(failing_first(2, httpx.Response(429, headers={"Retry-After": "7"})))  # type: ignore[arg-type]
    assert client.resolve(req("reg.example/app:v1")).digest == digest_of(AMD64_BODY)
    assert len(registry_requests(fake)) == 3
    assert clock.sleeps == [7.0, 7.0]


def test_429_retry_after_http_date(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    when = email.utils.formatdate(WALL + clock.now + 12, usegmt=True)
    fake.hooks.append(failing_first(1, httpx.Response(429, headers={"Retry-After": when})))  # type: ignore[arg-type]
    assert client.resolve(req("reg.example/app:v1")).digest == digest_of(AMD64_BODY)
    assert clock.sleeps == [pytest.approx(12.0, abs=1.0)]


def test_429_retry_after_beyond_cap_fails_fast_for_the_whole_host(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    fake.hooks.append(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}))
    error = fails(client.resolve, req("reg.example/app:v1"))
    assert (error.reason, error.retryable) == ("TooManyRequests", True)
    assert "3600" in error.message and REGISTRY in error.message
    assert len(registry_requests(fake)) == 1
    # Every other tag on that registry now fails without a request until the pause ends.
    results = client.resolve_many([req(f"reg.example/app:t{i}") for i in range(10)])
    assert all(
        isinstance(v, ResolveError) and v.reason == "TooManyRequests" for v in results.values()
    )
    assert len(registry_requests(fake)) == 1
    assert clock.sleeps == []


def test_429_without_retry_after_backs_off_and_gives_up(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    fake.hooks.append(lambda r: httpx.Response(429))
    error = fails(client.resolve, req("reg.example/app:v1"))
    assert error.reason == "TooManyRequests"
    assert len(registry_requests(fake)) == 4  # 1 + max_retries
    # Exponential with (fixed) jitter: 0.25 * 2^k * 0.75.
    assert clock.sleeps == pytest.approx([0.1875, 0.375, 0.75])


# -- 5xx, connection errors, circuit ---------------------------------------------------------


def test_5xx_burst_is_retried_with_backoff(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    fake.hooks.append(failing_first(3, httpx.Response(503)))  # type: ignore[arg-type]
    assert client.resolve(req("reg.example/app:v1")).digest == digest_of(AMD64_BODY)
    assert len(registry_requests(fake)) == 4
    assert clock.sleeps == pytest.approx([0.1875, 0.375, 0.75])


def test_connection_errors_are_retried(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    fake.hooks.append(failing_first(2, httpx.ConnectError("refused")))  # type: ignore[arg-type]
    assert isinstance(client.resolve(req("reg.example/app:v1")), Resolved)
    assert len(clock.sleeps) == 2


def test_backoff_jitter_bounds() -> None:
    from reconciler.registry.limits import backoff_delay

    limits = RegistryLimits(backoff_base=1.0, backoff_cap=5.0)
    assert backoff_delay(0, limits, lambda: 0.0) == 0.5
    assert backoff_delay(0, limits, lambda: 1.0) == 1.0
    assert backoff_delay(2, limits, lambda: 0.0) == 2.0
    assert backoff_delay(10, limits, lambda: 1.0) == 5.0  # capped


def test_failing_registry_is_backed_off_as_a_whole(fake: FakeRegistry, clock: FakeClock) -> None:
    fake.hooks.append(lambda r: httpx.Response(503) if r.url.host == REGISTRY else None)
    with make_client(fake, clock, max_concurrency=4) as client:
        results = client.resolve_many([req(f"reg.example/app:t{i}") for i in range(20)])
        assert all(
            isinstance(v, ResolveError) and v.reason == "RegistryUnavailable"
            for v in results.values()
        )
        # 20 tags x 4 attempts would be 80 requests; the circuit stops it after 5 failures
        # (plus what was already admitted on the other threads).
        assert len(registry_requests(fake)) <= 5 + 3
        backed_off = [v for v in results.values() if "backed off" in str(v)]
        assert backed_off
        status = client.registry_status()[REGISTRY]
        assert status["circuit_open"] is True

        # After the cooldown one probe goes out; the registry is healthy again: closed.
        fake.hooks.clear()
        clock.now += 31
        seen = len(registry_requests(fake))
        assert isinstance(client.resolve(req("reg.example/app:t1")), Resolved)
        assert len(registry_requests(fake)) == seen + 1
        assert client.registry_status()[REGISTRY]["circuit_open"] is False


def test_failed_probe_reopens_with_longer_cooldown(fake: FakeRegistry, clock: FakeClock) -> None:
    fake.hooks.append(lambda r: httpx.Response(500))
    limits = RegistryLimits(max_retries=0, circuit_threshold=2, circuit_cooldown=10)
    with make_client(fake, clock, default_limits=limits) as client:
        for _ in range(3):
            fails(client.resolve, req("reg.example/app:v1"))
        assert len(registry_requests(fake)) == 2
        clock.now += 11
        fails(client.resolve, req("reg.example/app:v1"))  # the probe
        assert len(registry_requests(fake)) == 3
        clock.now += 11  # the cooldown doubled to 20 s
        error = fails(client.resolve, req("reg.example/app:v1"))
        assert "backed off" in error.message
        assert len(registry_requests(fake)) == 3


def test_ratelimit_headers_are_recorded(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    def with_headers(r: httpx.Request) -> httpx.Response | None:
        if r.method == "HEAD":
            return httpx.Response(
                200,
                headers={
                    "Content-Type": "application/vnd.oci.image.manifest.v1+json",
                    "Docker-Content-Digest": digest_of(AMD64_BODY),
                    "RateLimit-Limit": "100;w=21600",
                    "RateLimit-Remaining": "76;w=21600",
                },
            )
        return None

    fake.hooks.append(with_headers)
    client.resolve(req("reg.example/app:v1"))
    info = client.rate_limit(REGISTRY)
    assert info is not None
    assert (info.limit, info.remaining, info.window_seconds) == (100, 76, 21600)


def test_parse_helpers() -> None:
    assert parse_retry_after("120", WALL) == 120
    assert parse_retry_after("soon", WALL) is None
    assert parse_retry_after(None, WALL) is None
    past = email.utils.formatdate(WALL - 100, usegmt=True)
    assert parse_retry_after(past, WALL) == 0
    info = parse_rate_limit({"ratelimit": "limit=10, remaining=3, reset=40"}, 0.0)
    assert info is not None and (info.limit, info.remaining, info.reset_seconds) == (10, 3, 40)
    assert parse_rate_limit({}, 0.0) is None


# -- concurrency and rate caps ----------------------------------------------------------------


def test_per_registry_concurrency_cap(fake: FakeRegistry, clock: FakeClock) -> None:
    in_flight = [0]
    peak = [0]
    lock = threading.Lock()
    entered = threading.Event()

    def track(r: httpx.Request) -> None:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        entered.set()
        time.sleep(0.002)  # hold the slot briefly so overlaps can happen
        with lock:
            in_flight[0] -= 1

    fake.hooks.append(lambda r: track(r))  # type: ignore[func-returns-value]
    limits = {REGISTRY: RegistryLimits(max_concurrency=2)}
    with make_client(fake, clock, max_concurrency=8, limits=limits) as client:
        results = client.resolve_many([req(f"reg.example/app:t{i}") for i in range(20)])
    assert all(isinstance(v, Resolved) for v in results.values())
    assert 1 <= peak[0] <= 2


def test_per_registry_rate_cap_spaces_requests(fake: FakeRegistry, clock: FakeClock) -> None:
    limits = {REGISTRY: RegistryLimits(requests_per_second=10)}
    with make_client(fake, clock, max_concurrency=1, limits=limits) as client:
        for i in range(5):
            client.resolve(req(f"reg.example/app:t{i}"))
    assert clock.sleeps == pytest.approx([0.1] * 4)


def test_limits_validation() -> None:
    with pytest.raises(ValueError):
        RegistryLimits(max_concurrency=0)
    with pytest.raises(ValueError):
        RegistryLimits(requests_per_second=0)


# -- auth -------------------------------------------------------------------------------------


def store_with(registry: str, password: str = PASSWORD) -> CredentialStore:
    credential = Credential("alice", Secret(password), "test config auths[reg.example]")
    return CredentialStore([AuthConfig("test config", {registry: credential})])


def test_basic_auth_challenge_then_preemptive(fake: FakeRegistry, clock: FakeClock) -> None:
    expected = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()

    def basic(r: httpx.Request) -> httpx.Response | None:
        if r.url.host == REGISTRY and r.headers.get("authorization") != expected:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="reg"'})
        return None

    fake.hooks.append(basic)
    with make_client(fake, clock, credentials=store_with(REGISTRY)) as client:
        for i in range(5):
            assert isinstance(client.resolve(req(f"reg.example/app:t{i}")), Resolved)
    unauthenticated = [r for r in registry_requests(fake) if "authorization" not in r.headers]
    assert len(unauthenticated) == 1  # only the first: Basic is sent up front afterwards


def test_basic_auth_not_sent_across_a_redirect(fake: FakeRegistry, clock: FakeClock) -> None:
    def flow(r: httpx.Request) -> httpx.Response | None:
        if r.url.host == "cdn.example":
            return httpx.Response(
                200,
                headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
                content=AMD64_BODY,
            )
        if "authorization" not in r.headers:
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="reg"'})
        if r.method == "GET":
            return httpx.Response(307, headers={"Location": "https://cdn.example/m"})
        return None

    fake.head_digest = False
    fake.hooks.append(flow)
    with make_client(fake, clock, credentials=store_with(REGISTRY)) as client:
        assert client.resolve(req("reg.example/app:v1")).digest == digest_of(AMD64_BODY)
    cdn = [r for r in fake.seen if r.url.host == "cdn.example"]
    assert len(cdn) == 1 and "authorization" not in cdn[0].headers


def test_credentials_for_another_registry_are_not_used(
    fake: FakeRegistry, clock: FakeClock
) -> None:
    fake.hooks.append(
        lambda r: httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="reg"'})
    )
    with make_client(fake, clock, credentials=store_with("other.example")) as client:
        error = fails(client.resolve, req("reg.example/app:v1"))
    assert "no credentials are configured for reg.example/app" in error.message
    assert all("authorization" not in r.headers for r in fake.seen)


def seed_token(tokens: TokenCache, value: str) -> None:
    """A token cached by an earlier pass (the client's own cache entry for app pulls)."""
    tokens.put(("reg.example", "repository:app:pull", ()), Secret(f"Bearer {value}"), float("inf"))


def test_revoked_cached_token_is_refetched_once(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient, tokens: TokenCache
) -> None:
    fake.require_token = True
    seed_token(tokens, "tok-revoked")
    assert isinstance(client.resolve(req("reg.example/app:v1")), Resolved)
    assert len(fake.token_requests()) == 1
    auth = [r.headers.get("authorization") for r in registry_requests(fake)]
    assert auth == ["Bearer tok-revoked", f"Bearer {TOKEN}"]


def test_fresh_token_refused_is_not_fetched_again(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient
) -> None:
    fake.require_token = True
    fake.token_body = {"token": "never-accepted"}
    error = fails(client.resolve, req("reg.example/app:v1"))
    assert error.reason == "Unauthorized"
    assert len(fake.token_requests()) == 1


def test_token_early_refresh(fake: FakeRegistry, clock: FakeClock, client: RegistryClient) -> None:
    fake.require_token = True
    fake.token_body = {"token": TOKEN, "expires_in": 300}
    client.resolve(req("reg.example/app:v1"))
    clock.now += 269  # refreshed 10% early: still good
    client.resolve(req("reg.example/app:v1"))
    assert len(fake.token_requests()) == 1
    clock.now += 2
    client.resolve(req("reg.example/app:v1"))
    assert len(fake.token_requests()) == 2


def test_insufficient_scope_rechallenge_uses_the_scope_asked(
    fake: FakeRegistry, clock: FakeClock, client: RegistryClient, tokens: TokenCache
) -> None:
    wide = "repository:app:pull repository:base:pull"

    def scoped(r: httpx.Request) -> httpx.Response | None:
        if r.url.host == "auth.example":
            good = r.url.params.get("scope") == wide
            return httpx.Response(200, json={"token": TOKEN if good else "narrow"})
        if r.headers.get("authorization") == "Bearer narrow":
            return httpx.Response(
                403,
                headers={
                    "WWW-Authenticate": 'Bearer realm="https://auth.example/token",'
                    f'service="{REGISTRY}",scope="{wide}",error="insufficient_scope"'
                },
            )
        return None

    fake.require_token = True
    fake.hooks.append(scoped)
    seed_token(tokens, "narrow")  # as cached by an earlier pass
    assert isinstance(client.resolve(req("reg.example/app:v1")), Resolved)
    assert [r.url.params["scope"] for r in fake.token_requests()] == [wide]


def test_multiple_challenges_prefer_bearer(fake: FakeRegistry, clock: FakeClock) -> None:
    def challenge(r: httpx.Request) -> httpx.Response | None:
        if r.url.host == REGISTRY and "authorization" not in r.headers:
            return httpx.Response(
                401,
                headers={
                    "WWW-Authenticate": 'Basic realm="x", Bearer realm="https://auth.example/token",service="reg.example"'
                },
            )
        return None

    fake.require_token = True
    fake.hooks.append(challenge)
    with make_client(fake, clock) as client:
        assert isinstance(client.resolve(req("reg.example/app:v1")), Resolved)


def test_secrets_never_logged(
    fake: FakeRegistry, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.require_token = True
    fake.hooks.append(failing_first(1, httpx.Response(503)))  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    with make_client(fake, clock, credentials=store_with(REGISTRY)) as client:
        client.resolve(req("reg.example/app:v1"))
    token_request = fake.token_requests()[0]
    assert token_request.headers["authorization"].startswith("Basic ")
    assert caplog.records  # debug logging did happen
    assert PASSWORD not in caplog.text and TOKEN not in caplog.text
    assert base64.b64encode(f"alice:{PASSWORD}".encode()).decode() not in caplog.text


# -- tag listing --------------------------------------------------------------------------------


def tag_pages(pages: dict[str, tuple[list[str], str | None]]) -> object:
    def hook(r: httpx.Request) -> httpx.Response | None:
        if r.url.host != REGISTRY or not r.url.path.endswith("/tags/list"):
            return None
        key = r.url.params.get("last", "")
        tags, link = pages[key]
        headers = {"Link": link} if link else {}
        return httpx.Response(200, json={"name": "app", "tags": tags}, headers=headers)

    return hook


def test_list_tags_follows_link_pagination(fake: FakeRegistry, client: RegistryClient) -> None:
    fake.hooks.append(
        tag_pages(  # type: ignore[arg-type]
            {
                "": (["a", "b"], '</v2/app/tags/list?n=2&last=b>; rel="next"'),
                "b": (["c", "d"], '<https://reg.example/v2/app/tags/list?n=2&last=d>; rel="next"'),
                "d": (["e"], None),
            }
        )
    )
    ref = parse_image_reference("reg.example/app")
    assert client.list_tags(ref, page_size=2) == ["a", "b", "c", "d", "e"]
    assert client.list_tags(ref, limit=3) == ["a", "b", "c"]


def test_list_tags_refuses_link_to_another_host_or_scheme(
    fake: FakeRegistry, client: RegistryClient
) -> None:
    ref = parse_image_reference("reg.example/app")
    for link in (
        '<https://evil.example/v2/app/tags/list?last=b>; rel="next"',
        '<http://reg.example/v2/app/tags/list?last=b>; rel="next"',
    ):
        fake.hooks[:] = [tag_pages({"": (["a", "b"], link)})]  # type: ignore[list-item]
        error = fails(client.list_tags, ref)
        assert error.reason == "InvalidResponse" and "pagination" in error.message
    assert all(r.url.host == REGISTRY for r in fake.seen)
