"""Cheap tag listing against the real ``docker-registry`` (distribution 2.8, the Debian
package): it ignores ``n`` and ``last`` and sends no validators on ``/tags/list``, so a
list is one request, and the max-age rule, the once-per-pass rule, the budget and the
CLI's cache file carry everything. Requests are counted by the client's response
callback and, for a whole CLI run, in the registry's own access log."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.cli import main as cli
from reconciler.config.settings import Settings
from reconciler.core.references import ImageReference, parse_image_reference
from reconciler.passes.clients import registry_client, tag_list_file
from reconciler.registry.client import RegistryClient
from reconciler.registry.errors import ResolveError
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry

pytestmark = pytest.mark.integration


class Counted:
    """A client whose requests are counted, by host."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.requests = 0
        client.observe_responses(self._seen)

    def _seen(self, host: str, code: str) -> None:
        self.requests += 1


def pushed(registry: LocalRegistry, repository: str, tags: list[str]) -> ImageReference:
    """``tags`` pushed to ``repository``: its reference, to list."""
    push_tags(registry.url, repository, tags, repository)
    return parse_image_reference(f"{registry.host}/{repository}")


@pytest.fixture
def counted() -> Iterator[Counted]:
    with RegistryClient(tag_list_max_age=900) as client:
        yield Counted(client)


def test_the_real_registry_answers_every_tag_whatever_n_says(
    local_registry: LocalRegistry, unique_repo: str, counted: Counted
) -> None:
    tags = [f"v{i:02d}" for i in range(12)]
    ref = pushed(local_registry, unique_repo, tags)
    listing = counted.client.list_tags_detail(ref, insecure=True, page_size=5)
    assert sorted(listing.tags) == tags
    assert (listing.pages, listing.requests, counted.requests) == (1, 1, 1)


def test_exactly_n_tags_from_the_real_registry_take_two_requests(
    local_registry: LocalRegistry, unique_repo: str, counted: Counted
) -> None:
    """Exactly n and no Link may mean more (the spec's older pagination): asked once more
    with ``last``; 2.8 answers the same list again, which ends it."""
    tags = [f"v{i}" for i in range(5)]
    ref = pushed(local_registry, unique_repo, tags)
    assert sorted(counted.client.list_tags(ref, insecure=True, page_size=5)) == tags
    assert counted.requests == 2


def test_the_real_registry_sends_no_validators_so_max_age_decides(
    local_registry: LocalRegistry, unique_repo: str
) -> None:
    ref = pushed(local_registry, unique_repo, ["1.0", "1.1"])
    now = [1_800_000_000.0]
    with RegistryClient(wall_clock=lambda: now[0], tag_list_max_age=900) as client:
        counted = Counted(client)
        first = client.list_tags_detail(ref, insecure=True)
        push_tags(local_registry.url, unique_repo, ["1.2"], unique_repo)
        client.begin_pass()
        now[0] += 600  # within the max age: the cached list, nothing asked
        assert sorted(client.list_tags(ref, insecure=True)) == ["1.0", "1.1"]
        assert counted.requests == 1
        client.begin_pass()
        now[0] += 600  # past it: asked again, unconditionally (nothing to send)
        again = client.list_tags_detail(ref, insecure=True)
        assert sorted(again.tags) == ["1.0", "1.1", "1.2"]
        assert (again.requests, again.not_modified, counted.requests) == (1, 0, 2)
        assert first.not_modified == 0


def test_a_repository_is_listed_once_per_pass_from_the_real_registry(
    local_registry: LocalRegistry, unique_repo: str
) -> None:
    ref = pushed(local_registry, unique_repo, ["a", "b"])
    with RegistryClient(tag_list_max_age=0) as client:
        counted = Counted(client)
        for _ in range(5):
            client.list_tags(ref, insecure=True, page_size=1000)
        assert counted.requests == 1
        client.begin_pass()
        client.list_tags(ref, insecure=True, page_size=1000)
        assert counted.requests == 2


def test_the_budget_holds_per_pass_on_the_real_registry(
    local_registry: LocalRegistry, unique_repo: str
) -> None:
    """Budget 1: the second repository waits for the next pass, when the first is fresh
    in the cache and costs nothing."""
    refs = [pushed(local_registry, f"{unique_repo}/{name}", ["1"]) for name in ("one", "two")]
    with RegistryClient(tag_list_budget=1, tag_list_max_age=900) as client:
        counted = Counted(client)
        assert client.list_tags(refs[0], insecure=True) == ["1"]
        with pytest.raises(ResolveError) as info:
            client.list_tags(refs[1], insecure=True)
        assert info.value.reason == "RequestBudgetSpent" and info.value.retryable
        assert client.tag_list_status()[local_registry.host]["remaining"] == 0
        client.begin_pass()
        assert client.list_tags(refs[0], insecure=True) == ["1"]
        assert client.list_tags(refs[1], insecure=True) == ["1"]
        assert counted.requests == 2


def test_the_cli_cache_file_spares_the_next_run_its_requests(
    local_registry: LocalRegistry, unique_repo: str, tmp_path: Path
) -> None:
    ref = pushed(local_registry, unique_repo, ["1", "2", "3"])
    settings = Settings(cache_dir=tmp_path, tag_list_max_age=900)  # the CLI's default: 0
    for run in range(3):
        with registry_client(settings, tag_list_file=tag_list_file(settings)) as client:
            counted = Counted(client)
            assert sorted(client.list_tags(ref, insecure=True)) == ["1", "2", "3"]
            assert counted.requests == (1 if run == 0 else 0)
    assert tag_list_file(settings).is_file()


def test_import_image_all_twice_lists_the_tags_once(
    unique_repo: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs of the CLI with a max age set: the second one's tag list comes from the
    cache file, as the registry's own access log shows (one GET of /tags/list in all)."""
    monkeypatch.setenv("RECONCILER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RECONCILER_TAG_LIST_MAX_AGE", "900")
    with LocalRegistry(access_log=True) as registry:
        push_tags(registry.url, unique_repo, ["1.0", "1.1", "latest"], unique_repo)
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / ".reconciler.yaml").write_text("defaultNamespace: default\n")
        for name in ("first", "second"):
            argv = [
                "import-image", name, f"--from={registry.host}/{unique_repo}", "--all",
                "--insecure", "--confirm", "--repo", str(repo),
            ]  # fmt: skip
            assert cli.main(argv, io.StringIO()) == 0
        listed = registry.log_path.read_text().count(f"/v2/{unique_repo}/tags/list")
    assert listed == 1


def test_by_default_each_cli_run_sees_a_tag_pushed_since_the_last(
    local_registry: LocalRegistry, unique_repo: str, tmp_path: Path
) -> None:
    # The CLI asks for every digest on every run; its tag lists are as fresh.
    ref = pushed(local_registry, unique_repo, ["1", "2"])
    settings = Settings(cache_dir=tmp_path)
    with registry_client(settings, tag_list_file=tag_list_file(settings)) as client:
        assert sorted(client.list_tags(ref, insecure=True)) == ["1", "2"]
    push_tags(local_registry.url, unique_repo, ["3"], unique_repo)
    with registry_client(settings, tag_list_file=tag_list_file(settings)) as client:
        assert sorted(client.list_tags(ref, insecure=True)) == ["1", "2", "3"]
