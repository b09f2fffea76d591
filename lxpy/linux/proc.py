"""Process identity that survives pid reuse: a pid plus its start time and the boot id.

Imported by the monitor, so no dataclasses (its import alone costs ~3 MB of RSS).
"""

from __future__ import annotations

import os
import select
import signal

_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


_boot_id: list[str] = []  # read once: no process outlives the boot it started in


def boot_id() -> str:
    if not _boot_id:
        with open(_BOOT_ID_PATH) as f:
            _boot_id.append(f.read().strip())
    return _boot_id[0]


def _stat_fields(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from its third field (the state) on, or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # comm (field 2) may hold spaces and parentheses: split after the last ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Start time in clock ticks after boot, or None if the process is gone."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] == b"Z":
        return None
    return int(fields[19])


def waits_for_input(pid: int) -> bool:
    """Whether `pid` or a process below it sleeps with no child of its own: it waits for
    something from outside its tree (a terminal, a socket, a timer), which a program failing
    at its start never does (a missing library, a script whose first command fails: those
    run, or wait for a child, until they exit). False where the kernel lists no children
    (CONFIG_PROC_CHILDREN)."""
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/task/{current}/children", "rb") as f:
                children = f.read().split()
        except OSError:
            continue  # gone already, or no such file on this kernel
        if children:
            todo.extend(int(child) for child in children)
            continue
        fields = _stat_fields(current)
        if fields is not None and fields[0] == b"S":
            return True
    return False


class ProcessRef:
    """A process as recorded once; `alive()` is true only for that very process."""

    __slots__ = ("boot", "pid", "started")

    def __init__(self, pid: int, started: int, boot: str) -> None:
        self.pid = pid
        self.started = started
        self.boot = boot

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        started = start_time(pid)
        if started is None:
            raise ProcessLookupError(pid)
        return cls(pid, started, boot_id())

    def alive(self) -> bool:
        return self.boot == boot_id() and start_time(self.pid) == self.started

    def pidfd(self) -> int | None:
        """A pidfd for this process, or None if it is gone (checked after opening)."""
        try:
            fd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            return None
        if not self.alive():
            os.close(fd)
            return None
        return fd

    def send_signal(self, signum: int) -> bool:
        fd = self.pidfd()
        if fd is None:
            return False
        try:
            signal.pidfd_send_signal(fd, signum)
        except ProcessLookupError:
            return False
        finally:
            os.close(fd)
        return True

    def dump(self) -> str:
        return f"{self.pid} {self.started} {self.boot}\n"

    @classmethod
    def load(cls, text: str) -> ProcessRef | None:
        parts = text.split()
        if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return cls(int(parts[0]), int(parts[1]), parts[2])

    @classmethod
    def read(cls, path: str) -> ProcessRef | None:
        """The live process recorded in `path`, or None when the record is stale or absent."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            text = os.read(fd, 256).decode(errors="replace")
        finally:
            os.close(fd)
        ref = cls.load(text)
        return ref if ref is not None and ref.alive() else None

    def write(self, path: str) -> None:
        from lxpy.linux.atomic import write_atomic  # not at the top: `lxpy ls` only reads

        write_atomic(path, self.dump().encode())


def reset_signals() -> None:
    """Default dispositions and an empty mask before exec: Python ignores SIGPIPE, and an
    ignored signal stays ignored across exec."""
    signal.set_wakeup_fd(-1)
    for signum in signal.valid_signals():
        if signum in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(signum, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def wait_gone(pidfd: int, timeout: float) -> bool:
    """Wait until the process behind `pidfd` has exited; True if it did within `timeout`."""
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    return bool(poller.poll(max(0.0, timeout * 1000)))  # a fraction rounds up: no busy wait


def wipe_environ() -> None:
    """Forget the environment this process was started with, in os.environ and in memory.

    /proc/PID/environ shows the memory the environment came in at exec (env_start to env_end
    in /proc/PID/stat), whatever os.environ or libc's `environ` say now; a forked child shows
    its parent's. Only zeroing those bytes takes the values out of it."""
    os.environ.clear()
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    fields = stat[stat.rindex(b")") + 2 :].split()
    start, end = int(fields[47]), int(fields[48])  # fields 50 and 51 of proc(5)
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        mem.seek(start)
        mem.write(bytes(end - start))
