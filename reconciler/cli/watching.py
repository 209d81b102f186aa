"""``reconciler watch``: for local editing. On every save under the checkout, validate
and print the plan (offline by default: which tags a pass would ask about, which
triggers would open), fast enough to keep open beside an editor."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import watchfiles

from reconciler.config.settings import Settings
from reconciler.core.errors import ReconcilerError
from reconciler.core.plan import Plan
from reconciler.files import loader
from reconciler.files.contentcache import ContentCache
from reconciler.passes.plan import compute_plan
from reconciler.registry.client import RegistryClient

Printer = Callable[[Plan, TextIO], None]


def _relevant(change: watchfiles.Change, path: str) -> bool:
    name = Path(path).name
    return name.endswith((*loader.MANIFEST_SUFFIXES, ".json")) and not name.startswith(".#")


def render_once(
    root: Path,
    settings: Settings,
    client: RegistryClient | None,
    out: TextIO,
    printer: Printer,
    contents: ContentCache | None = None,
) -> float:
    """Validate and plan once; returns the seconds it took."""
    started = time.perf_counter()
    if client is not None:
        client.begin_pass()  # each save is a pass: its repositories are listed again
    try:
        plan = compute_plan(root, settings, client, dt.datetime.now(dt.UTC), contents=contents)
    except ReconcilerError as exc:
        print(f"error: {exc}", file=out)
        return time.perf_counter() - started
    printer(plan, out)
    seconds = time.perf_counter() - started
    where = "registries asked" if client is not None else "offline"
    print(f"-- {time.strftime('%H:%M:%S')} planned in {seconds * 1000:.0f} ms ({where})", file=out)
    out.flush()
    return seconds


def watch(
    root: Path,
    settings: Settings,
    client: RegistryClient | None,
    out: TextIO,
    printer: Printer,
    stop_event: object = None,
) -> None:
    contents = ContentCache()  # unchanged files are not parsed again on each save
    render_once(root, settings, client, out, printer, contents)
    for _changes in watchfiles.watch(
        root,
        watch_filter=_relevant,
        debounce=50,
        step=20,
        stop_event=stop_event,  # type: ignore[arg-type]
    ):
        print("\033[2J\033[H" if out.isatty() else "", end="", file=out)
        render_once(root, settings, client, out, printer, contents)
