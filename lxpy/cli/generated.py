"""Writing the files made from the command table and committed beside the code: the man
pages (manpages.py) and the shell completion scripts (completion.py). The tests make them
again and compare, so they cannot drift from --help."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path


def main(made: Callable[[], Mapping[str, str]], module: str, where: str) -> None:
    """`python -m MODULE DIR`: write each file `made` returns into DIR."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: python -m {module} DIR ({where} in the repository)")
    directory = Path(sys.argv[1])
    for name, text in made().items():
        (directory / name).write_text(text)
        print(directory / name)
