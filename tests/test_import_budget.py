"""Each short command loads what its budget lists and nothing else (issue 18).

A command runs in a fresh interpreter as the `lxpy` script runs it, on a real container, and
the process itself writes the modules it has at its end (not its forks: the launcher and
the monitors have budgets of their own, test_architecture's). lxpy's modules are listed by
full name; the standard library's by top-level package; any other package fails. A module
that a change brings onto a short path fails here until its budget names it: put it off the
path (import it where it is used) or, if the command needs it, add it with the reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import MAIN_THEN_MODULES, Lxpy

integration = pytest.mark.integration

# The interpreter's own start-up: not lxpy's to budget.
_START_UP = set(
    subprocess.run(
        [sys.executable, "-c", "import sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
)

# Reading the command line, and a command word's handler.
CLI = {
    "lxpy",
    "lxpy.__main__",
    "lxpy.cli",
    "lxpy.cli.arguments",
    "lxpy.cli.cmdline",
    "lxpy.cli.commands",
    "lxpy.cli.main",
    "lxpy.cli.quickparse",
    "lxpy.errors",
}
# The API over a root: paths, the store, configs read through the parsed cache and
# validated (re: the schema's patterns; enum: the config's kinds), and run-dir state.
API = CLI | {
    "collections",
    "contextlib",
    "copyreg",
    "enum",
    "errno",
    "fcntl",
    "functools",
    "itertools",
    "keyword",
    "operator",
    "re",
    "reprlib",
    "select",
    "signal",
    "struct",
    "types",
    "zlib",
    "lxpy.api",
    # Where a command's remotes are (lxpy/cli/forward.py): read before the API is loaded.
    "lxpy.remote",
    "lxpy.remote.registry",
    "lxpy.cli.output",
    "lxpy.config",
    "lxpy.config.cache",
    "lxpy.config.file",
    "lxpy.config.kinds",
    "lxpy.config.limits",
    "lxpy.config.model",
    "lxpy.config.schema",
    "lxpy.config.signals",
    "lxpy.config.tomlfile",
    "lxpy.linux",
    "lxpy.linux.cgroups",
    "lxpy.linux.devices",
    "lxpy.linux.locks",
    "lxpy.linux.proc",
    "lxpy.names",
    "lxpy.paths",
    "lxpy.records",
    "lxpy.runtime",
    "lxpy.runtime.lifecycle",
    "lxpy.runtime.limits",
    "lxpy.runtime.rundir",
    "lxpy.runtime.state",
    "lxpy.runtime.teardown",
    "lxpy.store",
    "lxpy.units",
}
# The disk figure, read from its kept count (no walk).
DISK = {"lxpy.linux.atomic", "lxpy.storage", "lxpy.storage.quota", "lxpy.storage.usage"}

BUDGETS: dict[str, set[str]] = {
    # argparse's version action is not needed for `--version` alone.
    "--version": CLI,
    "ls": API | DISK | {"lxpy.cli.containers"},
    # JSON adds each running container's figures.
    "ls --format json": API | DISK | {"lxpy.cli.containers", "json", "lxpy.runtime.stats"},
    # Its snapshots are listed from their directory (safefs: opened inside it, ctypes); its
    # figures; how ssh reaches it (its network's addresses, its user's account inside).
    "info c1": API
    | DISK
    | {
        "ctypes",
        "ipaddress",
        "pwd",
        "lxpy.cli.containers",
        "lxpy.net",
        "lxpy.net.model",
        "lxpy.runtime.guest",
        "lxpy.runtime.ssh",
        "lxpy.runtime.stats",
        "lxpy.linux.safefs",
        "lxpy.linux.syscalls",
        "lxpy.linux.userns",
        "lxpy.storage.layers",
        "lxpy.storage.overlay",
        "lxpy.storage.snapshots",
        "lxpy.storage.trees",
    },
    # The command runs under the container's seccomp filter (built on the host: libseccomp
    # through ctypes), as its user, on a pty or pipes, from a sealed busybox trampoline.
    "attach c1 -- true": API
    | {
        "ctypes",
        "termios",
        "tty",
        "lxpy.cli.inside",
        "lxpy.linux.atomic",
        "lxpy.linux.caps",
        "lxpy.linux.hostbin",
        "lxpy.linux.rootfs",
        "lxpy.linux.safefs",
        "lxpy.linux.seccomp",
        "lxpy.linux.syscalls",
        "lxpy.linux.userns",
        "lxpy.runtime.attach",
    },
    # Not its first (which chooses its id range and saves its config): the launcher, forked
    # before the CLI's imports; its user namespace made (ctypes), its overlay's layers.
    "start c2": API
    | {
        "ctypes",
        "gc",
        "lxpy.cli.lifecycle",
        "lxpy.idmaps",
        "lxpy.linux.syscalls",
        "lxpy.linux.userns",
        "lxpy.runtime.launcher",
        "lxpy.storage",
        "lxpy.storage.overlay",
    },
    # The monitor is asked over its control socket.
    "stop -k c1": API | {"lxpy.cli.lifecycle", "lxpy.runtime.control"},
}
NEVER = {"dataclasses", "inspect", "typing", "argparse", "ast", "dis", "tomllib", "subprocess"}


def loaded(lx: Lxpy, args: list[str], tmp_path: Path) -> set[str]:
    """What `lxpy ARGS` loaded beyond the interpreter's start-up: lxpy's by full name, the
    standard library's by top-level package, anything else by full name."""
    out = tmp_path / "modules"
    proc = subprocess.run(
        [sys.executable, "-c", MAIN_THEN_MODULES, str(out), "--root", lx.root, *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    found = set()
    for module in set(out.read_text().split()) - _START_UP:
        top = module.split(".")[0]
        if top == "lxpy" or top not in sys.stdlib_module_names:
            found.add(module)
        elif not top.startswith("_"):  # C accelerators come with their module
            found.add(top)
    return found


@integration
def test_every_short_command_keeps_to_its_budget(lxpy: Lxpy, tmp_path: Path) -> None:
    lxpy.run("create", "c1", "--network", "none")
    lxpy.run("start", "c1")
    lxpy.run("create", "c2", "--network", "none")
    lxpy.run("start", "c2")
    lxpy.run("stop", "-k", "c2")
    wrong: dict[str, dict[str, list[str]]] = {}
    for command, budget in BUDGETS.items():
        found = loaded(lxpy, command.split(), tmp_path)
        assert not found & NEVER, f"lxpy {command} loads {sorted(found & NEVER)}"
        # Both ways: a budget that names what its command no longer loads is out of date.
        if found != budget:
            wrong[command] = {"over": sorted(found - budget), "unspent": sorted(budget - found)}
    assert not wrong, f"outside their budgets: {wrong}"
