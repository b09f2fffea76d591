"""The device allow-list, and the cgroup v2 BPF program that enforces it.

On v1 the devices controller takes the rules as text; v2 has no devices controller, only a
BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup, generated here from the same
rules (as crun and runc do). Imported by the monitor: standard library only.
"""

from __future__ import annotations

import struct

# LXC's default list: any node may be created (mknod, so package scripts work), only these
# may be opened. No disk, no /dev/kmsg, no /dev/mem.
DEVICE_ALLOW = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",  # null
    "c 1:5 rwm",  # zero
    "c 1:7 rwm",  # full
    "c 1:8 rwm",  # random
    "c 1:9 rwm",  # urandom
    "c 5:0 rwm",  # tty
    "c 5:1 rwm",  # console
    "c 5:2 rwm",  # ptmx
    "c 136:* rwm",  # pts/*, the console among them
    "c 10:200 rwm",  # net/tun
    "c 10:229 rwm",  # fuse
)

# struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type), u32 major, u32 minor.
_TYPES = {"b": 1, "c": 2}  # BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
_ACCESS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD, _READ, _WRITE
_R_TYPE, _R_ACCESS, _R_MAJOR, _R_MINOR = 2, 3, 4, 5


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", op, (src << 4) | dst, off, imm)


def _ldx_w(dst: int, src: int, off: int) -> bytes:
    return _insn(0x61, dst, src, off)  # dst = *(u32 *)(src + off)


def _mov_reg(dst: int, src: int) -> bytes:
    return _insn(0xBF, dst, src)


def _mov_imm(dst: int, imm: int) -> bytes:
    return _insn(0xB7, dst, imm=imm)


def _and_imm(dst: int, imm: int) -> bytes:
    return _insn(0x57, dst, imm=imm)


def _rsh_imm(dst: int, imm: int) -> bytes:
    return _insn(0x77, dst, imm=imm)


def _jne_imm(dst: int, imm: int, off: int) -> bytes:
    return _insn(0x55, dst, off=off, imm=imm)


def _jset_imm(dst: int, imm: int, off: int) -> bytes:
    return _insn(0x45, dst, off=off, imm=imm)


_EXIT = _insn(0x95)


def program(rules: tuple[str, ...] = DEVICE_ALLOW) -> bytes:
    """Bytecode that returns 1 (allow) when a request matches a rule, else 0."""
    code = [
        _ldx_w(_R_TYPE, 1, 0),
        _mov_reg(_R_ACCESS, _R_TYPE),
        _and_imm(_R_TYPE, 0xFFFF),
        _rsh_imm(_R_ACCESS, 16),
        _ldx_w(_R_MAJOR, 1, 4),
        _ldx_w(_R_MINOR, 1, 8),
    ]
    for rule in rules:
        kind, numbers, access = rule.split()
        major, minor = numbers.split(":")
        allowed = sum(_ACCESS[a] for a in access)
        checks = [(_jne_imm, _R_TYPE, _TYPES[kind])]
        if major != "*":
            checks.append((_jne_imm, _R_MAJOR, int(major)))
        if minor != "*":
            checks.append((_jne_imm, _R_MINOR, int(minor)))
        if allowed != 7:
            checks.append((_jset_imm, _R_ACCESS, 7 & ~allowed))  # asks for more than allowed
        # Each check jumps past the rest of the block: the remaining checks, then r0 and exit.
        for i, (jump, reg, value) in enumerate(checks):
            code.append(jump(reg, value, len(checks) - i - 1 + 2))
        code += [_mov_imm(0, 1), _EXIT]
    code += [_mov_imm(0, 0), _EXIT]
    return b"".join(code)
