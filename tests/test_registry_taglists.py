"""Cheap tag listing (issue 9 part 2): pagination by ``n``/``Link``/``last``, one listing per
repository per pass, the per-page cache (validators and 304s, the max-age rule without
them), the request budget per registry per pass, the on-disk cache of the CLI and what a
hostile cache file cannot do.

A scripted registry (``TagServer``, an httpx MockTransport handler speaking the distribution
spec's tag list protocol) plays what the real ``docker-registry`` 2.8 cannot: paginating,
clamping ``n``, sending ``ETag``/``Last-Modified`` and answering 304. What the real one does
(ignore ``n`` and ``last``, send no validators) is in ``test_registry_taglists_real.py``.
Every figure asserted is a request count; time is a fake clock."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from reconciler.registry.limits import RegistryLimits
from reconciler.registry.tagcache import FILE_NAME, TagListCache

REGISTRY = "reg.example"
REF = parse_image_reference(f"{REGISTRY}/app")
START = 1_800_000_000.0


@dataclass
class TagServer:
    """``/v2/app/tags/list`` as the spec says (lexical order, ``n``, ``last``, ``Link``),
    with knobs for what registries differ in."""

    tags: list[str]
    max_n: int | None = None  # clamp n, as distribution 3.1 does (maxtags)
    link: bool = True  # False: an older registry, exactly n and no Link
    honour_n: bool = True  # False: distribution 2.8, every tag in one answer
    etag: bool = False
    last_modified: bool = False
    extra_headers: dict[str, str] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    modified: str = "Tue, 01 Dec 2026 10:00:00 GMT"

    def add(self, *tags: str) -> None:
        self.tags.extend(tags)
        self.modified = "Tue, 01 Dec 2026 11:00:00 GMT"

    @property
    def requests(self) -> int:
        return len(self.seen)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(request)
        assert request.url.host == REGISTRY and request.url.path == "/v2/app/tags/list"
        ordered = sorted(self.tags)
        n_text = request.url.params.get("n")
        last = request.url.params.get("last")
        if self.honour_n and last:
            ordered = [t for t in ordered if t > last]
        headers = dict(self.extra_headers)
        page = ordered
        if self.honour_n and n_text is not None:
            n = int(n_text)
            if self.max_n is not None:
                n = min(n, self.max_n)
            page = ordered[:n]
            if len(ordered) > n and self.link:
                headers["Link"] = f'</v2/app/tags/list?n={n}&last={page[-1]}>; rel="next"'
        body = json.dumps({"name": "app", "tags": page}).encode()
        tag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if self.etag:
            headers["ETag"] = tag
            if request.headers.get("if-none-match") == tag:
                return httpx.Response(304, headers=headers)
        if self.last_modified:
            headers["Last-Modified"] = self.modified
            if request.headers.get("if-modified-since") == self.modified:
                return httpx.Response(304, headers=headers)
        headers["Content-Type"] = "application/json"
        return httpx.Response(200, content=body, headers=headers)


class WallClock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall() -> WallClock:
    return WallClock()


def client_for(
    server: TagServer,
    wall: WallClock,
    *,
    budget: int | None = None,
    max_age: float = 900.0,
    cache: TagListCache | None = None,
) -> RegistryClient:
    return RegistryClient(
        transport=httpx.MockTransport(server),
        wall_clock=wall,
        sleep=lambda _: None,
        tag_lists=cache,
        tag_list_budget=budget,
        tag_list_max_age=max_age,
    )


def tag_names(count: int) -> list[str]:
    return [f"1.{i // 100}.{i % 100}" for i in range(count)]


# -- pagination --------------------------------------------------------------------------------


def test_link_pagination_takes_one_request_per_page(wall: WallClock) -> None:
    server = TagServer(tag_names(25))
    with client_for(server, wall) as client:
        assert client.list_tags(REF, page_size=10) == sorted(tag_names(25))
    assert server.requests == 3
    ordered = sorted(tag_names(25))
    assert [r.url.params.get("last") for r in server.seen] == [None, ordered[9], ordered[19]]


def test_a_registry_clamping_n_is_followed_by_its_links(wall: WallClock) -> None:
    server = TagServer(tag_names(25), max_n=5)
    with client_for(server, wall) as client:
        listing = client.list_tags_detail(REF, page_size=1000)
    assert listing.tags == tuple(sorted(tag_names(25)))
    assert (listing.pages, listing.requests, server.requests) == (5, 5, 5)


def test_without_link_exactly_n_tags_continue_after_the_last(wall: WallClock) -> None:
    """The spec: fewer than n only at the end or with a Link. An older registry that
    paginates but sends no Link is followed with ``last``."""
    server = TagServer(tag_names(25), link=False)
    with client_for(server, wall) as client:
        assert client.list_tags(REF, page_size=10) == sorted(tag_names(25))
    assert server.requests == 3


def test_a_registry_ignoring_n_and_last_is_asked_twice_at_most(wall: WallClock) -> None:
    """distribution 2.8 answers every tag whatever n and last say: more than n is the whole
    list; exactly n is asked once more with last, and the repeat ends it."""
    many = TagServer(tag_names(25), honour_n=False)
    with client_for(many, wall) as client:
        assert sorted(client.list_tags(REF, page_size=10)) == sorted(tag_names(25))
    assert many.requests == 1
    exact = TagServer(tag_names(10), honour_n=False)
    with client_for(exact, wall) as client:
        assert sorted(client.list_tags(REF, page_size=10)) == sorted(tag_names(10))
    assert exact.requests == 2


def test_a_link_loop_is_refused(wall: WallClock) -> None:
    def looping(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"tags": [f"t{request.url.params.get('last', '0')}"]},
            headers={"Link": '</v2/app/tags/list?last=x>; rel="next"'},
        )

    with (
        RegistryClient(transport=httpx.MockTransport(looping), wall_clock=wall) as client,
        pytest.raises(ResolveError) as info,
    ):
        client.list_tags(REF)
    assert info.value.reason == "InvalidResponse" and "leads back" in info.value.message


# -- once per pass -----------------------------------------------------------------------------


def test_a_listing_has_a_bounded_number_of_tags(
    wall: WallClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages are capped in bytes (8 MiB, some 1,000,000 short names each) and in number, but not
    their sum: a registry paginating unique names made one listing hold gigabytes (the
    budget of 100 pages: ~100 million names). Past
    MAX_LISTING_TAGS the listing fails InvalidResponse (the last good digest stays)."""
    from reconciler.registry import taglists

    monkeypatch.setattr(taglists, "MAX_LISTING_TAGS", 50)
    server = TagServer(tag_names(100), max_n=20)
    with client_for(server, wall) as client, pytest.raises(ResolveError) as info:
        client.list_tags(REF, page_size=20)
    assert info.value.reason == "InvalidResponse"
    assert "longer than 50 tags" in info.value.message
    assert server.requests == 3
    small = TagServer(tag_names(40), max_n=20)
    with client_for(small, wall) as client:
        assert len(client.list_tags(REF, page_size=20)) == 40


