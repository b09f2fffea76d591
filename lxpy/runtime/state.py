"""A container's state, read from live facts: processes re-identified by start time, the
cgroup freezer, and markers that count only while their writer is alive.

Files in the run dir are hints; a file alone never makes a container RUNNING, because pids
get reused and a host reboot leaves stale files behind.
"""

from __future__ import annotations

import os

from lxpy.errors import StateError
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.linux.proc import ProcessRef
from lxpy.paths import Paths
from lxpy.records import Record
from lxpy.runtime.rundir import INIT_PID, MONITOR_PID, STARTED_AT, STOPPING_MARK
from lxpy.runtime.rundir import State as State  # defined beside the names, for the monitor


class Live(Record):
    state: State
    init: ProcessRef | None
    monitor: ProcessRef | None
    started: float | None  # wall-clock time init was executed

    @property
    def active(self) -> bool:
        return self.state is not State.STOPPED


def read_live(paths: Paths, name: str, cgroups: ContainerCgroups | None = None) -> Live:
    run = paths.run_dir(name)
    if not os.path.isdir(run):
        return Live(State.STOPPED, None, None, None)
    monitor = ProcessRef.read(f"{run}/{MONITOR_PID}")
    init = ProcessRef.read(f"{run}/{INIT_PID}")
    started = _read_float(f"{run}/{STARTED_AT}") if init else None
    if init is None:
        state = State.STARTING if monitor is not None else State.STOPPED
        if state is State.STARTING and _stopping(run):
            state = State.STOPPING
        return Live(state, None, monitor, None)
    if _stopping(run):
        return Live(State.STOPPING, init, monitor, started)
    cg = cgroups or ContainerCgroups(paths.instance, name)
    if cg.frozen():
        return Live(State.FROZEN, init, monitor, started)
    return Live(State.RUNNING, init, monitor, started)


def not_running(name: str) -> StateError:
    return StateError(f"container {name!r} is not running", hint=f"`lxpy start {name}`")


def _stopping(run: str) -> bool:
    """A stop is under way only while the process that marked it is still alive."""
    return ProcessRef.read(f"{run}/{STOPPING_MARK}") is not None


def _read_float(path: str) -> float | None:
    try:
        with open(path) as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None
