"""The host's /etc/hosts: one block per state root naming its running containers.

    # BEGIN lxpy INSTANCE
    10.42.0.7 dev.lxpy
    # END lxpy INSTANCE

This is how the host finds `dev.lxpy` where no systemd-resolved can send the query to the
network's dnsmasq (`lxpy.net.resolved`). The file belongs to the host and to other tools,
and every state root shares it; each change is made

- under one host-wide lock (LOCK), so two lxpy commands, or a command and a monitor's
  teardown, never lose each other's lines;
- on the file as it is under that lock: lines someone else added or changed since our last
  write are kept, and nothing outside our own block is touched;
- by renaming a whole new file over it (readers never see half a file), keeping its mode
  and owner; where /etc/hosts is a symlink, over the file it points to, never the link.

A block left empty goes, marker lines and all, so the file ends byte for byte as it was.
What goes in is checked here again, whoever the caller: a container name is a DNS label,
the domain a network's, the address an IPv4 address from lxpy's records (never the
guest's word), so no line, comment or second name can be smuggled in.

Standard library only: the monitor's teardown removes a stopped container's lines.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys

from lxpy.errors import Busy, LxpyError
from lxpy.linux.atomic import replace_in
from lxpy.linux.locks import locked_file

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: the monitor imports this at teardown
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

# The marker lines of a root's block, before its instance.
BEGIN, END = "# BEGIN lxpy ", "# END lxpy "
HOSTS = "/etc/hosts"
# In /run and not /run/lock: /run is root's alone to write, where any user could make (or
# hold) a file in world-writable /run/lock; one path for every state root, since they all
# share /etc/hosts; on a tmpfs, so it goes at reboot with whoever held it.
LOCK = "/run/lxpy-hosts.lock"
LOCK_TIMEOUT = 10.0
# NAME.DOMAIN: lowercase DNS labels, the first the container's name.
_FQDN = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")


class HostsFile:
    """The hosts file at `path` (a symlink: the file it points to), changed under `lock`."""

    __slots__ = ("lock", "path")

    def __init__(self, path: str = HOSTS, lock: str = LOCK) -> None:
        self.path = path
        self.lock = lock

    def name(self, instance: str, container: str, entries: Sequence[tuple[str, str]]) -> None:
        """Make `container` resolve by `entries` ((address, NAME.DOMAIN) pairs), in place of
        the names it had; no entries: it has none."""
        lines = [_line(address, fqdn, container) for address, fqdn in entries]
        self._edit(instance, lambda block: [e for e in block if _owner(e) != container] + lines)

    def forget(self, instance: str, container: str) -> None:
        self.name(instance, container, ())

    def forget_addresses(self, instance: str, gone: Callable[[str], bool]) -> None:
        """Remove the lines whose address `gone` says so of (a network's, when it goes)."""
        self._edit(
            instance, lambda block: [e for e in block if not (_is_entry(e) and gone(e.split()[0]))]
        )

    def _edit(self, instance: str, change: Callable[[list[str]], list[str]]) -> None:
        begin, end = f"{BEGIN}{instance}", f"{END}{instance}"
        busy = Busy(f"{self.lock} is held too long", hint="another lxpy command edits hosts")
        try:
            with locked_file(self.lock, busy, LOCK_TIMEOUT):
                target = os.path.realpath(self.path)
                try:
                    with open(target, "rb") as f:
                        old = f.read()
                except FileNotFoundError:
                    old = b""
                new = _rewrite(old.decode(errors="surrogateescape"), begin, end, change)
                data = new.encode(errors="surrogateescape")
                if data != old:
                    _replace(target, data)
        except OSError as e:
            raise LxpyError(
                f"cannot update {self.path}: {e.strerror or e}",
                hint="lxpy keeps its containers' names there (see README, Networking)",
            ) from None


def without_other_roots(text: str, instance: str = "") -> str:
    """`text` (a hosts file) without the blocks of other state roots than `instance`
    (without any root's when none is given): what tests and benches compare, with other
    roots' containers coming and going beside them."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(BEGIN) and line.split()[3:4] != [instance]:
            skipping = True
        if not skipping:
            kept.append(line)
        if skipping and line.startswith(END):
            skipping = False
    return "".join(kept)


def _rewrite(text: str, begin: str, end: str, change: Callable[[list[str]], list[str]]) -> str:
    """`text` with the block between `begin` and `end` changed; a new block goes last, and
    one left empty goes away. Lines others put inside the block stay in it; a BEGIN whose
    END was cut away ends at the last line shaped like ours."""
    lines = text.splitlines(keepends=True)
    marks = [line.rstrip("\n") for line in lines]
    if begin in marks:
        first = marks.index(begin)
        if end in marks[first:]:
            stop = marks.index(end, first) + 1
            block = marks[first + 1 : stop - 1]
        else:
            stop = first + 1
            while stop < len(marks) and _is_entry(marks[stop]):
                stop += 1
            block = marks[first + 1 : stop]
        del lines[first:stop]
    else:
        first, block = len(lines), []
    changed = change([m for m in block if m.strip()])
    if changed:
        if first == len(lines) and lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines[first:first] = [f"{m}\n" for m in (begin, *changed, end)]
    return "".join(lines)


def _replace(target: str, data: bytes) -> None:
    """`data` as the file `target` (a resolved path), with the mode and owner it has."""
    try:
        st = os.stat(target)
        mode, uid, gid = st.st_mode & 0o7777, st.st_uid, st.st_gid
    except FileNotFoundError:
        mode, uid, gid = 0o644, 0, 0
    directory, name = os.path.split(target)
    dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        replace_in(dirfd, name, data, mode, uid, gid, fsync=True)
    finally:
        os.close(dirfd)


def _line(address: str, fqdn: str, container: str) -> str:
    line = f"{address} {fqdn}"
    if not _is_entry(line):
        raise LxpyError(f"refusing to write {line!r} to the hosts file")
    if fqdn.split(".", 1)[0] != container:
        raise LxpyError(f"{fqdn!r} is not a name of {container!r}")
    return line


def _is_entry(line: str) -> bool:
    """An IPv4 address in dotted decimal and one NAME.DOMAIN, one space apart."""
    address, _, fqdn = line.partition(" ")
    parts = address.split(".")
    return (
        len(parts) == 4
        and all(p.isascii() and p.isdigit() and str(int(p)) == p and int(p) < 256 for p in parts)
        and bool(_FQDN.fullmatch(fqdn))
    )


def _owner(line: str) -> str:
    """The container a line of the block names (its name's first label); "" for a line
    that is not one of ours."""
    return line.split(" ", 1)[1].split(".", 1)[0] if _is_entry(line) else ""


@contextlib.contextmanager
def best_effort(container: str) -> Iterator[None]:
    """A hosts file lxpy cannot change (a read-only /etc, as on NixOS or in a bind mount; a
    lock held too long) costs the host the container's names, never the command: a warning."""
    try:
        yield
    except LxpyError as e:
        print(f"lxpy: warning: {container}: names on the host: {e.message}", file=sys.stderr)