def test_a_repository_is_listed_once_per_pass_however_many_ask(wall: WallClock) -> None:
    server = TagServer(tag_names(25))
    with client_for(server, wall, max_age=0) as client:
        results: list[list[str]] = []
        threads = [
            threading.Thread(target=lambda: results.append(client.list_tags(REF, page_size=10)))
            for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 20 and all(r == sorted(tag_names(25)) for r in results)
        assert server.requests == 3
        # A failure is the pass's answer too: asked once.
        server.tags.append("1.9.9")
        client.begin_pass()
        wall.now += 1
        assert len(client.list_tags(REF, page_size=10)) == 26
        assert server.requests == 6  # max age 0: a new pass asks again


# -- validators, 304 and the max-age rule ------------------------------------------------------


def test_etag_makes_the_next_listing_conditional(wall: WallClock) -> None:
    server = TagServer(tag_names(25), etag=True)
    with client_for(server, wall, max_age=60) as client:
        client.list_tags(REF, page_size=10)
        client.begin_pass()
        wall.now += 30  # fresh: no request at all
        assert client.list_tags(REF, page_size=10) == sorted(tag_names(25))
        assert server.requests == 3
        client.begin_pass()
        wall.now += 60  # expired: asked again, conditionally, and nothing changed
        listing = client.list_tags_detail(REF, page_size=10)
        assert (listing.requests, listing.not_modified) == (3, 3)
        assert all(r.headers.get("if-none-match") for r in server.seen[3:])
        assert client.tag_list_status()[REGISTRY]["not_modified"] == 3
        server.add("1.0.99")  # lands on the last page only
        client.begin_pass()
        wall.now += 60
        listing = client.list_tags_detail(REF, page_size=10)
        assert "1.0.99" in listing.tags and (listing.requests, listing.not_modified) == (3, 2)


def test_last_modified_makes_the_next_listing_conditional(wall: WallClock) -> None:
    server = TagServer(tag_names(5), last_modified=True)
    with client_for(server, wall, max_age=0) as client:
        client.list_tags(REF)
        client.begin_pass()
        wall.now += 1
        assert client.list_tags_detail(REF).not_modified == 1
    assert server.seen[-1].headers["if-modified-since"] == server.modified


def test_without_validators_a_list_is_asked_again_once_it_is_max_age_old(
    wall: WallClock,
) -> None:
    server = TagServer(tag_names(25))
    with client_for(server, wall, max_age=900) as client:
        client.list_tags(REF, page_size=10)
        for _ in range(3):  # passes within the interval: nothing asked
            client.begin_pass()
            wall.now += 250
            client.list_tags(REF, page_size=10)
        assert server.requests == 3
        client.begin_pass()
        wall.now += 250  # 1000 s after the first listing
        listing = client.list_tags_detail(REF, page_size=10)
        assert (listing.requests, listing.not_modified) == (3, 0)
        assert not any(r.headers.get("if-none-match") for r in server.seen)


def test_a_push_notification_forgets_the_cached_list(wall: WallClock) -> None:
    server = TagServer(tag_names(5))
    with client_for(server, wall) as client:
        client.list_tags(REF)
        server.tags.append("2.0.0")
        assert client.invalidate_tag_list(REGISTRY, "app") == 1
        client.begin_pass()
        assert "2.0.0" in client.list_tags(REF)
    assert server.requests == 2


# -- the request budget ------------------------------------------------------------------------


def test_ten_thousand_tags_cost_a_bounded_number_of_requests_per_pass(
    wall: WallClock,
) -> None:
    """The README's figures: n=1000 against a registry that honours it is 10 requests to
    list 10,000 tags; a pass within the max age asks nothing; one after it asks each page
    once more, conditionally (304s) when the registry sends validators."""
    server = TagServer(tag_names(10_000), etag=True)
    with client_for(server, wall, budget=12, max_age=900) as client:
        first = client.list_tags_detail(REF, page_size=1000)
        assert (len(first.tags), first.requests) == (10_000, 10)
        counts = []
        for _ in range(4):
            client.begin_pass()
            wall.now += 450
            counts.append(client.list_tags_detail(REF, page_size=1000).requests)
        assert counts == [0, 10, 0, 10]
        assert server.requests == 30


def test_once_the_budget_is_spent_stale_pages_are_used_and_a_note_says_so(
    wall: WallClock,
) -> None:
    server = TagServer(tag_names(30))
    with client_for(server, wall, budget=2, max_age=60) as client:
        with pytest.raises(ResolveError):
            client.list_tags(REF, page_size=10)
        client.begin_pass()
        client.list_tags(REF, page_size=10)  # the third page: the list is whole now
        assert server.requests == 3
        client.begin_pass()
        wall.now += 120  # every page expired: the two oldest are asked again
        listing = client.list_tags_detail(REF, page_size=10)
        assert listing.requests == 2 and listing.stale_since == START
        assert len(listing.tags) == 30
        (note,) = client.listing_notes()
        assert "reg.example/app" in note and "budget of 2 tag-list requests" in note
        status = client.tag_list_status()[REGISTRY]
        assert (status["spent"], status["remaining"], status["fetched"], status["stale"]) == (
            2,
            0,
            2,
            1,
        )
        client.begin_pass()
        wall.now += 1  # the round-robin: the page left stale is asked now
        listing = client.list_tags_detail(REF, page_size=10)
        assert (listing.requests, listing.stale_since, len(listing.tags)) == (1, None, 30)
        assert client.listing_notes() == []


def test_a_list_that_moved_under_a_spent_budget_is_the_cached_one(wall: WallClock) -> None:
    """A new tag early in the list shifts every page after it (``last`` moves): with the
    budget spent before the new pages, the pass uses the whole list as cached, and the
    next pass goes on from the new pages it already has."""
    server = TagServer(tag_names(30))
    with client_for(server, wall, budget=3, max_age=60) as client:
        client.list_tags(REF, page_size=10)
        server.add("1.0.05")  # sorts into the first page
        client.begin_pass()
        wall.now += 120
        listing = client.list_tags_detail(REF, page_size=10)
        assert len(listing.tags) == 30 and listing.stale_since == START
        assert len(client.listing_notes()) == 1
        client.begin_pass()
        wall.now += 1
        listing = client.list_tags_detail(REF, page_size=10)
        assert "1.0.05" in listing.tags and len(listing.tags) == 31
        assert listing.stale_since is None
    assert server.requests == 3 + 3 + 1


def test_a_first_listing_longer_than_the_budget_goes_on_in_the_next_pass(
    wall: WallClock,
) -> None:
    server = TagServer(tag_names(100))
    with client_for(server, wall, budget=4, max_age=0) as client:
        outcomes: list[object] = []
        for _ in range(3):
            client.begin_pass()
            wall.now += 1000  # every page is past its max age at each pass
            try:
                outcomes.append(len(client.list_tags(REF, page_size=10)))
            except ResolveError as error:
                assert error.reason == "RequestBudgetSpent" and error.retryable
                outcomes.append(error.reason)
        # Pages already had are not asked again while the list is not whole.
        assert outcomes == ["RequestBudgetSpent", "RequestBudgetSpent", 100]
        assert server.requests == 10


def test_the_budget_is_per_registry_host(wall: WallClock) -> None:
    server = TagServer(tag_names(30))

    def two_hosts(request: httpx.Request) -> httpx.Response:
        url = request.url.copy_with(host=REGISTRY)
        return server(httpx.Request(request.method, url, headers=request.headers))

    with RegistryClient(
        transport=httpx.MockTransport(two_hosts), wall_clock=wall, tag_list_budget=3
    ) as client:
        client.list_tags(REF, page_size=10)
        client.list_tags(parse_image_reference("other.example/app"), page_size=10)
        assert set(client.tag_list_status()) == {REGISTRY, "other.example"}
    assert server.requests == 6


# -- the CLI's cache on disk -------------------------------------------------------------------


def test_the_cli_cache_file_carries_lists_to_the_next_run(tmp_path: Path, wall: WallClock) -> None:
    server = TagServer(tag_names(25), etag=True)
    path = tmp_path / FILE_NAME
    with client_for(server, wall, cache=TagListCache(path, clock=wall)) as client:
        client.list_tags(REF, page_size=10)
    assert path.is_file() and oct(path.stat().st_mode & 0o777) == "0o600"
    with client_for(server, wall, cache=TagListCache(path, clock=wall)) as client:
        assert client.list_tags(REF, page_size=10) == sorted(tag_names(25))
    assert server.requests == 3  # the second run asked nothing
    wall.now += 1000
    with client_for(server, wall, cache=TagListCache(path, clock=wall)) as client:
        assert client.list_tags_detail(REF, page_size=10).not_modified == 3


@pytest.fixture
def saved(tmp_path: Path, wall: WallClock) -> Iterator[tuple[Path, dict[str, object]]]:
    """A cache file as we write it, and its parsed contents to corrupt."""
    server = TagServer(tag_names(5), etag=True)
    path = tmp_path / FILE_NAME
    with client_for(server, wall, cache=TagListCache(path, clock=wall)) as client:
        client.list_tags(REF)
    yield path, json.loads(path.read_text())


def asks_the_registry(path: Path, wall: WallClock) -> bool:
    """Whether a run with the cache file at ``path`` asks the registry (ignored the file)."""
    server = TagServer(tag_names(5))
    with client_for(server, wall, cache=TagListCache(path, clock=wall)) as client:
        client.list_tags(REF)
    return server.requests == 1


def test_a_cache_file_as_written_is_used(
    saved: tuple[Path, dict[str, object]], wall: WallClock
) -> None:
    assert not asks_the_registry(saved[0], wall)


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda d: {**d, "format": 2}, id="another-format"),
        pytest.param(lambda d: [d], id="not-a-mapping"),
        pytest.param(lambda d: page(d, tags=["ok", "../../etc"]), id="a-name-that-is-no-tag"),
        pytest.param(lambda d: page(d, tags="1.0"), id="tags-not-a-list"),
        pytest.param(lambda d: page(d, etag='"x"\r\nX-Injected: 1'), id="header-injection"),
        pytest.param(lambda d: page(d, fetchedAt=START + 10**9), id="listed-in-the-future"),
        pytest.param(lambda d: page(d, fetchedAt=float("nan")), id="not-a-time"),
        pytest.param(lambda d: page(d, fetchedAt=True), id="a-boolean-time"),
        pytest.param(
            lambda d: page(d, next="https://evil.example/v2/app/tags/list?last=a"),
            id="next-elsewhere",
        ),
        pytest.param(lambda d: page(d, url="file:///etc/passwd"), id="not-a-tag-list-url"),
        pytest.param(lambda d: {**d, "pages": [{}] * 3}, id="empty-entries"),
        pytest.param(lambda d: {**d, "short": {"reg.example": "soon"}}, id="bad-round-robin"),
    ],
)
def test_a_corrupt_cache_file_is_ignored_as_a_whole(
    saved: tuple[Path, dict[str, object]], wall: WallClock, corrupt: object
) -> None:
    path, data = saved
    path.write_text(json.dumps(corrupt(data)))  # type: ignore[operator]
    assert asks_the_registry(path, wall)


