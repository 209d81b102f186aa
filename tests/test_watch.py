"""``reconciler watch``: the offline plan of the sample repo, and a re-plan on save."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from daemon_fixtures import wait_for

from reconciler.cli.planview import print_plan
from reconciler.cli.watching import render_once, watch
from reconciler.config.settings import Settings
from reconciler.core.plan import Plan

ROOT = Path(__file__).resolve().parent.parent


def printer(plan: Plan, out: io.StringIO) -> None:  # type: ignore[override]
    print_plan(plan, out, show_diff=False)


def test_offline_plan_of_the_sample_repo(tmp_path: Path) -> None:
    out = io.StringIO()
    seconds = render_once(ROOT / "sample-repo", Settings(cache_dir=tmp_path), None, out, printer)
    text = out.getvalue()
    assert "validated 7 objects: 0 errors" in text
    assert (
        "toms-project/marsview:latest: added, from registry.marsrover.space/engine/marsview:latest"
        in text
    )
    assert "(offline)" in text
    print(f"\nwatch: offline plan of sample-repo in {seconds * 1000:.0f} ms")


class StringOut(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_watch_replans_on_save(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "sample-repo", repo)
    out = StringOut()
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(repo, Settings(cache_dir=tmp_path), None, out, printer),
        kwargs={"stop_event": stop},
        daemon=True,
    )
    thread.start()
    try:
        wait_for(lambda: "planned in" in out.getvalue(), timeout=20)
        time.sleep(0.3)  # let the watcher settle before the edit
        stream = repo / "imagestreams" / "my-python.yaml"
        stream.write_text(stream.read_text().replace("kind: DockerImage", "kind: Dockerimage"))
        wait_for(lambda: out.getvalue().count("planned in") >= 2, timeout=20)
        assert "'Dockerimage'" in out.getvalue().split("planned in")[-2]
    finally:
        stop.set()
        thread.join(timeout=10)


def test_the_offline_watch_says_it_asked_no_registry(tmp_path: Path) -> None:
    """`reconciler watch` without --resolve asks no registry: its summary line says which
    tags a pass would ask about, not that it asked (a registries.conf pointing nowhere
    shows it never tried)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "sample-repo", repo)
    conf = tmp_path / "registries.conf"
    conf.write_text('[[registry]]\nprefix = "docker.io"\nblocked = true\n')
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "reconciler", "watch", str(repo), "--registries-conf", str(conf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "RECONCILER_CACHE_DIR": str(tmp_path / "cache")},
    ) as process:
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines.append(line)
                if "planned in" in line:
                    break
        finally:
            process.terminate()
    assert lines[0].startswith("validated 7 objects: 0 errors, 0 warnings; "), lines
    assert "would ask the registries about 6 tags" in lines[0], lines
    assert lines[-1].rstrip().endswith("(offline)"), lines
