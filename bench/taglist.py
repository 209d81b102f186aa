"""A version-policy check over a repository with 10,000 tags: requests and our own time
per pass, cached listing against uncached, in one run.

A "pass" here is what a policy does each time its tag is due: list the repository's tags
(``page_size=1000``, as the policies call it), pick the highest ``1.x.y`` (a stand-in for
the policies of issue 9 part 1, which live elsewhere: the listing is what is measured),
then resolve the chosen tag (one HEAD once its digest is pinned). Two registries:

- **the real one**: a local ``docker-registry`` (distribution 2.8, the Debian package)
  with 10,000 tags pushed to it (one manifest PUT per tag; the push time is printed). It
  ignores ``n``, answers all 10,000 in one response and sends no validators.
- **a paginating stub**, said so in the output: a small HTTP server in another process
  on loopback answering ``/tags/list`` as distribution 3.1 does (``n`` clamped to 1000,
  ``Link``), plus an ``ETag`` and 304s, which no distribution release sends; it serves
  the tag list only (the chosen tag's HEAD is not part of its passes).

Scenarios, each a first pass and ``--passes`` more:

- ``uncached``: the baseline, what a lister without this cache does: every pass lists anew;
- ``daemon``: one client kept across passes within the max age (900 s): nothing asked;
- ``daemon, past max age``: a fake clock moves 1000 s a pass: every pass asks again
  (conditionally at the stub: 304s);
- ``cli``: a new client per pass with the cache file under the cache dir (a run of
  ``reconciler plan`` or ``reconcile``): the file is read and written each time.

Requests are what the client sent (its response callback). Our own time is this
process's CPU time for the pass (the registry and the stub run in other processes), next
to the wall time. Goal (issue 9): at most 12 requests and under 1 s of our own time per
pass after the first. Usage::

    python bench/taglist.py [--tags 10000] [--passes 4]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from reconciler.core.references import ImageReference, parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.models import ResolveRequest
from reconciler.registry.tagcache import FILE_NAME, TagListCache
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry

REPO = "bench/app"
PAGE_SIZE = 1000
MAX_AGE = 900.0


def tag_names(count: int) -> list[str]:
    return [f"1.{i // 100}.{i % 100}" for i in range(count)]


def pick(tags: list[str]) -> str:
    """The highest 1.x.y: a policy's choice, as far as this bench needs one."""
    versions = [tuple(int(p) for p in t.split(".")) for t in tags if t.count(".") == 2]
    return ".".join(str(p) for p in max(versions))


# -- the stub: a paginating tag list with ETags, in a process of its own ---------------------


def serve_stub(port_file: str, count: int) -> None:
    tags = sorted(tag_names(count))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != f"/v2/{REPO}/tags/list":
                self.send_error(404)
                return
            query = parse_qs(url.query)
            n = min(int(query.get("n", [str(PAGE_SIZE)])[0]), PAGE_SIZE)
            last = query.get("last", [""])[0]
            rest = [t for t in tags if t > last] if last else tags
            page = rest[:n]
            body = json.dumps({"name": REPO, "tags": page}).encode()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            if len(rest) > n:
                self.send_header(
                    "Link", f'</v2/{REPO}/tags/list?n={n}&last={page[-1]}>; rel="next"'
                )
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Path(port_file).write_text(str(server.server_address[1]))
    server.serve_forever()


@contextmanager
def stub(count: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        port_file = Path(tmp) / "port"
        process = subprocess.Popen(
            [sys.executable, __file__, "--serve-stub", str(port_file), "--tags", str(count)]
        )
        try:
            for _ in range(200):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.05)
            yield f"127.0.0.1:{port_file.read_text()}"
        finally:
            process.terminate()
            process.wait(timeout=10)


# -- passes ------------------------------------------------------------------------------------


@dataclass
class Pass:
    requests: int
    cpu: float
    wall: float


class Counter:
    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, host: str, code: str) -> None:
        self.requests += 1


def one_pass(
    client: RegistryClient,
    counter: Counter,
    ref: ImageReference,
    resolve: bool,
    count: int,
    pinned: dict[str, str],
) -> Pass:
    """List, pick, and resolve the pick (its digest, once pinned, confirmed by one HEAD)."""
    before = counter.requests
    cpu, wall = time.process_time(), time.perf_counter()
    tags = client.list_tags(ref, insecure=True, page_size=PAGE_SIZE)
    if len(tags) != count:
        raise RuntimeError(f"listed {len(tags)} tags, expected {count}")
    chosen = pick(tags)
    if resolve:
        request = ResolveRequest(
            parse_image_reference(f"{ref}:{chosen}"),
            insecure=True,
            known_digest=pinned.get(chosen),
        )
        pinned[chosen] = client.resolve(request).digest
    return Pass(counter.requests - before, time.process_time() - cpu, time.perf_counter() - wall)


