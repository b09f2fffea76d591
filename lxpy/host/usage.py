"""What the host itself uses now, shown beside the fleet (the TUI's header): CPU, memory and
load. psutil is imported by the function that reads them, so `lxpy ls` never loads it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostUsage:
    cpus: int
    cpu_percent: float | None  # of all CPUs together since the earlier sample; None: no earlier
    memory_used: int  # what new processes cannot have: total less available
    memory_total: int
    load: tuple[float, float, float]  # over 1, 5 and 15 minutes
    # CPU seconds, busy and in all, since boot: the next sample's percent counts from these.
    busy_seconds: float
    all_seconds: float


def sample(earlier: HostUsage | None = None) -> HostUsage:
    import psutil

    times = psutil.cpu_times()
    # Counted as psutil.cpu_percent counts: guest time is in user time already, and a CPU
    # waiting for I/O is idle.
    everything = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    busy = everything - times.idle - getattr(times, "iowait", 0.0)
    percent = None
    if earlier is not None and everything > earlier.all_seconds:
        share = (busy - earlier.busy_seconds) / (everything - earlier.all_seconds)
        percent = min(100.0, max(0.0, 100.0 * share))
    memory = psutil.virtual_memory()
    return HostUsage(
        cpus=psutil.cpu_count() or 1,
        cpu_percent=percent,
        memory_used=memory.total - memory.available,
        memory_total=memory.total,
        load=psutil.getloadavg(),
        busy_seconds=busy,
        all_seconds=everything,
    )
