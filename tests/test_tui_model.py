"""The TUI's pieces that need no terminal: the model, the settings file, the layering."""

from __future__ import annotations

import calendar
import subprocess
import sys

import pytest

from lxpy.api import Api, HostUsage, Paths, State
from lxpy.errors import ConfigError
from lxpy.remote.registry import Remote
from lxpy.tui.fleet import Row, ago, arrange, bars, columns, console_tail, host_line, split
from lxpy.tui.hosts import UNREACHABLE, UP, RemoteHost, Status, status_line
from lxpy.tui.settings import ACTIONS, parse


def row(
    name: str,
    state: State = State.STOPPED,
    cpu: float | None = None,
    fleet: str = "",
    host: str = "local",
) -> Row:
    return Row(name, state, "busybox", "", cpu, None, None, None, False, fleet=fleet, host=host)


def test_bars_use_a_fixed_scale() -> None:
    assert bars([0.0, 0.0, 0.0], 100, 10) == "   "  # idle is empty, not full
    assert bars([50.0, 100.0], 100, 10) == "▄█"
    assert bars([0.1], 100, 10) == "▁"  # a little is not nothing
    assert bars([200.0, 100.0], 100, 10) == "█▄"  # beyond the scale: the scale grows
    assert bars([1.0, 2.0, 3.0], 3, 2) == "▅█"  # the newest that fit
    assert bars([1.0], 1, 0) == ""


def test_console_tail_drops_escapes_and_keeps_the_last_lines() -> None:
    log = b"\x1b[1;32mgreen\x1b[0m\r\n" + b"".join(b"line %d\r\n" % i for i in range(20))
    tail = console_tail(log, lines=3)
    assert tail == "line 17\nline 18\nline 19"
    assert console_tail(b"\x1b[1;32mgreen\x1b[0m\r\n\x1b]0;title\x07x\n") == "green\nx"


def test_arrange_filters_and_sorts() -> None:
    rows = [row("b", State.RUNNING, 5.0), row("a"), row("c", State.RUNNING, 50.0)]
    assert [r.name for r in arrange(rows, "", "name", False)] == ["a", "b", "c"]
    assert [r.name for r in arrange(rows, "", "name", True)] == ["c", "b", "a"]
    # Numbers largest first; unknown ones last.
    assert [r.name for r in arrange(rows, "", "cpu", False)] == ["c", "b", "a"]
    assert [r.name for r in arrange(rows, "run", "name", False)] == ["b", "c"]
    assert [r.name for r in arrange(rows, " A ", "name", False)] == ["a"]


def test_grouping_keeps_each_fleets_rows_together_in_the_sort_order() -> None:
    rows = [
        row("a", cpu=1.0),
        row("shop-db", cpu=5.0, fleet="shop"),
        row("lab-x", cpu=9.0, fleet="lab"),
        row("shop-web", cpu=7.0, fleet="shop"),
        row("z", cpu=8.0),
    ]
    by_cpu = ["lab-x", "shop-web", "shop-db", "z", "a"]
    assert [r.name for r in arrange(rows, "", "cpu", False, grouped=True)] == by_cpu
    assert [r.name for r in arrange(rows, "", "cpu", False)] == [
        "lab-x",
        "z",
        "shop-web",
        "shop-db",
        "a",
    ]
    assert [r.name for r in arrange(rows, "shop", "name", False)] == ["shop-db", "shop-web"]


def test_the_host_filter_keeps_those_hosts_rows() -> None:
    rows = [row("web"), row("web", host="far"), row("db", host="far2")]

    def shown(text: str) -> list[str]:
        arranged = arrange(rows, text, "name", False, shown_columns=columns(hosts=True))
        return [r.address for r in arranged]

    assert shown("") == ["far2:db", "web", "far:web"]  # a name's rows: in the hosts' order
    assert shown("host:far") == ["far:web"]  # that host alone, not every name holding it
    assert shown("host:far WEB") == ["far:web"]  # and the rest of the filter as before
    assert shown("host:local host:far2") == ["far2:db", "web"]
    assert shown("far") == ["far2:db", "far:web"]  # the HOST column matches as any other
    assert split("far:web") == ("far", "web") and split("web") == ("local", "web")