def page(data: dict[str, object], **changes: object) -> dict[str, object]:
    pages = data["pages"]
    assert isinstance(pages, list)
    return {**data, "pages": [{**pages[0], **changes}]}


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\x00\xff garbage", id="binary"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        pytest.param(b'{"format": 1, "pages": [' + b"{}," * 30_000 + b"{}]}", id="too-many-pages"),
        pytest.param(b"\x80\x04\x95pickle", id="a-pickle"),
    ],
)
def test_garbage_in_the_cache_file_is_ignored(tmp_path: Path, wall: WallClock, raw: bytes) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(raw)
    assert asks_the_registry(path, wall)


def test_a_cache_file_that_is_a_fifo_or_a_symlink_is_not_read(
    saved: tuple[Path, dict[str, object]], tmp_path: Path, wall: WallClock
) -> None:
    path, _ = saved
    target = tmp_path / "elsewhere.json"
    path.rename(target)
    path.symlink_to(target)  # a good file behind a link: still not followed
    assert asks_the_registry(path, wall)
    path.unlink()
    os.mkfifo(path)  # reading a FIFO would block forever
    assert asks_the_registry(path, wall)


def test_a_cache_file_is_never_trusted_for_another_url_or_other_credentials(
    saved: tuple[Path, dict[str, object]], wall: WallClock
) -> None:
    path, _ = saved
    server = TagServer(tag_names(5))
    with client_for(server, wall, cache=TagListCache(path, clock=wall)) as client:
        client.list_tags(REF, pull_secrets=("team/pull",))
        client.list_tags(REF, page_size=3)
    assert server.requests == 3  # one, then the two pages of n=3


