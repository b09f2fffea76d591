"""The seccomp filter, loaded into a forked child that then tries each syscall it denies.

Each probe passes arguments the kernel refuses on its own (a bad flag, a NULL pointer, a path
that exists or does not), so without the filter it gets the kernel's own errno and changes
nothing; a control test shows that every probe answers otherwise unfiltered.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lxpy.linux import seccomp, syscalls
from tests.conftest import IS_ROOT

# Loading a filter without no_new_privs takes CAP_SYS_ADMIN.
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root (CI runs these as root)")

Arg = int | bytes | None
Probes = dict[str, tuple[Arg, ...]]

MISSING = b"/nonexistent/lxpy-seccomp-probe"
AT_FDCWD = -100
LOOP0 = os.makedev(7, 0)
NULL = os.makedev(1, 3)
EXPECTED = {rule.syscall: rule.errno for rule in seccomp.DENIED + seccomp.PRIVILEGED_DENIED}


def probes(existing: bytes) -> Probes:
    """Every denied syscall with harmless arguments; `existing` is a file that exists, so a
    mknod that passes the filter fails with EEXIST."""
    block = stat.S_IFBLK | 0o600
    return {
        "kexec_load": (0, 0, None, 0xFFFFFFFF),
        "kexec_file_load": (-1, -1, 0, None, 0xFFFFFFFF),
        "open_by_handle_at": (-1, None, 0),
        "init_module": (None, 0, None),
        "finit_module": (-1, None, 0),
        "delete_module": (b"lxpy_no_such_module", os.O_NONBLOCK),
        "bpf": (-1, None, 0),
        "perf_event_open": (None, 0, -1, -1, 0),
        "userfaultfd": (-1,),
        "syslog": (-1, None, 0),
        "iopl": (4,),
        "ioperm": (0, 0, 0),
        "swapon": (None, 0),
        "swapoff": (None,),
        "keyctl": (-1, 0, 0, 0, 0),
        "add_key": (None, None, None, 0, 0),
        "request_key": (None, None, None, 0),
        "mknod": (existing, block, LOOP0),
        "mknodat": (AT_FDCWD, existing, block, LOOP0),
    }


PRIVILEGED_PROBES: Probes = {
    "fsopen": (None, 0),
    "fsconfig": (-1, 0, None, None, 0),
    "fsmount": (-1, 0, 0),
    "fspick": (-1, None, 0),
    "open_tree": (-1, None, 0),
    "move_mount": (-1, None, -1, None, 0),
    "mount_setattr": (-1, None, 0, None, 0),
    "mount": (None, MISSING, None, syscalls.MS_REMOUNT, None),
}


def call(name: str, *args: Arg) -> int:
    """The errno of one raw syscall; 0 if it succeeded."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    number = syscalls.seccomp_syscall_resolve_name(name)
    assert number >= 0, name
    values = [ctypes.c_long(a) if isinstance(a, int) else ctypes.c_char_p(a) for a in args]
    ctypes.set_errno(0)
    return ctypes.get_errno() if libc.syscall(ctypes.c_long(number), *values) == -1 else 0


def errnos(table: Probes) -> Callable[[], dict[str, int]]:
    return lambda: {name: call(name, *args) for name, args in table.items()}


