"""A container's limits as the cgroup layer takes them: plain data, in kernel units."""

from __future__ import annotations

import os

from lxpy.config import Limits, parse_cpuset, parse_size

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: every command imports this through lifecycle
if TYPE_CHECKING:
    from typing import Any


def settings(limits: Limits) -> dict[str, Any]:
    """Every limit, None where there is none (so applying these lifts a removed one)."""
    cpus = os.cpu_count() or 1
    return {
        "pids": limits.pids,
        "memory": None if limits.memory is None else parse_size(limits.memory),
        "swap": None if limits.swap is None else parse_size(limits.swap),
        "cpus": limits.cpus,
        "cpuset": None
        if limits.cpuset is None
        else ",".join(str(c) for c in parse_cpuset(limits.cpuset, cpus)),
        "io_weight": limits.io_weight,
    }
