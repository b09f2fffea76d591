"""Kernel numbers per architecture: checked against the kernel's headers where this host has
them, and an architecture without numbers refused with a message, not a wrong syscall."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from lxpy.errors import UnsupportedArchitecture
from lxpy.linux import syscalls

# Where distributions put each architecture's table (aarch64 takes asm-generic's).
HEADERS = {
    "x86_64": ["/usr/include/x86_64-linux-gnu/asm/unistd_64.h", "/usr/include/asm/unistd_64.h"],
    "aarch64": ["/usr/include/asm-generic/unistd.h"],
}


@pytest.mark.parametrize("arch", sorted(HEADERS))
def test_syscall_numbers_match_the_kernel_headers(arch: str) -> None:
    header = next((Path(p) for p in HEADERS[arch] if os.path.exists(p)), None)
    if header is None:
        pytest.skip(f"no {arch} syscall table in /usr/include")
    defined = dict(re.findall(r"#define __NR_(\w+)\s+(\d+)\n", header.read_text()))
    assert {name: int(defined[name]) for name in syscalls._SYSCALLS[arch]} == (
        syscalls._SYSCALLS[arch]
    )


def test_an_unknown_architecture_is_refused_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syscalls, "_MACHINE", "riscv64")
    message = r"^lxpy does not support riscv64 machines \(only x86_64 and aarch64\)$"
    with pytest.raises(UnsupportedArchitecture, match=message):
        syscalls.openat2(-100, "/", os.O_RDONLY, syscalls.RESOLVE_BENEATH)
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s,
        pytest.raises(UnsupportedArchitecture, match=message),
    ):
        syscalls.set_link_up(s.fileno(), "lo")
    syscalls.set_dumpable(True)  # a libc call: no number of lxpy's, so it still works
