"""What the commands print besides their results: tables, errors, progress on stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from lxpy import units
from lxpy.errors import LxpyError, describe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Counted, Silent, Terminal


def table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def warn(warnings: Sequence[str]) -> None:
    """What is allowed but likely not meant (a memory limit above the host's memory)."""
    for warning in warnings:
        print(f"lxpy: warning: {warning}", file=sys.stderr)


def error(e: Exception) -> None:
    # Anything but an LxpyError is unexpected: its traceback tells where.
    hint = "" if isinstance(e, LxpyError) else " (hint: --debug shows the traceback)"
    print(describe(e) + hint, file=sys.stderr)


def progress(quiet: bool) -> Silent | Terminal:
    """A create's or refresh's steps on stderr, or nothing."""
    from lxpy.api import Silent, Terminal

    return Silent() if quiet else Terminal(sys.stderr)


def transfer_progress(verb: str) -> Callable[[int], None]:
    """On a terminal, the bytes done so far, rewritten in place twice a second."""
    import time

    last = [0.0]

    def show(done: int) -> None:
        now = time.monotonic()
        if sys.stderr.isatty() and now - last[0] >= 0.5:
            last[0] = now
            sys.stderr.write(f"\r\x1b[K{verb} {units.size(done)}")
            sys.stderr.flush()

    return show


def report_transfer(verb: str, name: str, counted: Counted, where: str) -> None:
    rate = counted.bytes / counted.seconds / 1e6 if counted.seconds > 0 else 0.0
    end = "\r\x1b[K" if sys.stderr.isatty() else ""
    print(
        f"{end}{verb} {name}: {counted.files} files, {units.size(counted.bytes)} in "
        f"{counted.seconds:.1f} s ({rate:.0f} MB/s) {where}",
        file=sys.stderr,
    )
