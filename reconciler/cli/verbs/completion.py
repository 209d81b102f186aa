"""``reconciler completion bash``: a bash completion script, generated from the parser so
that it knows every verb and flag (``source <(reconciler completion bash)``)."""

from __future__ import annotations

import argparse
from typing import TextIO

from reconciler.cli.command import Subparsers, add_verb

EXAMPLES = """\
  source <(reconciler completion bash)
  reconciler completion bash > /etc/bash_completion.d/reconciler
"""

# Words completed after a verb's flags, where the verb takes a type first.
TYPE_WORDS = {"get": "is istag images", "describe": "is imagestream"}


def register(subparsers: Subparsers) -> None:
    p = add_verb(
        subparsers,
        "completion",
        description="Print a completion script for the shell.",
        examples=EXAMPLES,
        run=run,
    )
    p.add_argument("shell", choices=["bash"])


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    out: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS:
            continue
        out.extend(s for s in action.option_strings if s.startswith("--"))
    return sorted(set(out))


def bash_script(parser: argparse.ArgumentParser) -> str:
    verbs = _subparsers(parser)
    cases = []
    for name, sub in sorted(verbs.items()):
        words = " ".join(_flags(sub))
        nested = _subparsers(sub)
        extra = " ".join(sorted(nested)) or TYPE_WORDS.get(name, "")
        cases.append(f'    {name}) flags="{words}"; words="{extra}" ;;')
    return (
        "# bash completion for reconciler\n"
        "_reconciler() {\n"
        '  local cur="${COMP_WORDS[COMP_CWORD]}" verb="${COMP_WORDS[1]}" flags="" words=""\n'
        "  if [[ $COMP_CWORD -eq 1 ]]; then\n"
        f'    COMPREPLY=($(compgen -W "{" ".join(sorted(verbs))} --help --version" -- "$cur"))\n'
        "    return\n"
        "  fi\n"
        '  case "$verb" in\n' + "\n".join(cases) + "\n  esac\n"
        '  if [[ "$cur" == -* ]]; then\n'
        '    COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))\n'
        '  elif [[ -n "$words" && $COMP_CWORD -eq 2 ]]; then\n'
        '    COMPREPLY=($(compgen -W "$words" -- "$cur"))\n'
        "  else\n"
        '    COMPREPLY=($(compgen -f -- "$cur"))\n'
        "  fi\n"
        "}\n"
        "complete -F _reconciler reconciler\n"
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    from reconciler.cli import main  # the whole parser, built when asked (main imports us)

    out.write(bash_script(main.build_parser()))
    return 0