def test_a_cache_dir_that_cannot_be_written_is_no_error(tmp_path: Path, wall: WallClock) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    server = TagServer(tag_names(5))
    with client_for(server, wall, cache=TagListCache(blocker / FILE_NAME, clock=wall)) as client:
        assert len(client.list_tags(REF)) == 5


# -- RateLimit headers slow a host down before a 429 --------------------------------------------


class Sleeps:
    def __init__(self, wall: WallClock) -> None:
        self.wall = wall
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.wall.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.wall.now += seconds


def paced_client(
    server: TagServer, clock: Sleeps, max_age: float = 900.0, rate: float | None = None
) -> RegistryClient:
    """A client whose sleeps move the clock, so pacing shows as what it slept."""
    return RegistryClient(
        transport=httpx.MockTransport(server),
        wall_clock=clock.wall,
        clock=clock.monotonic,
        sleep=clock.sleep,
        tag_list_max_age=max_age,
        default_limits=RegistryLimits(requests_per_second=rate),
    )


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"RateLimit": '"default";r=4;t=40'}, id="ietf-structured"),
        pytest.param(
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "4", "RateLimit-Reset": "40"},
            id="ietf-fields",
        ),
    ],
)
def test_a_low_remaining_quota_spaces_requests_until_the_reset(
    wall: WallClock, headers: dict[str, str]
) -> None:
    server = TagServer(tag_names(40), extra_headers=headers)
    clock = Sleeps(wall)
    with paced_client(server, clock) as client:
        client.list_tags(REF, page_size=10)
        info = client.rate_limit(REGISTRY)
        assert info is not None and info.remaining == 4
        assert client.registry_status()[REGISTRY]["quota_paced"] == 2
    assert server.requests == 4
    # 4 left for 40 s: one now, then one start every 10 s.
    assert clock.slept == [10.0, 10.0]