def unfiltered(body: Callable[[], object]) -> tuple[object, int]:
    """What `body` returns in a forked child (through a pipe, as JSON), and the child's wait
    status."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(read)
            os.write(write, json.dumps(body()).encode())
        except BaseException:
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    return (json.loads(data) if data else None), status


def filtered(
    body: Callable[[], object], privileged: bool = False, allow: tuple[str, ...] = ()
) -> tuple[object, int]:
    """The same with the child put under the filter before `body` runs."""

    def under_filter() -> object:
        seccomp.install(privileged, allow)
        return body()

    return unfiltered(under_filter)


@pytest.fixture
def existing(tmp_path: Path) -> bytes:
    path = tmp_path / "existing"
    path.touch()
    return bytes(path)


def test_every_rule_has_a_probe() -> None:
    assert {r.syscall for r in seccomp.DENIED} == set(probes(b"/"))
    assert {r.syscall for r in seccomp.PRIVILEGED_DENIED} == set(PRIVILEGED_PROBES)


@needs_root
def test_without_the_filter_every_probe_gets_another_answer(existing: bytes) -> None:
    result, status = unfiltered(errnos(probes(existing) | PRIVILEGED_PROBES))
    assert os.waitstatus_to_exitcode(status) == 0
    assert isinstance(result, dict) and len(result) == len(EXPECTED)
    same = {name: e for name, e in result.items() if e == EXPECTED[name]}
    assert same == {}, "these probes cannot tell the filter's answer from the kernel's"


@needs_root
def test_denied_syscalls_fail_with_the_policys_errno(existing: bytes) -> None:
    result, status = filtered(errnos(probes(existing)))
    assert os.waitstatus_to_exitcode(status) == 0
    assert result == {rule.syscall: rule.errno for rule in seccomp.DENIED}


@needs_root
def test_unprivileged_containers_keep_the_new_mount_api_and_remounts() -> None:
    result, _ = filtered(errnos(PRIVILEGED_PROBES))
    kernel, _ = unfiltered(errnos(PRIVILEGED_PROBES))
    assert result == kernel


@needs_root
def test_privileged_containers_lose_the_new_mount_api_and_superblock_remounts() -> None:
    result, status = filtered(errnos(PRIVILEGED_PROBES), privileged=True)
    assert os.waitstatus_to_exitcode(status) == 0
    assert result == {rule.syscall: rule.errno for rule in seccomp.PRIVILEGED_DENIED}


@needs_root
def test_bind_and_read_only_remounts_pass_in_privileged_containers() -> None:
    def remounts() -> list[int]:
        flags = (syscalls.MS_REMOUNT | syscalls.MS_BIND, syscalls.MS_REMOUNT | syscalls.MS_RDONLY)
        return [call("mount", None, MISSING, None, f, None) for f in flags]

    result, _ = filtered(remounts, privileged=True)
    assert result == [errno.ENOENT, errno.ENOENT]


@needs_root
def test_character_devices_can_be_made_block_devices_cannot(tmp_path: Path) -> None:
    def make() -> dict[str, int]:
        made = {}
        for kind, mode, dev in (("char", stat.S_IFCHR, NULL), ("block", stat.S_IFBLK, LOOP0)):
            at = bytes(tmp_path / f"{kind}-at")
            made[f"{kind} mknod"] = call("mknod", bytes(tmp_path / kind), mode | 0o600, dev)
            made[f"{kind} mknodat"] = call("mknodat", AT_FDCWD, at, mode | 0o600, dev)
        return made

    result, _ = filtered(make)
    assert result == {
        "char mknod": 0,
        "char mknodat": 0,
        "block mknod": errno.EPERM,
        "block mknodat": errno.EPERM,
    }
    for name in ("char", "char-at"):
        assert (tmp_path / name).stat().st_rdev == NULL
    assert not (tmp_path / "block").exists() and not (tmp_path / "block-at").exists()


@needs_root
def test_allow_takes_syscalls_out_of_the_deny_lists(existing: bytes) -> None:
    allow = ("bpf", "keyctl", "mknodat", "mount")
    result, _ = filtered(errnos(probes(existing) | PRIVILEGED_PROBES), True, allow)
    kernel, _ = unfiltered(errnos(probes(existing) | PRIVILEGED_PROBES))
    assert isinstance(result, dict) and isinstance(kernel, dict)
    assert {name: result[name] for name in allow} == {name: kernel[name] for name in allow}
    assert {name: e for name, e in result.items() if name not in allow} == {
        name: e for name, e in EXPECTED.items() if name not in allow
    }


@pytest.fixture
def setuid_id() -> Iterator[str]:
    """A setuid-root copy of `id`, where nobody can run it (pytest's tmp_path is 0700)."""
    with tempfile.TemporaryDirectory(prefix="lxpy-seccomp-") as folder:
        os.chmod(folder, 0o755)
        if os.statvfs(folder).f_flag & os.ST_NOSUID:
            pytest.skip(f"{folder} is on a nosuid mount")
        path = os.path.join(folder, "id")
        shutil.copy("/usr/bin/id", path)
        os.chmod(path, 0o4755)
        yield path


@needs_root
def test_ordinary_work_goes_on_and_setuid_programs_gain_their_owner(
    tmp_path: Path, setuid_id: str
) -> None:
    """open, read, write, fork and exec under the filter; and no no_new_privs: the setuid
    `id` run by nobody has effective uid 0 (what sudo needs inside)."""

    def work() -> dict[str, object]:
        (tmp_path / "note").write_text("kept")
        status = Path("/proc/self/status").read_text()
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        true = subprocess.run(["/bin/true"], check=False).returncode
        euid = subprocess.run(
            [setuid_id, "-u"], capture_output=True, text=True, user=65534, check=False
        ).stdout.strip()
        return {
            "note": (tmp_path / "note").read_text(),
            "seccomp": fields["Seccomp"].strip(),
            "no_new_privs": fields["NoNewPrivs"].strip(),
            "true": true,
            "euid": euid,
        }

    result, status = filtered(work, privileged=True)
    assert os.waitstatus_to_exitcode(status) == 0
    assert result == {"note": "kept", "seccomp": "2", "no_new_privs": "0", "true": 0, "euid": "0"}


def _i386_exit_42(path: Path) -> None:
    """A static i386 ELF executable whose first syscall (int 0x80) is exit(42)."""
    code = bytes.fromhex("b801000000bb2a000000cd80")  # mov eax,1; mov ebx,42; int 0x80
    base, ehsize, phsize = 0x08048000, 52, 32
    ident = b"\x7fELF\x01\x01\x01" + bytes(9)  # 32-bit, little-endian, version 1
    header = ident + struct.pack(
        "<HHIIIIIHHHHHH", 2, 3, 1, base + ehsize + phsize, ehsize, 0, 0, ehsize, phsize, 1, 0, 0, 0
    )
    size = ehsize + phsize + len(code)
    program = struct.pack("<8I", 1, 0, base, base, size, size, 5, 0x1000)  # PT_LOAD, R+X
    path.write_bytes(header + program + code)
    path.chmod(0o755)


@needs_root
def test_an_i386_program_is_killed_at_its_first_syscall(tmp_path: Path) -> None:
    program = tmp_path / "exit42"
    _i386_exit_42(program)
    _, status = unfiltered(lambda: os.execv(program, [str(program)]))
    if os.waitstatus_to_exitcode(status) != 42:
        pytest.skip("this kernel runs no i386 programs (no IA32 emulation)")
    _, status = filtered(lambda: os.execv(program, [str(program)]))
    assert os.waitstatus_to_exitcode(status) == -signal.SIGSYS


@needs_root
def test_an_x32_syscall_kills_the_process() -> None:
    x32_getpid = 39 | 0x40000000  # x86_64's getpid with the x32 bit

    def getpid() -> int:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.syscall(ctypes.c_long(x32_getpid)))

    if os.uname().machine != "x86_64":
        pytest.skip("x32 is an x86_64 ABI")
    result, status = unfiltered(getpid)
    assert os.waitstatus_to_exitcode(status) == 0 and result is not None
    _, status = filtered(getpid)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGSYS


def test_unknown_names_are_those_libseccomp_cannot_resolve() -> None:
    names = ["bpf", "lxpy_no_such_call", "mount_setattr", "socketcall", "Bpf"]
    assert seccomp.unknown(names) == ["lxpy_no_such_call", "Bpf"]


def test_the_policy_needs_nothing_libseccomp_lacks() -> None:
    policy = seccomp.rules(privileged=True)
    assert seccomp.unknown([rule.syscall for rule in policy]) == []
    assert [r.syscall for r in seccomp.rules(True, ("bpf", "mount"))] == [
        r.syscall for r in policy if r.syscall not in ("bpf", "mount")
    ]


def test_libseccomp_is_loaded_at_first_use_only() -> None:
    code = (
        "from lxpy.linux import seccomp\n"
        "maps = lambda: 'libseccomp' in open('/proc/self/maps').read()\n"
        "before = maps()\n"
        "seccomp.unknown(['bpf'])\n"
        "print(before, maps())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "True"]
