"""`lxpy attach` into a container that has a user namespace of its own.

lxpy's containers get one later (issue 13); until then a box stands in for one: `sleep` as
pid 1 of new pid and mount namespaces owned by a new user namespace mapping 0 to 1000000
(65536 ids), as an unprivileged container's init would be. attach runs against it as the CLI
runs it, minus the cgroup (the box has none of its own).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from lxpy.linux import syscalls, userns
from lxpy.runtime.attach import namespaces_of

pytestmark = pytest.mark.integration

MAP = "0 1000000 65536\n"

ATTACH = """
import sys
from lxpy.linux.proc import ProcessRef
from lxpy.runtime.attach import AttachRequest, attach

class NoCgroups:
    def enter_beside(self, pid):
        pass

request = AttachRequest(command=tuple(sys.argv[2:]))
sys.exit(attach(ProcessRef.of(int(sys.argv[1])), NoCgroups(), request))
"""


def _namespace(pid: int | str, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


@pytest.fixture
def box() -> Iterator[int]:
    """The host pid of the box's pid 1."""
    owner = userns.mapped(MAP, MAP)

    def as_its_root() -> None:
        syscalls.setns(owner, syscalls.CLONE_NEWUSER)
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)

    argv = ["unshare", "--pid", "--mount", "--fork", "--kill-child", "sleep", "120"]
    outer = subprocess.Popen(argv, preexec_fn=as_its_root, stdin=subprocess.DEVNULL)
    os.close(owner)
    try:
        deadline = time.monotonic() + 10
        inner: list[psutil.Process] = []
        while not inner and time.monotonic() < deadline:
            inner = [p for p in psutil.Process(outer.pid).children() if p.name() == "sleep"]
            time.sleep(0.02)
        assert inner, "the box's sleep never started"
        yield inner[0].pid
    finally:
        outer.send_signal(signal.SIGKILL)  # --kill-child takes its sleep along
        outer.wait(10)


def test_the_user_namespace_is_joined_only_when_it_is_not_ours(box: int) -> None:
    assert namespaces_of(os.getpid()) == syscalls.CONTAINER_NAMESPACES
    assert namespaces_of(box) == syscalls.CONTAINER_NAMESPACES | syscalls.CLONE_NEWUSER


def test_attach_lands_as_root_of_the_containers_user_namespace(box: int) -> None:
    """The command runs as uid 0 inside, which is 1000000 on the host: in the box's user, pid
    and mount namespaces, with root's groups alone."""
    script = (
        "id -u; id -g; id -G; cat /proc/self/uid_map /proc/self/gid_map; "
        "readlink /proc/self/ns/user /proc/self/ns/pid /proc/self/ns/mnt; "
        "grep ^Uid: /proc/self/status"
    )
    result = subprocess.run(
        [sys.executable, "-c", ATTACH, str(box), "sh", "-c", script],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["0", "0", "0"], result.stdout
    assert [line.split() for line in lines[3:5]] == [MAP.split(), MAP.split()]
    assert lines[5:8] == [_namespace(box, kind) for kind in ("user", "pid", "mnt")]
    assert lines[8].split()[1:] == ["0", "0", "0", "0"], result.stdout