def test_the_status_line_says_why_a_host_does_not_answer(tmp_path: object) -> None:
    host = RemoteHost(Paths.for_root(str(tmp_path)), Remote("far", "far.example"), 5.0)
    assert status_line([host], 0.0) == "far: connecting…"
    host.rows, host.status = [row("a", State.RUNNING, host="far"), row("b", host="far")], Status(UP)
    assert status_line([host, host], 0.0) == " · ".join(["far: 2 containers, 1 running"] * 2)
    host.status = Status(UNREACHABLE, "cannot reach remote far", retry=10.0)
    said = "far unreachable: cannot reach remote far (trying again"
    assert status_line([host], 2.0) == f"{said} in 8 s)"
    assert status_line([host], 10.0) == f"{said} now)"


def test_settings_are_checked() -> None:
    settings = parse(
        "t.toml",
        {"keys": {"start": "x,f5"}, "shell": "/bin/bash", "refresh": 2, "remote_refresh": 30},
    )
    assert settings.keys["start"] == "x,f5" and settings.keys["stop"] == ACTIONS["stop"][0]
    assert settings.shell == ("/bin/bash",) and settings.refresh == 2.0
    assert settings.remote_refresh == 30.0
    bad: list[tuple[dict[str, object], str]] = [
        ({"keys": {"launch": "x"}}, "keys.launch: unknown action"),
        ({"keys": {"start": "S"}}, "S is bound to"),
        ({"keys": {"start": ""}}, "expected keys"),
        ({"shell": [1]}, "shell: expected a command"),
        ({"refresh": 0}, "refresh: expected seconds"),
        ({"remote_refresh": 0.5}, "remote_refresh: expected seconds between 1 and 600"),
        ({"colour": "red"}, "colour: unknown key"),
    ]
    for doc, words in bad:
        with pytest.raises(ConfigError, match=words):
            parse("t.toml", doc)


def test_tui_needs_a_terminal(tmp_path: object) -> None:
    run = [sys.executable, "-m", "lxpy", "--root", str(tmp_path)]
    result = subprocess.run([*run, "tui"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert "the TUI needs a terminal" in result.stderr
    # `lxpy` alone off a terminal is help, as before.
    result = subprocess.run(run, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and "COMMAND" in result.stdout


def test_the_host_line_fits_80_columns() -> None:
    host = HostUsage(64, 99.6, 1000 * 2**30, 1024 * 2**30, (120.5, 99.25, 80.0), 0.0, 0.0)
    line = host_line(host, 999)
    assert line == ("host CPU 100% of 64 · mem 1000G/1.0T · load 120.50 99.25 80.00 · 999 running")
    assert len(line) <= 78  # the widget's padding takes the other two
    assert "CPU - of 2" in host_line(HostUsage(2, None, 0, 1, (0.0, 0.0, 0.0), 0.0, 0.0), 0)


def test_ages_are_in_their_largest_unit() -> None:
    now = calendar.timegm((2026, 1, 2, 3, 0, 0))
    assert ago("2026-01-02T03:00:00Z", now) == "0 s ago"
    assert ago("2026-01-02T02:59:01Z", now) == "59 s ago"
    assert ago("2026-01-02T02:58:00Z", now) == "2 min ago"
    assert ago("2026-01-02T00:00:00Z", now) == "3 h ago"
    assert ago("2025-12-30T03:00:00Z", now) == "3 d ago"
    assert ago("2026-01-03T00:00:00Z", now) == "0 s ago"  # a clock set back
    assert ago("?", now) == "-"


def test_the_host_figures_come_from_the_api(tmp_path: object) -> None:
    api = Api.for_root(str(tmp_path))
    first = api.host()
    assert first.cpu_percent is None and first.cpus >= 1
    assert 0 < first.memory_used <= first.memory_total and len(first.load) == 3
    later = api.host(first)
    assert later.cpu_percent is None or 0.0 <= later.cpu_percent <= 100.0
    assert later.all_seconds >= first.all_seconds