def test_a_rate_cap_and_a_quota_make_one_schedule_not_two(wall: WallClock) -> None:
    """With --registry-rate 1 as well, each start waits for the wider of the two spacings."""
    server = TagServer(tag_names(40), extra_headers={"RateLimit": '"default";r=4;t=40'})
    clock = Sleeps(wall)
    with paced_client(server, clock, rate=1.0) as client:
        client.list_tags(REF, page_size=10)
    assert clock.slept == [1.0, 10.0, 10.0]


def test_a_quota_used_up_fails_fast_when_its_reset_is_far(wall: WallClock) -> None:
    """Docker Hub: ``ratelimit-remaining: 0;w=21600``. Waiting hours is not an option: the
    request fails TooManyRequests at once, without being sent, in a stable wording."""
    server = TagServer(
        tag_names(3),
        extra_headers={"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "0;w=21600"},
    )
    clock = Sleeps(wall)
    with paced_client(server, clock, max_age=0) as client:
        client.list_tags(REF)
        client.begin_pass()
        wall.now += 1  # asked again (max age 0), but the quota says no
        with pytest.raises(ResolveError) as info:
            client.list_tags(REF)
        assert info.value.reason == "TooManyRequests"
        assert "RateLimit-Remaining" in info.value.message and "0" not in info.value.message
        assert server.requests == 1
        # A reading is acted on for at most the Retry-After cap: then one request learns
        # the quota again (Docker Hub's HEADs go on answering).
        client.begin_pass()
        wall.now += 60
        assert len(client.list_tags(REF)) == 3
        assert server.requests == 2
    assert clock.slept == []


def test_a_quota_used_up_waits_for_a_near_reset(wall: WallClock) -> None:
    server = TagServer(tag_names(3), extra_headers={"RateLimit": '"default";r=0;t=5'})
    clock = Sleeps(wall)
    with paced_client(server, clock, max_age=0) as client:
        client.list_tags(REF)
        client.begin_pass()
        client.list_tags(REF)
    assert clock.slept == [5.0]
    assert server.requests == 2


def test_a_plentiful_quota_does_not_slow_anything(wall: WallClock) -> None:
    server = TagServer(tag_names(40), extra_headers={"ratelimit-remaining": "76;w=21600"})
    clock = Sleeps(wall)
    with paced_client(server, clock) as client:
        client.list_tags(REF, page_size=10)
    assert clock.slept == []


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"RateLimit-Remaining": "0", "RateLimit-Reset": "9" * 400}, id="reset"),
        pytest.param({"ratelimit-remaining": "1;w=" + "9" * 400}, id="window"),
        pytest.param({"RateLimit": '"d";r=' + "9" * 5000}, id="structured"),
        pytest.param({"RateLimit-Limit": "9" * 5000, "RateLimit-Remaining": "0"}, id="limit"),
    ],
)
def test_absurd_rate_limit_numbers_are_read_as_very_large_not_raised(
    wall: WallClock, headers: dict[str, str]
) -> None:
    """A number past a float (or past Python's 4,300-digit int limit) in a RateLimit
    header raised OverflowError or ValueError out of the client, which is no ResolveError:
    it took the whole pass down. It is read as a very large number: a far reset fails the
    request fast, a huge remaining paces nothing."""
    server = TagServer(tag_names(3), extra_headers=headers)
    clock = Sleeps(wall)
    with paced_client(server, clock, max_age=0) as client:
        client.list_tags(REF)
        client.begin_pass()
        wall.now += 1
        try:
            assert len(client.list_tags(REF)) == 3
        except ResolveError as error:
            assert error.reason == "TooManyRequests"
    assert clock.slept == []


