"""Live figures of a running container, for `lxpy info`, `lxpy top` and the TUI.

CPU percent needs two samples: `sample` takes one, `Stats.cpu_percent` compares it with an
earlier one of the same run.
"""

from __future__ import annotations

import time

from lxpy.config import ContainerConfig
from lxpy.linux.cgroups import ContainerCgroups
from lxpy.paths import Paths
from lxpy.records import Record, as_dict, replace

TYPE_CHECKING = False  # not typing's: its import costs every command
if TYPE_CHECKING:
    from typing import Any


class Stats(Record):
    taken: float  # time.monotonic() of the sample
    cpu_seconds: float | None
    memory: int | None
    memory_peak: int | None
    memory_limit: int | None
    pids: int | None
    rx_bytes: int | None  # what the container received, all its NICs together
    tx_bytes: int | None
    oom_kills: int
    uptime: float | None
    cpu_percent: float | None = None

    def since(self, earlier: Stats | None) -> Stats:
        """This sample with its CPU percent over the time since `earlier` (100 = one CPU)."""
        if earlier is None or self.cpu_seconds is None or earlier.cpu_seconds is None:
            return self
        elapsed = self.taken - earlier.taken
        if elapsed <= 0:
            return self
        percent = max(0.0, (self.cpu_seconds - earlier.cpu_seconds) / elapsed * 100)
        return replace(self, cpu_percent=round(percent, 1))

    def to_json(self) -> dict[str, object]:
        data = {k: v for k, v in as_dict(self).items() if k != "taken"}
        if isinstance(data["cpu_seconds"], float):
            data["cpu_seconds"] = round(data["cpu_seconds"], 3)
        if isinstance(data["uptime"], float):
            data["uptime"] = round(data["uptime"], 3)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stats:
        """A sample `to_json` gave (another host's), as taken now: its CPU percent is the
        other host's, and the next one's is counted from this one's arrival."""
        return cls(taken=time.monotonic(), **data)


def sample(paths: Paths, name: str, cfg: ContainerConfig, started: float | None) -> Stats:
    cg = ContainerCgroups(paths.instance, name)
    used = cg.usage()
    rx, tx = _traffic(paths, name, cfg)
    cpu_ns = used.get("cpu_ns")
    return Stats(
        taken=time.monotonic(),
        cpu_seconds=None if cpu_ns is None else cpu_ns / 1e9,
        memory=used.get("memory"),
        memory_peak=used.get("memory_peak"),
        memory_limit=used.get("memory_limit"),
        pids=used.get("pids"),
        rx_bytes=rx,
        tx_bytes=tx,
        oom_kills=cg.oom_kills(),
        uptime=None if started is None else max(0.0, time.time() - started),
    )


def _traffic(paths: Paths, name: str, cfg: ContainerConfig) -> tuple[int | None, int | None]:
    """From the host ends of its veths: what they send is what the container receives."""
    if not cfg.network:
        return None, None
    from lxpy.net.model import host_end_name

    rx = tx = 0
    for index in range(len(cfg.network)):
        base = f"/sys/class/net/{host_end_name(paths.instance, name, index)}/statistics"
        try:
            with open(f"{base}/tx_bytes") as f:
                rx += int(f.read())
            with open(f"{base}/rx_bytes") as f:
                tx += int(f.read())
        except (OSError, ValueError):
            return None, None
    return rx, tx
