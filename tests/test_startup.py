"""What the command loads before it does anything (issue 12): ``reconciler --help`` and
``reconciler validate`` on a valid repo load no HTTP client, no git library and no
``jsonschema`` (which runs only on objects the compiled validator refuses). Checked in a
fresh interpreter, by the modules it ends with; never by the clock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("httpx", "git", "jsonschema", "referencing", "watchfiles", "rich", "starlette", "uvicorn")
SAMPLE = Path(__file__).resolve().parent.parent / "sample-repo"


def loaded_after(code: str, cwd: Path | None = None) -> set[str]:
    """The HEAVY top-level packages a fresh interpreter has loaded after ``code``."""
    probe = (
        "import json, sys\n"
        f"{code}\n"
        "loaded = {m.split('.')[0] for m, module in sys.modules.items() if module is not None}\n"
        f"print(json.dumps(sorted(loaded & set({HEAVY!r}))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def help_of(*argv: str) -> str:
    return (
        "from reconciler.cli.main import main\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({list(argv)!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
    )


def test_help_loads_no_heavy_stack_and_no_verb() -> None:
    assert loaded_after(help_of("--help")) == set()
    verbs = (
        "import json, sys\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('reconciler.cli.verbs.'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", help_of("--help") + verbs],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_help_still_lists_every_verb() -> None:
    from reconciler.cli.main import build_parser
    from reconciler.cli.verbs import VERBS

    full = build_parser().format_help()
    assert build_parser(["--help"]).format_help() == full
    words = " ".join(full.split())  # argparse wraps the lines
    for name, (_, summary) in VERBS.items():
        assert f"{name} {summary}" in words


@pytest.mark.parametrize("verb", ["validate", "reconcile", "import-image", "triggers", "prune"])
def test_verb_help_loads_no_heavy_stack(verb: str) -> None:
    assert loaded_after(help_of(verb, "--help")) == set()


def test_validate_of_a_valid_repo_loads_no_heavy_stack() -> None:
    code = (
        "import io\n"
        "from reconciler.cli.main import main\n"
        f"assert main(['validate', {str(SAMPLE)!r}], io.StringIO()) == 0"
    )
    assert loaded_after(code) == set()


def test_validate_of_an_invalid_object_words_it_with_jsonschema(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: Bad_Name\n"
    )
    code = (
        "import io\n"
        "from reconciler.cli.main import main\n"
        "out = io.StringIO()\n"
        f"assert main(['validate', {str(tmp_path)!r}], out) == 1, out.getvalue()\n"
        "assert 'bad.yaml:4:' in out.getvalue(), out.getvalue()"
    )
    assert loaded_after(code) == {"jsonschema", "referencing"}