def test_of_several_quotas_the_tightest_counts() -> None:
    from reconciler.registry.limits import parse_rate_limit

    info = parse_rate_limit(
        {
            "ratelimit": '"burst";r=50;t=1, "daily";r=3;t=3600',
            "ratelimit-policy": '"burst";q=100;w=1, "daily";q=1000;w=86400',
        },
        0.0,
    )
    assert info is not None
    assert (info.remaining, info.reset_seconds, info.limit, info.window_seconds) == (
        3,
        3600.0,
        100,
        1,
    )
    hub = parse_rate_limit({"ratelimit-remaining": "76;w=21600"}, 0.0)
    assert hub is not None and (hub.remaining, hub.window_seconds) == (76, 21600)


# -- configuration and metrics -------------------------------------------------------------------


def test_budget_and_max_age_from_flags_environment_and_defaults() -> None:
    from reconciler.config.settings import SettingsError, load_settings

    assert (load_settings({}).tag_list_budget, load_settings({}).tag_list_max_age) == (100, 0.0)
    env = {"RECONCILER_TAG_LIST_BUDGET": "12", "RECONCILER_TAG_LIST_MAX_AGE": "0"}
    settings = load_settings(env)
    assert (settings.tag_list_budget, settings.tag_list_max_age) == (12, 0.0)
    settings = load_settings(env, tag_list_budget=3, tag_list_max_age=60)
    assert (settings.tag_list_budget, settings.tag_list_max_age) == (3, 60.0)
    for bad in ({"RECONCILER_TAG_LIST_BUDGET": "0"}, {"RECONCILER_TAG_LIST_MAX_AGE": "-1"}):
        with pytest.raises(SettingsError, match="RECONCILER_TAG_LIST"):
            load_settings(bad)
    with pytest.raises(SettingsError, match="--tag-list-max-age"):
        load_settings({}, tag_list_max_age=float("inf"))