def scenario(
    make: Callable[[], tuple[RegistryClient, Counter]],
    ref: ImageReference,
    passes: int,
    *,
    new_client_each_pass: bool,
    step: float,
    resolve: bool,
    count: int,
) -> list[Pass]:
    """The first pass and ``passes`` more; ``step`` seconds of fake wall clock between."""
    results = []
    pinned: dict[str, str] = {}  # what the lock holds after the first pass
    client, counter = make()
    try:
        for index in range(passes + 1):
            if index:
                CLOCK[0] += step
                if new_client_each_pass:
                    client.close()
                    client, counter = make()
                else:
                    client.begin_pass()
            results.append(one_pass(client, counter, ref, resolve, count, pinned))
    finally:
        client.close()
    return results


CLOCK = [time.time()]


def client_factory(
    *, max_age: float, cache_file: Path | None = None
) -> Callable[[], tuple[RegistryClient, Counter]]:
    def make() -> tuple[RegistryClient, Counter]:
        wall = lambda: CLOCK[0]  # noqa: E731 - the bench's fake wall clock
        client = RegistryClient(
            wall_clock=wall,
            tag_lists=TagListCache(cache_file, clock=wall),
            tag_list_budget=100,
            tag_list_max_age=max_age,
        )
        counter = Counter()
        client.observe_responses(counter)
        return client, counter

    return make


def report(name: str, runs: list[Pass], baseline: list[Pass] | None) -> None:
    first, later = runs[0], runs[1:]
    req = statistics.median(p.requests for p in later)
    cpu = statistics.median(p.cpu for p in later)
    wall = statistics.median(p.wall for p in later)
    line = (
        f"  {name:<24} first: {first.requests:>3} req, {first.cpu:6.3f} s ours, "
        f"{first.wall:6.3f} s wall | after: {req:>4g} req, {cpu:6.3f} s ours, "
        f"{wall:6.3f} s wall (max {max(p.cpu for p in later):.3f} s ours, "
        f"max {max(p.requests for p in later)} req)"
    )
    if baseline is not None:
        base_req = statistics.median(p.requests for p in baseline[1:])
        base_cpu = statistics.median(p.cpu for p in baseline[1:])
        line += f" | vs uncached: {req / base_req:.2f}x req, {cpu / base_cpu:.2f}x ours"
    print(line)
    goal = max(p.requests for p in later) <= 12 and max(p.cpu for p in later) < 1.0
    print(
        f"  {'':<24} goal (<= 12 requests, < 1 s ours after the first): {'met' if goal else 'MISSED'}"
    )


def run_all(ref: ImageReference, count: int, passes: int, resolve: bool, tmp: Path) -> None:
    cache_file = tmp / f"{ref.registry}-{FILE_NAME}".replace(":", "_")
    # (name, max age, cache file, a new client each pass, fake seconds between passes,
    # the baseline it is compared with)
    plans: list[tuple[str, float, Path | None, bool, float, str | None]] = [
        ("uncached (baseline)", 0.0, None, False, 1.0, None),
        ("daemon, within max age", MAX_AGE, None, False, 60.0, "uncached (baseline)"),
        ("daemon, past max age", MAX_AGE, None, False, 1000.0, "uncached (baseline)"),
        ("cli, uncached (baseline)", 0.0, None, True, 60.0, None),
        ("cli, cache file", MAX_AGE, cache_file, True, 60.0, "cli, uncached (baseline)"),
    ]
    runs: dict[str, list[Pass]] = {}
    for name, max_age, file, fresh_client, step, baseline in plans:
        runs[name] = scenario(
            client_factory(max_age=max_age, cache_file=file),
            ref,
            passes,
            new_client_each_pass=fresh_client,
            step=step,
            resolve=resolve,
            count=count,
        )
        report(name, runs[name], runs[baseline] if baseline else None)
    print(f"  {'':<24} cache file: {cache_file.stat().st_size / 1024:.0f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--passes", type=int, default=4, help="passes after the first")
    parser.add_argument("--serve-stub", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_stub:
        serve_stub(args.serve_stub, args.tags)
        return
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp, LocalRegistry() as registry:
        started = time.perf_counter()
        push_tags(registry.url, REPO, tag_names(args.tags), "taglist-bench", max_workers=16)
        print(
            f"real docker-registry at {registry.host}: pushed {args.tags} tags in "
            f"{time.perf_counter() - started:.1f} s (one manifest PUT each)"
        )
        ref = parse_image_reference(f"{registry.host}/{REPO}")
        run_all(ref, args.tags, args.passes, True, Path(tmp))
        with stub(args.tags) as host:
            print(
                f"paginating STUB at {host} (not a real registry: n clamped to {PAGE_SIZE}, "
                "Link, ETag and 304; tag list only)"
            )
            run_all(
                parse_image_reference(f"{host}/{REPO}"), args.tags, args.passes, False, Path(tmp)
            )


if __name__ == "__main__":
    main()
