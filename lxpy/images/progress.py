"""Progress of a long create: steps and elapsed time, shown by whoever asked (CLI, TUI)."""

from __future__ import annotations

import os
import time
from typing import Protocol, TextIO


class Progress(Protocol):
    def step(self, text: str) -> None:
        """A new step began."""

    def tick(self) -> None:
        """Nothing new, but time passes (called a few times a second during long steps)."""


class Silent:
    def step(self, text: str) -> None:
        pass

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass


class Terminal:
    """Steps with elapsed time. On a terminal one line is rewritten in place; elsewhere (a
    log, a pipe) each step is its own line, once the work has lasted a second: a quick
    create from the cache stays quiet in scripts."""

    QUIET_SECONDS = 1.0

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.started = time.monotonic()
        self.text = ""
        self.pending = False
        self.live = stream.isatty()

    def _line(self) -> str:
        return f"[{time.monotonic() - self.started:6.1f}s] {self.text}"

    def step(self, text: str) -> None:
        self.text = text
        self.pending = True
        self.tick()

    def tick(self) -> None:
        if self.live and self.text:
            self.stream.write(f"\r\x1b[K{self._line()}"[: 4 + _width()])
        elif self.pending and time.monotonic() - self.started >= self.QUIET_SECONDS:
            self.stream.write(self._line() + "\n")
        else:
            return
        self.pending = False
        self.stream.flush()

    def close(self) -> None:
        if self.live and self.text:
            self.stream.write("\n")
            self.stream.flush()
        self.text = ""


def _width() -> int:
    try:
        return os.get_terminal_size(2).columns - 1
    except OSError:
        return 79
