"""The log view: its model without a terminal, then the screen headless (Pilot) against
real busybox containers, as tests/test_tui.py does."""

from __future__ import annotations

import time

from lxpy.tui.logtext import LogText, Rows, news, spans, without_time


def numbered(first: int, last: int) -> bytes:
    return b"".join(b"line %d\r\n" % i for i in range(first, last + 1))


def test_lines_are_cleaned_when_read_and_an_open_line_is_completed() -> None:
    text = LogText()
    text.feed(b"\x1b[1;32mgreen\x1b[0m\r\nta\tb\x07\nlogin: ", 1.0)
    assert len(text) == 3 and text.is_open
    assert [text.line(i) for i in range(3)] == ["green", "ta      b", "login: "]
    text.feed(b"root\nnext\n", 2.0)
    assert len(text) == 4 and not text.is_open
    assert text.line(2) == "login: root" and text.line(3) == "next"
    # A line is timed when its end came.
    assert text.received(1) == 1.0 and text.received(2) == text.received(3) == 2.0
    text.note("[lxpy] a gap", 3.0)
    assert text.line(4) == "[lxpy] a gap" and text.received(4) == 3.0


def test_search_goes_round_the_ends_both_ways() -> None:
    text = LogText()
    text.feed(numbered(1, 10000), 0.0)
    assert text.find("line 5000", 0) == 4999
    assert text.find("LINE 5000", 5000) == 4999  # round the end, any case
    assert text.find("line 8", 9000, forward=False) == 8998
    assert text.find("line 99", 0, forward=False) == 9998  # round the start
    assert text.find("nowhere", 0) is None and text.find("", 0) is None
    assert spans("a line, a Line", "LINE") == [(2, 6), (10, 14)]


def test_the_oldest_lines_go_past_the_maximum() -> None:
    text = LogText(max_lines=100)
    text.feed(numbered(1, 60), 1.0)
    text.feed(numbered(61, 120), 2.0)
    assert text.dropped == 30 and len(text) == 90
    assert text.line(0) == "line 31" and text.received(0) == 1.0
    assert text.line(30) == "line 61" and text.received(30) == 2.0


def test_a_console_read_adds_what_the_last_one_did_not_hold() -> None:
    assert news(b"", b"abc") == b"abc"
    assert news(b"line 1\nline 2\n", b"line 1\nline 2\nline 3\n") == b"line 3\n"
    # The ring slid: its front went, the end is new.
    before = numbered(1, 500)
    now = numbered(200, 600)
    assert news(before, now) == numbered(501, 600)
    # Output that repeats: the least that can be new, not a screenful twice.
    assert news(b"tick\n" * 100, b"tick\n" * 100) == b""
    # A restart (another ring), or a ring that slid past all of the last read.
    assert news(numbered(1, 500), numbered(900, 1000)) is None


def test_rows_wrap_lines_at_the_width() -> None:
    widths = [5, 25, 0, 10]
    rows = Rows(10, wrap=True)
    rows.add(4, widths.__getitem__)
    assert rows.total == 1 + 3 + 1 + 1
    assert [rows.at(r) for r in range(6)] == [(0, 0), (1, 0), (1, 1), (1, 2), (2, 0), (3, 0)]
    assert rows.first_row(3) == 5
    rows.cut(3)  # the last line grew
    widths[3] = 11
    rows.add(1, widths.__getitem__)
    assert rows.total == 7
    flat = Rows(10, wrap=False)
    flat.add(4, widths.__getitem__)
    assert flat.total == 4 and flat.at(3) == (3, 0)


def test_journal_times_come_off() -> None:
    assert without_time("2026-01-01T12:00:00+0000 box sshd[1]: up") == "box sshd[1]: up"
    assert without_time("2026-01-01T12:00:00+00:00 box x: y") == "box x: y"
    assert without_time("-- No entries --") == "-- No entries --"


def test_a_50_mb_log_opens_at_once() -> None:
    """Split once into lines; only what is shown or searched is cleaned. CPU time: the
    test workers share the machine."""
    data = b"".join(
        b"\x1b[0m%08d some console output of a busy container\r\n" % i for i in range(1_000_000)
    )
    assert len(data) > 50 * 10**6
    started = time.process_time()
    text = LogText(max_lines=2_000_000)
    text.feed(data, 0.0)
    rows = Rows(80, wrap=False)
    rows.add(len(text), lambda index: 0)
    last = text.line(len(text) - 1)
    elapsed = time.process_time() - started
    assert last == "00999999 some console output of a busy container"
    assert elapsed < 0.3, elapsed
