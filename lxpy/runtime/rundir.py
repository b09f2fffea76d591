"""A running container's run dir, as its monitor and the CLI both know it: the names of the
files in it and the state words they add up to.

Imported by the monitor and by `lxpy ls`: standard library only (enum is loaded by both
already).
"""

from __future__ import annotations

import enum

MONITOR_PID = "monitor.pid"
INIT_PID = "init.pid"
STARTED_AT = "started"  # wall-clock time init was executed
STOPPING_MARK = "stopping"  # the process stopping the container, while it does
CONTROL_SOCKET = "control.sock"
NOTIFY_SOCKET = "notify"  # the monitor's sd_notify socket, for systemd inside
READY_MARK = "ready"  # made by the monitor when init reports READY=1


class State(enum.StrEnum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    FROZEN = "FROZEN"
    STARTING = "STARTING"
    STOPPING = "STOPPING"
