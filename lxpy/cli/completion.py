"""Shell completion scripts for bash, zsh and fish, made by shtab from the command table:
commands, options and choices, and for the arguments arguments.py marks, the shell's file
names or the values of the hidden `lxpy complete KIND LINE` (lxpy/cli/values.py), run at
completion time. shtab is needed only here (the `test` extra): the scripts are committed in
contrib/completion/ and contrib/install.sh installs them. `python -m lxpy.cli.completion
contrib/completion/` rewrites them (tests/test_completion.py checks that they are current).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import shtab

from lxpy.cli import arguments, generated
from lxpy.cli.parser import parser

# The file each shell's script is written to.
SCRIPTS = {"bash": "lxpy.bash", "zsh": "_lxpy", "fish": "lxpy.fish"}

# One function per shell runs the lister: the command typed (`./venv/bin/lxpy` too, and past
# `sudo`), given the line up to the cursor; the shell filters what it prints by the word
# being typed. bash's scripts call a function by name with that word, hence one per kind.
_BASH = """\
_lxpy_values() {
  local IFS=$'\\n'
  compgen -W "$("${COMP_WORDS[0]}" complete "$1" "${COMP_LINE:0:COMP_POINT}" 2>/dev/null)" \\
    -- "$2"
}
"""
_ZSH = """\
_lxpy_values() {
  local kind=$1 lxpy=${${(z)LBUFFER}[(r)(|*/)lxpy]:-lxpy}
  local -a values
  shift
  values=(${(f)"$($lxpy complete $kind "$LBUFFER" 2>/dev/null)"})
  compadd "$@" -a values
}
"""
_FISH = """\
function _lxpy_values
    set -l lxpy (string match -r -- '^(?:.*/)?lxpy$' (commandline -opc))
    set -q lxpy[1]; or set lxpy lxpy
    command -q $lxpy[1]; and $lxpy[1] complete $argv[1] (commandline -cp) 2>/dev/null
end
"""


def _preamble(shell: str) -> str:
    if shell == "bash":
        return _BASH + "".join(
            f'_lxpy_{kind}() {{ _lxpy_values {kind} "$1"; }}\n' for kind in arguments.LISTED
        )
    if shell == "zsh":
        return _ZSH + "".join(
            f'_lxpy_{kind}() {{ _lxpy_values {kind} "$@" }}\n' for kind in arguments.LISTED
        )
    return _FISH


def _completion(kind: str) -> shtab.CompleteType:
    if kind == arguments.FILES:
        return shtab.FILE
    if kind == arguments.DIRS:
        return shtab.DIRECTORY
    return {"bash": f"_lxpy_{kind}", "zsh": f"_lxpy_{kind}", "fish": f"(_lxpy_values {kind})"}


def script(shell: str) -> str:
    p = parser(every=True)
    for each in _parsers(p):
        if each is not p:
            # shtab describes a command by its description's first line, a line broken
            # mid-sentence; the summary is what `lxpy --help` shows.
            each.description = None
        for action in each._actions:
            kind = getattr(action, arguments.COMPLETES, None)
            if kind is not None:
                action.complete = _completion(kind)  # type: ignore[attr-defined]
    text = shtab.complete(p, shell, preamble=_preamble(shell))
    if shell == "zsh":
        # shtab's zsh spec of an nargs "+" or "*" positional, `(*):...`, completes its first
        # value only; `*:...` completes each (`lxpy start c1 <TAB>`, `snapshot rm web <TAB>`).
        text = re.sub(r'^  "\(\*\)::?', '  "*:', text, flags=re.MULTILINE)
    return text


def _parsers(p: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """`p` and its commands' parsers."""
    yield p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from dict.fromkeys(action.choices.values())  # an alias is the same parser


def scripts() -> dict[str, str]:
    """Each shell's script, by file name."""
    return {name: script(shell) for shell, name in SCRIPTS.items()}


if __name__ == "__main__":
    generated.main(scripts, "lxpy.cli.completion", "contrib/completion/")
