"""The log view's model: a container's console or journal as lines, fed in chunks of bytes,
searched, and laid out in rows. No textual here: the model is tested without a terminal.

Lines are kept as the bytes that came and cleaned (decoded, escapes removed) when first
read, so a large log is split once and only the lines that are shown or searched cost more.
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable

from lxpy.tui.fleet import ESCAPES

# Oldest lines go past this many (a tenth at a time), so a view left following a chatty
# journal for days keeps a bounded buffer.
MAX_LINES = 500_000
# Enough of the last console read to find it again in the next one: the ring moves on by
# whole reads, and 256 bytes of output repeat seldom enough.
ANCHOR = 256
# C0 controls other than tab, and DEL: shown as text they would move the cursor.
_CONTROLS = str.maketrans("", "", "".join(map(chr, [*range(9), *range(10, 32), 127])))
# journalctl -o short-iso's time: "2026-01-01T12:00:00+0000 " (or "+00:00", newer systemd).
_JOURNAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)? ")


def clean(raw: bytes) -> str:
    """A line as it reads: decoded, terminal escapes and controls gone, tabs expanded."""
    return ESCAPES.sub("", raw.decode(errors="replace")).translate(_CONTROLS).expandtabs()


def without_time(line: str) -> str:
    """A journal line without journalctl's own time at its start."""
    found = _JOURNAL_TIME.match(line)
    return line[found.end() :] if found else line


def clock(when: float) -> str:
    """A receive time as a line's prefix: 12:00:00.250."""
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when % 1 * 1000):03d}"


def news(before: bytes, now: bytes) -> bytes | None:
    """What a console ring read `now` holds that the read `before` did not. The ring is the
    last bytes of the console: it grows, then slides. None: `now` does not go on from
    `before` (the ring was replaced by a restart, or slid past all of `before`)."""
    if now.startswith(before):
        return now[len(before) :]
    anchor = before[-ANCHOR:]
    # The last place the anchor fits: when output repeats, taking too little beats showing
    # a screenful twice.
    at = now.rfind(anchor)
    while at >= 0:
        seen = at + len(anchor)
        if before.endswith(now[:seen]):
            return now[seen:]
        at = now.rfind(anchor, 0, seen - 1)
    return None


class LogText:
    """The lines of a log and when each arrived. The last line may still be open (no newline
    yet, like a login prompt): it is shown, and replaced when the rest of it comes."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self.max_lines = max_lines
        self._lines: list[bytes | str] = []  # bytes until first read, then cleaned
        self._open = b""  # the last line's bytes while it has no newline
        self._starts: list[int] = []  # the first line of each chunk ...
        self._times: list[float] = []  # ... and when it came
        self.dropped = 0  # lines let go from the front, all told
        self.widest = 0  # bytes of the longest line: an upper bound of its cells

    def __len__(self) -> int:
        return len(self._lines)

    @property
    def is_open(self) -> bool:
        """The last line has no newline yet: the next feed may change it."""
        return bool(self._open)

    def feed(self, data: bytes, when: float) -> None:
        if not data:
            return
        if self._open:
            self._lines.pop()
            data = self._open + data
        first = len(self._lines)
        parts = data.split(b"\n")
        self._open = parts.pop()
        if self._open:
            parts.append(self._open)
        self._lines.extend(parts)
        self.widest = max(self.widest, max(map(len, parts), default=0))
        if not self._starts or self._starts[-1] < first:
            self._starts.append(first)
            self._times.append(when)
        if len(self._lines) > self.max_lines:
            self._drop(len(self._lines) - self.max_lines + self.max_lines // 10)

    def note(self, text: str, when: float) -> None:
        """A line of lxpy's own (a gap in the console), after whatever came so far."""
        self._open = b""
        self.feed(f"{text}\n".encode(), when)

    def _drop(self, count: int) -> None:
        del self._lines[:count]
        self.dropped += count
        kept = bisect.bisect_right(self._starts, count) - 1
        self._starts = [max(0, start - count) for start in self._starts[kept:]]
        del self._times[:kept]

    def line(self, index: int) -> str:
        line = self._lines[index]
        if isinstance(line, bytes):
            line = self._lines[index] = clean(line)
        return line

    def received(self, index: int) -> float:
        return self._times[bisect.bisect_right(self._starts, index) - 1]

    def find(self, needle: str, start: int, forward: bool = True) -> int | None:
        """The first line from `start` on (or back) holding `needle`, case-insensitively,
        going round the ends once; None: no line has it."""
        count = len(self._lines)
        if not needle or not count:
            return None
        needle = needle.lower()
        step = 1 if forward else -1
        for offset in range(count):
            index = (start + step * offset) % count
            if needle in self.line(index).lower():
                return index
        return None


def spans(line: str, needle: str) -> list[tuple[int, int]]:
    """Where `needle` is in `line`, case-insensitively, for highlighting."""
    if not needle:
        return []
    folded, needle = line.lower(), needle.lower()
    found = []
    at = folded.find(needle)
    while at >= 0:
        found.append((at, at + len(needle)))
        at = folded.find(needle, at + len(needle))
    return found


class Rows:
    """Lines laid out at a width: each line takes the rows its cells fill (at least one)
    when wrapped, one when not. Built as lines come, again when the width or the text of
    the lines changes."""

    def __init__(self, width: int, wrap: bool) -> None:
        self.width = max(1, width)
        self.wrap = wrap
        self._lines = 0
        self._ends: list[int] = []  # wrapped: the row after each line

    def __len__(self) -> int:
        return self._lines

    @property
    def total(self) -> int:
        if not self.wrap:
            return self._lines
        return self._ends[-1] if self._ends else 0

    def add(self, count: int, cells: Callable[[int], int]) -> None:
        """The next `count` lines; `cells(i)`: the width of line i (asked only to wrap)."""
        first = self._lines
        self._lines += count
        if self.wrap:
            row = self.total
            for line in range(first, first + count):
                row += max(1, -(-cells(line) // self.width))
                self._ends.append(row)

    def cut(self, lines: int) -> None:
        """Forget the rows of all lines from `lines` on (an open line that grew)."""
        self._lines = min(self._lines, lines)
        del self._ends[lines:]

    def first_row(self, line: int) -> int:
        if not self.wrap:
            return line
        return self._ends[line - 1] if line > 0 else 0

    def at(self, row: int) -> tuple[int, int]:
        """The line shown in `row`, and which of its rows it is."""
        if not self.wrap:
            return row, 0
        line = bisect.bisect_right(self._ends, row)
        return line, row - self.first_row(line)