def test_the_cli_flags_reach_the_client(tmp_path: Path) -> None:
    import argparse

    from reconciler.cli import flags

    parser = argparse.ArgumentParser()
    flags.add_registry_flags(parser)
    args = parser.parse_args(
        ["--tag-list-budget", "7", "--tag-list-max-age", "30", "--cache-dir", str(tmp_path)]
    )
    settings = flags.settings_from_args(args)
    with flags.client_from_settings(settings) as client:
        assert client.tag_list_status() == {}
        assert (client._lister.budget, client._lister.max_age) == (7, 30.0)
        assert client._lister.cache.path == tmp_path / "taglists" / FILE_NAME


def test_the_daemon_config_sets_them_and_max_age_defaults_to_the_scheduled_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconciler.core.errors import ConfigurationError
    from reconciler.daemon.startup import _configuration

    for name in ("RECONCILER_TAG_LIST_BUDGET", "RECONCILER_TAG_LIST_MAX_AGE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "daemon.yaml"
    base = "repo: {url: /srv/git/images.git}\n"
    path.write_text(base + "imagePolicy: {ScheduledImageImportMinimumIntervalSeconds: 300}\n")
    _, settings = _configuration(path)
    assert (settings.tag_list_budget, settings.tag_list_max_age) == (100, 300.0)
    path.write_text(base + "registries: {tagListRequestsPerPass: 20, tagListMaxAgeSeconds: 3600}\n")
    _, settings = _configuration(path)
    assert (settings.tag_list_budget, settings.tag_list_max_age) == (20, 3600.0)
    path.write_text(base + "registries: {tagListRequestsPerPass: 0}\n")
    with pytest.raises(ConfigurationError, match="tagListRequestsPerPass"):
        _configuration(path)


def test_the_metrics_show_the_quota_and_the_budget_left(wall: WallClock) -> None:
    from reconciler.daemon import notifications
    from reconciler.daemon.metrics import Live, Metrics

    server = TagServer(tag_names(30), extra_headers={"RateLimit": '"default";r=57;t=30'})
    with client_for(server, wall, budget=5) as client:
        client.list_tags(REF, page_size=10)
        metrics = Metrics()
        metrics.tag_lists(client.tag_list_status())
        status = client.registry_status()
        metrics.bind(
            lambda: Live(
                ratelimit_remaining=notifications.ratelimit_remaining(status),
                tag_list_budget_remaining={REGISTRY: 2},
            )
        )
        text = metrics.render().decode()
    assert 'reconciler_registry_ratelimit_remaining{host="reg.example"} 57.0' in text
    assert 'reconciler_tag_list_budget_remaining{host="reg.example"} 2.0' in text
    assert 'reconciler_tag_list_pages_total{host="reg.example",source="fetched"} 3.0' in text


def test_the_daemon_keeps_lists_across_passes_and_forgets_a_pushed_one(
    tmp_path: Path, wall: WallClock
) -> None:
    """The daemon's one client holds the cache for its life; a pass starts a new budget;
    a registry notification for a repository forgets its list; /metrics shows the budget."""
    from reconciler.config.settings import Settings
    from reconciler.daemon.config import DaemonConfig
    from reconciler.daemon.runner import Daemon
    from reconciler.daemon.webhooks import PushedRepository

    server = TagServer(tag_names(30))
    client = client_for(server, wall, budget=5)
    config = DaemonConfig(
        repo_url=str(tmp_path / "nowhere.git"),
        work_dir=tmp_path / "work",
        state_dir=tmp_path / "state",
        lease=False,
    )
    daemon = Daemon(config, Settings(cache_dir=tmp_path), clock=wall, client=client)
    try:
        client.list_tags(REF, page_size=10)
        assert 'reconciler_tag_list_budget_remaining{host="reg.example"} 2.0' in (
            daemon.metrics.render().decode()
        )
        daemon.step()  # the pass fails (no repository) but starts a new budget
        assert client.tag_list_status() == {}
        client.list_tags(REF, page_size=10)
        assert server.requests == 3  # the same client, its cache kept
        daemon.notify_registry([PushedRepository(REGISTRY, "app", "1.9.9")])
        assert len(client._lister.cache) == 0
    finally:
        daemon.close()


def test_a_stale_list_is_a_note_of_the_plan(tmp_path: Path, wall: WallClock) -> None:
    """What the plan (and so ``plan``, ``reconcile`` and the commit message) says when the
    pass took a list from the cache because the budget was spent."""
    import datetime as dt

    from reconciler.config.settings import Settings
    from reconciler.passes.plan import compute_plan

    root = tmp_path / "repo"
    root.mkdir()
    (root / ".reconciler.yaml").write_text("defaultNamespace: default\n")
    server = TagServer(tag_names(20))
    with client_for(server, wall, budget=1, max_age=60) as client:
        for _ in range(2):  # a budget of one page: two passes to list two pages
            with contextlib.suppress(ResolveError):
                client.list_tags(REF, page_size=10)
            client.begin_pass()
        wall.now += 120
        client.list_tags(REF, page_size=10)  # page 1 asked, page 2 stale
        plan = compute_plan(
            root, Settings(cache_dir=tmp_path), client, dt.datetime.fromtimestamp(wall.now, dt.UTC)
        )
    assert plan.notes == client.listing_notes() and len(plan.notes) == 1
    assert "Notes:\n  tag list of reg.example/app: pages taken from the cache" in (
        plan.commit_message()
    )


def test_a_command_that_lists_nothing_neither_reads_nor_writes_the_file(
    saved: tuple[Path, dict[str, object]], wall: WallClock
) -> None:
    path, data = saved
    week_old = START - 8 * 24 * 3600  # a sweep would drop it, and write the file
    text = json.dumps(page(data, fetchedAt=week_old, usedAt=week_old))
    path.write_text(text)
    with client_for(TagServer([]), wall, cache=TagListCache(path, clock=wall)):
        pass
    assert path.read_text() == text


def test_a_quota_that_never_turns_holds_the_listing_for_one_reset_only(wall: WallClock) -> None:
    """A host that answers "0 left, reset in 59 s" forever: we wait for the reset once;
    when it still says 0 after it, the listing fails at once (the last good digest
    stays) rather than waiting 59 s for each of its pages."""
    server = TagServer(tag_names(5000), max_n=100, extra_headers={"RateLimit": '"d";r=0;t=59'})
    clock = Sleeps(wall)
    with paced_client(server, clock) as client:
        with pytest.raises(ResolveError) as failed:
            client.list_tags(REF, page_size=100)
        assert failed.value.reason == "TooManyRequests"
        assert "still used up after the reset" in str(failed.value)
        # A later pass does not wait again while the host says nothing is left.
        client.begin_pass()
        with pytest.raises(ResolveError):
            client.list_tags(REF, page_size=100)
    assert server.requests == 2
    assert sum(clock.slept) <= 60


def test_a_quota_that_turned_lets_the_listing_through(wall: WallClock) -> None:
    server = TagServer(tag_names(30), max_n=10, extra_headers={"RateLimit": '"d";r=0;t=5'})
    clock = Sleeps(wall)
    with paced_client(server, clock) as client:
        with pytest.raises(ResolveError):
            client.list_tags(REF, page_size=10)  # stuck: 0 left after its own reset
        server.extra_headers = {"RateLimit": '"d";r=50;t=60'}  # the quota turned
        wall.now += 10  # past the reset it named: the old reading no longer holds
        client.begin_pass()
        slept = len(clock.slept)
        assert len(client.list_tags(REF, page_size=10)) == 30
        assert clock.slept[slept:] == []
