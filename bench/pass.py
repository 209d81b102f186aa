"""A whole reconcile pass at scale: N scheduled tags (default 2000) in S streams, against a
local registry and a bare git remote, compared with the registry time alone.

Prints, in one run: the raw ``resolve_many`` time for the same tags (the floor a pass
cannot beat), the first pass (resolve everything, write and push the lock and the
trigger records), a no-change pass (every scheduled tag re-checked, nothing committed),
and each pass's overhead over the floor as a ratio. Usage::

    python bench/pass.py [--tags 2000] [--streams 20] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from benchrepo import make_repo

from reconciler.config.settings import Settings
from reconciler.core.references import parse_image_reference
from reconciler.files.contentcache import ContentCache
from reconciler.gitrepo.workspace import Workspace
from reconciler.passes.run import run_pass
from reconciler.registry.client import RegistryClient
from reconciler.registry.models import ResolveRequest
from testsupport.images import push_tags
from testsupport.registry import LocalRegistry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    tags = [f"t{i}" for i in range(args.tags)]
    with LocalRegistry() as registry, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        print(f"registry {registry.url}; pushing {args.tags} tags ...", flush=True)
        push_tags(registry.url, "bench/app", tags, "pass")
        bare = make_repo(tmp, registry.host, "bench/app", tags, args.streams, deployments=True)
        settings = Settings(cache_dir=tmp / "cache", max_concurrency=args.concurrency)
        requests = [
            ResolveRequest(parse_image_reference(f"{registry.host}/bench/app:{t}"), insecure=True)
            for t in tags
        ]
        with RegistryClient(max_concurrency=args.concurrency) as client:
            client.resolve_many(requests)  # warm the connections, as a pass's client would be
            started = time.perf_counter()
            client.resolve_many(requests)
            floor = time.perf_counter() - started

            workspace = Workspace(str(bare), "main", tmp / "work")
            clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
            started = time.perf_counter()
            # As in the daemon: what is a function of file bytes is kept between passes.
            contents = ContentCache()
            first = run_pass(workspace, settings, client, clock, contents=contents)
            first_s = time.perf_counter() - started
            started = time.perf_counter()
            again = run_pass(workspace, settings, client, clock, contents=contents)
            again_s = time.perf_counter() - started
        assert first.pushed and again.commit is None
        print(
            f"\n{args.tags} scheduled tags in {args.streams} streams, concurrency {args.concurrency}"
        )
        print(f"  registry alone (resolve_many, warm)   {floor:6.2f} s")
        print(
            f"  first pass (resolve, write, push)     {first_s:6.2f} s   {len(first.plan.triggers)} triggers"
        )
        print(f"  no-change pass (re-check everything)  {again_s:6.2f} s   no commit")
        print("ratios:")
        print(f"  first pass / registry alone           {first_s / floor:5.2f}")
        print(f"  no-change pass / registry alone       {again_s / floor:5.2f}")


if __name__ == "__main__":
    main()
