"""Push-to-commit latency of the daemon: a registry push reaches the daemon as a
notification, and the lock commit lands on the git remote. Measured on a small repository
(the baseline) and on a large one (default 2000 scheduled tags), in one run, with polling
and scheduled checks out of the way so only the notification can cause the commit.

    python bench/daemon_latency.py [--tags 2000] [--pushes 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from benchrepo import git_out, make_repo

from reconciler.config.settings import Settings
from reconciler.core.schedule import ImportPolicy
from reconciler.core.secrets import Secret
from reconciler.daemon.config import DaemonConfig
from reconciler.daemon.runner import Daemon
from reconciler.daemon.server import make_server
from testsupport.images import push_image, push_tags
from testsupport.registry import LocalRegistry

TOKEN = "bench-notify-token"


def measure(n_tags: int, pushes: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        config = DaemonConfig(
            repo_url="",  # set below, once the remote exists
            work_dir=tmp / "work",
            state_dir=tmp / "state",
            git_poll_interval=3600,
            policy=ImportPolicy(minimum_interval=3600, per_minute=100000),
            listen_port=0,
            registry_token=Secret(TOKEN),
        )
        # The daemon listens before the registry starts (the registry needs its URL);
        # the remote it will watch is created once the registry's host is known.
        bare = tmp / "remote.git"
        settings = Settings(cache_dir=tmp / "cache", max_concurrency=16)
        daemon = Daemon(DaemonConfig(**{**config.__dict__, "repo_url": str(bare)}), settings)
        server = make_server(daemon, "127.0.0.1", 0)
        server.start()
        url = f"{server.url}/hooks/registry"
        try:
            with LocalRegistry(notifications=[url], notification_token=TOKEN) as registry:
                tags = [f"t{i}" for i in range(n_tags)]
                push_tags(registry.url, "bench/app", tags, "lat")
                make_repo(tmp, registry.host, "bench/app", tags, max(1, n_tags // 100))
                thread = threading.Thread(target=daemon.run, daemon=True)
                thread.start()
                deadline = time.monotonic() + 600
                while not daemon.ready and time.monotonic() < deadline:
                    time.sleep(0.05)
                # The registry queues a notification per pushed manifest: let the backlog
                # of the set-up pushes drain, or the first measurements time the queue.
                settled, last = 0, -1.0
                while settled < 10:
                    count = sum(
                        sample.value
                        for metric in daemon.metrics.events.collect()
                        for sample in metric.samples
                        if sample.name.endswith("_total")
                    )
                    settled = settled + 1 if count == last else 0
                    last = count
                    time.sleep(0.1)
                latencies = []
                for k in range(pushes):
                    before = git_out("rev-parse", "main", cwd=bare)
                    tag = tags[(k * 7919) % n_tags]
                    started = time.monotonic()
                    push_image(registry.url, "bench/app", tag, seed=f"move-{k}")
                    while git_out("rev-parse", "main", cwd=bare) == before:
                        if time.monotonic() - started > 120:
                            raise SystemExit("no commit within 120 s")
                        time.sleep(0.01)
                    latencies.append(time.monotonic() - started)
                daemon.stop()
                thread.join(timeout=60)
                return latencies
        finally:
            server.stop()


def _p95(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--baseline-tags", type=int, default=20)
    parser.add_argument("--pushes", type=int, default=5)
    args = parser.parse_args()
    small = measure(args.baseline_tags, args.pushes)
    large = measure(args.tags, args.pushes)
    print(f"\npush -> commit latency, {args.pushes} pushes each, notification-driven")
    for name, values in ((f"{args.baseline_tags} tags", small), (f"{args.tags} tags", large)):
        print(
            f"  {name:>10}: median {statistics.median(values):.3f} s, p95 {_p95(values):.3f} s, "
            f"max {max(values):.3f} s  ({', '.join(f'{v:.3f}' for v in values)})"
        )
    print(
        f"ratio (median, {args.tags} / {args.baseline_tags} tags): "
        f"{statistics.median(large) / statistics.median(small):.2f}"
    )


if __name__ == "__main__":
    main()
