"""Resolve throughput: the reconciler's client vs raw HEADs (``hey``) vs a ``skopeo`` loop.

Starts a local ``docker-registry`` on loopback, pushes N distinct tags (default 2000), then,
in one run and against that one registry, measures:

- ``hey``: N HEAD requests of one manifest at concurrency C (the ceiling: a Go load generator
  doing nothing but HTTP);
- the reconciler: ``RegistryClient.resolve_many`` over the N tags with ``max_concurrency=C``,
  cold (a new client: new connections) and warm (the same client again), each tag's digest
  pinned already as in a pass where nothing changed (one HEAD per tag);
- the reconciler on first sight: no digest pinned, so each new digest is read before it is
  answered (HEAD, then GET of the manifest by digest: two requests per tag);
- ``skopeo inspect`` per tag, as users script it today, run sequentially over a sample of S
  tags (default 100) and extrapolated to N (stated as such in the output).

``hey`` and the reconciler alternate for ``--rounds`` rounds and the medians are reported,
because a shared two-core machine is noisy. Usage::

    python bench/resolve.py [--tags 2000] [--concurrency 16] [--skopeo-sample 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shutil
import statistics
import subprocess
import sys
import time

from reconciler.core.references import parse_image_reference
from reconciler.registry.client import RegistryClient
from reconciler.registry.media_types import MANIFEST_ACCEPT
from reconciler.registry.models import Resolved, ResolveRequest
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry

REPO = "bench/app"


def hey_rate(registry: LocalRegistry, tag: str, n: int, concurrency: int) -> float:
    url = f"{registry.url}/v2/{REPO}/manifests/{tag}"
    result = subprocess.run(
        ["hey", "-n", str(n), "-c", str(concurrency), "-m", "HEAD",
         "-H", f"Accept: {MANIFEST_ACCEPT}", url],
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    match = re.search(r"Requests/sec:\s*([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"cannot read hey's output:\n{result.stdout[-2000:]}")
    status = re.search(r"\[(\d{3})\]\s+(\d+) responses", result.stdout)
    if status and status.group(1) != "200":
        raise RuntimeError(f"hey got HTTP {status.group(1)}")
    return float(match.group(1))


def timed_resolve(
    client: RegistryClient, requests: list[ResolveRequest], digests: dict[str, str]
) -> float:
    start = time.perf_counter()
    results = client.resolve_many(requests)
    elapsed = time.perf_counter() - start
    for request, outcome in results.items():
        tag = request.reference.tag or ""
        if not isinstance(outcome, Resolved) or outcome.digest != digests[tag]:
            raise RuntimeError(f"{tag}: wrong outcome {outcome!r}")
    return len(requests) / elapsed


def reconciler_rates(
    requests: list[ResolveRequest], digests: dict[str, str], concurrency: int
) -> tuple[float, float]:
    with RegistryClient(max_concurrency=concurrency) as client:
        cold = timed_resolve(client, requests, digests)
        warm = timed_resolve(client, requests, digests)
    return cold, warm


def first_sight_rate(
    requests: list[ResolveRequest], digests: dict[str, str], concurrency: int
) -> float:
    new = [dataclasses.replace(r, known_digest=None) for r in requests]
    with RegistryClient(max_concurrency=concurrency) as client:
        return timed_resolve(client, new, digests)


def skopeo_rate(registry: LocalRegistry, tags: list[str], digests: dict[str, str]) -> float:
    start = time.perf_counter()
    for tag in tags:
        result = subprocess.run(
            ["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host}/{REPO}:{tag}"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        if json.loads(result.stdout)["Digest"] != digests[tag]:
            raise RuntimeError(f"skopeo disagrees on {tag}")
    return len(tags) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--skopeo-sample", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args(argv)
    for tool in ("hey", "skopeo"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install {tool})", file=sys.stderr)
            return 2

    n, c = args.tags, args.concurrency
    with LocalRegistry() as registry:
        print(f"registry {registry.url}; pushing {n} tags ...", flush=True)
        tags = [f"t{i:05d}" for i in range(n)]
        digests = push_tags(registry.url, REPO, tags, "bench")
        requests = [
            ResolveRequest(
                parse_image_reference(f"{registry.host}/{REPO}:{t}"),
                insecure=True,
                known_digest=digests[t],
            )
            for t in tags
        ]
        # One untimed pass warms the registry's own caches for everyone alike.
        reconciler_rates(requests[: min(200, n)], digests, c)

        hey, cold, warm, first = [], [], [], []
        for round_no in range(args.rounds):
            hey.append(hey_rate(registry, tags[0], n, c))
            cold_rate, warm_rate = reconciler_rates(requests, digests, c)
            cold.append(cold_rate)
            warm.append(warm_rate)
            first.append(first_sight_rate(requests, digests, c))
            print(
                f"  round {round_no + 1}: hey {hey[-1]:7.0f}/s   reconciler cold "
                f"{cold_rate:7.0f}/s warm {warm_rate:7.0f}/s first sight {first[-1]:7.0f}/s",
                flush=True,
            )
        sample = tags[:: max(1, n // args.skopeo_sample)][: args.skopeo_sample]
        skopeo = skopeo_rate(registry, sample, digests)

    hey_m, cold_m, warm_m, first_m = (statistics.median(v) for v in (hey, cold, warm, first))
    print()
    print(f"{n} tags, concurrency {c}, median of {args.rounds} rounds, loopback registry")
    print(f"  {'hey HEAD (ceiling)':36s} {hey_m:8.0f} req/s   {n / hey_m:7.1f} s")
    print(f"  {'reconciler resolve_many, cold':36s} {cold_m:8.0f} tags/s  {n / cold_m:7.1f} s")
    print(f"  {'reconciler resolve_many, warm':36s} {warm_m:8.0f} tags/s  {n / warm_m:7.1f} s")
    print(
        f"  {'reconciler, first sight (HEAD + GET)':36s} {first_m:8.0f} tags/s  "
        f"{n / first_m:7.1f} s"
    )
    print(
        f"  {'skopeo inspect loop':36s} {skopeo:8.1f} tags/s  {n / skopeo:7.1f} s"
        f"  (measured on {len(sample)} tags, extrapolated to {n})"
    )
    print("ratios:")
    print(f"  reconciler warm / hey    {warm_m / hey_m:6.2f}   (target >= 0.5)")
    print(f"  reconciler cold / hey    {cold_m / hey_m:6.2f}")
    print(f"  reconciler warm / skopeo {warm_m / skopeo:6.1f}x  (target >= 20x)")
    print(f"  reconciler cold / skopeo {cold_m / skopeo:6.1f}x")
    if args.json:
        print(
            json.dumps(
                {
                    "tags": n,
                    "concurrency": c,
                    "rounds": args.rounds,
                    "hey_rps": hey,
                    "reconciler_cold_tps": cold,
                    "reconciler_warm_tps": warm,
                    "reconciler_first_sight_tps": first,
                    "skopeo_tps": skopeo,
                    "skopeo_sample": len(sample),
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
