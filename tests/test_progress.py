"""Progress shows on a terminal and stays silent elsewhere."""

from __future__ import annotations

import io
import time

from reconciler.cli import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_not_a_terminal() -> None:
    out = io.StringIO()
    with progress.activity("asking the registries", out):
        pass
    with progress.Bar("checking", 10, out) as bar:
        for _ in range(10):
            bar.advance()
    assert out.getvalue() == ""


def test_spinner_and_bar_on_a_terminal() -> None:
    out = Terminal()
    with progress.activity("asking the registries", out):
        time.sleep(0.2)
    with progress.Bar("checking images", 3, out) as bar:
        for _ in range(3):
            bar.advance()
    assert "asking the registries" in out.getvalue()
    assert "checking images" in out.getvalue()
