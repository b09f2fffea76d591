"""Why the container's init could not be exec'd, in words that name the cause.

The kernel says "No such file or directory" for /sbin/init when it is there but is a symlink
to a missing /bin/busybox, or when the interpreter it names is missing. The child that failed
to exec asks again here, a name at a time (safefs.follow), in the container's root: it is
that child's own root by then, so what is found is what exec saw.
"""

from __future__ import annotations

import errno
import os
import stat
import struct

from lxpy.linux import safefs

# Enough for a #! line (the kernel reads 256 bytes) and an ELF file's program headers.
HEAD_BYTES = 4096
PT_INTERP = 3
# Per ELF class (32- or 64-bit): its word, where the header keeps the program headers'
# offset and, two 16-bit numbers, their size and count; where a program header keeps its
# segment's offset and size.
_ELF_LAYOUTS = {1: ("I", 28, 42, 4, 16), 2: ("Q", 32, 54, 8, 32)}


def explain(rootfd: int, path: str, error: OSError) -> str:
    """The line that says why exec'ing `path` inside the root failed with `error`: the
    symlinks it led through and the file that is missing, the interpreter that is missing,
    the file that is not executable; else the kernel's word for it."""
    said = f"executing {path}: {error.strerror or error}"
    try:
        hops, end, st = safefs.follow(rootfd, path)
    except OSError:  # a lookup that fails the same way: the kernel's word is all there is
        return said
    if st is None:
        return _said(hops, end, "is missing in the container")
    chain = " -> ".join(hops)
    if error.errno == errno.ENOENT and stat.S_ISREG(st.st_mode):
        # The file is there: what it is run with is not.
        missing = _missing_interpreter(rootfd, end)
        if missing is not None:
            return f"{chain}: its interpreter {missing}"
    if error.errno == errno.EACCES:
        if not stat.S_ISREG(st.st_mode):
            return _said(hops, end, "is not a regular file")
        if not st.st_mode & 0o111:
            return _said(hops, end, f"is not executable (mode {stat.S_IMODE(st.st_mode):04o})")
    return f"executing {chain}: {error.strerror or error}"


def _said(hops: list[str], end: str, what: str) -> str:
    """`what` is true of `end`, reached through `hops` (named when there are links)."""
    through = f"{' -> '.join(hops)}: " if len(hops) > 1 else ""
    return f"{through}{end} {what}"


def _missing_interpreter(rootfd: int, path: str) -> str | None:
    """How the interpreter of `path` is missing, None if it has none or it is there."""
    try:
        interpreter = interpreter_of(safefs.read_head(rootfd, path, HEAD_BYTES))
        if interpreter is None:
            return None
        hops, end, st = safefs.follow(rootfd, interpreter)
    except OSError:
        return None
    return None if st is not None else _said(hops, end, "is missing in the container")


def interpreter_of(head: bytes) -> str | None:
    """What the kernel runs a file with, from its first bytes: a script's #! line, an ELF
    file's PT_INTERP (its dynamic loader); None for a static program or anything else."""
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].split()
        return os.fsdecode(words[0]) if words else None
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] not in _ELF_LAYOUTS:
        return None
    word, offset_at, sizes_at, segment_at, segment_size_at = _ELF_LAYOUTS[head[4]]
    order = "<" if head[5] == 1 else ">"
    (offset,) = struct.unpack_from(order + word, head, offset_at)
    size, count = struct.unpack_from(order + "HH", head, sizes_at)
    if size < segment_size_at + struct.calcsize(word):
        return None
    for at in range(offset, offset + size * count, size):
        if at + size > len(head):
            return None
        if struct.unpack_from(order + "I", head, at)[0] == PT_INTERP:
            (start,) = struct.unpack_from(order + word, head, at + segment_at)
            (length,) = struct.unpack_from(order + word, head, at + segment_size_at)
            return os.fsdecode(head[start : start + length].split(b"\0")[0]) or None
    return None
