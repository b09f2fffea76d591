"""Provisioning (`create --provision SCRIPT`): scripts run inside once, at the first boot.

create copies the scripts into the rootfs (`var/lib/lxpy/provision/scripts/NN-NAME`, in the
order given) with lxpy's runner (`usr/libexec/lxpy/provision`, from provision.sh beside this
module) and a `pending` marker; the template's init runs the runner (a systemd unit, an
inittab `once` line) without holding the boot up. The runner writes how far it got to
`var/lib/lxpy/provision/status`, which `status` reads back. That file is the guest's to
write: it is read through safefs, bounded, and believed only in the runner's own format.
"""

from __future__ import annotations

import os
import re
import stat

from lxpy.config.schema import PROVISION_STEP
from lxpy.errors import UnsafePath, UsageError
from lxpy.linux import safefs

DIR = "var/lib/lxpy/provision"
RUNNER = "usr/libexec/lxpy/provision"
STATUS = f"{DIR}/status"
MAX_SCRIPT = 1 << 20  # a provisioning script, not a payload: those it can download
_STATUS = re.compile(
    rf"(step ({PROVISION_STEP})|done|failed ({PROVISION_STEP}) ([0-9]{{1,3}}|interrupted))\n?"
)


class Script:
    """A script to run at the first boot, as the guest will find it: `name` is NN-BASENAME,
    NN its place in the order given."""

    __slots__ = ("data", "name")

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self.data = name, data


def read_host_file(option: str, path: str) -> bytes:
    """The host file at `path`, given as `option` (UsageError for one that is not a readable
    regular file of at most 1 MiB)."""
    try:
        # Non-blocking: a FIFO given by mistake must not hang the create.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise UsageError(f"{option} {path}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UsageError(f"{option} {path}: not a regular file")
        data = os.read(fd, MAX_SCRIPT + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SCRIPT:
        raise UsageError(f"{option} {path}: larger than 1 MiB")
    return data


def read_scripts(paths: list[str]) -> list[Script]:
    """The host files at `paths` as scripts, in that order (see read_host_file)."""
    scripts = []
    for index, path in enumerate(paths, 1):
        base = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(path))[:64] or "script"
        scripts.append(Script(f"{index:02d}-{base}", read_host_file("--provision", path)))
    return scripts


def install(rootfd: int, scripts: list[Script]) -> None:
    """The scripts, the runner and the `pending` marker in the rootfs at `rootfd`."""
    with open(os.path.join(os.path.dirname(__file__), "provision.sh"), "rb") as f:
        safefs.write_file(rootfd, RUNNER, f.read(), 0o755)
    for script in scripts:
        safefs.write_file(rootfd, f"{DIR}/scripts/{script.name}", script.data, 0o700)
    safefs.write_file(rootfd, f"{DIR}/pending", b"", 0o600)


class Status:
    """How far provisioning got: `state` is "pending" (not begun), "running" (`step` runs),
    "done", "failed" (`step` ended with `exit`, or was "interrupted" by a stop), or
    "unreadable" (the status file is not the runner's)."""

    __slots__ = ("exit", "state", "step")

    def __init__(self, state: str, step: str = "", exit: str = "") -> None:
        self.state, self.step, self.exit = state, step, exit

    def __str__(self) -> str:
        if self.state == "running":
            return f"running {self.step}"
        if self.state == "failed":
            how = "was interrupted" if self.exit == "interrupted" else f"exited {self.exit}"
            return f"failed: {self.step} {how}"
        if self.state == "unreadable":
            return f"unknown: /{STATUS} is not lxpy's"
        return self.state


def parse_status(text: bytes) -> Status:
    """The runner's status file (empty: not begun). Anything else the guest wrote there is
    reported as unreadable, not trusted."""
    if not text:
        return Status("pending")
    m = _STATUS.fullmatch(text.decode("ascii", "replace"))
    if m is None:
        return Status("unreadable")
    if m.group(2):
        return Status("running", m.group(2))
    if m.group(3):
        return Status("failed", m.group(3), m.group(4))
    return Status("done")


def status(root: safefs.Root) -> Status:
    """The provisioning status of the container whose `/` is `root`."""
    try:
        return parse_status(safefs.read_regular(root.fd, STATUS, 256))
    except FileNotFoundError:
        return Status("pending")
    except UnsafePath:
        return Status("unreadable")
