"""`lxpy remote`: the other hosts this root reaches over SSH (lxpy/remote/registry.py)."""

from __future__ import annotations

from lxpy.cli import output
from lxpy.errors import AlreadyExists, LxpyError, UsageError
from lxpy.remote import registry
from lxpy.remote.connection import Connection, close_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from lxpy.api import Api


def remote(api: Api, args: Namespace) -> int:
    remotes = registry.load(api.paths)
    if args.action == "ls":
        rows = [("NAME", "ADDRESS", "ROOT", "COMMAND", "DEFAULT")]
        rows.append(("local", "-", api.paths.root or "-", "-", _mark(remotes.default, "local")))
        for name, r in sorted(remotes.remotes.items()):
            rows.append((name, r.address, r.root or "-", r.command, _mark(remotes.default, name)))
        output.table(rows)
        return 0
    if args.action == "default" and args.remote is None:
        print(remotes.default)
        return 0
    if args.remote is None:
        raise UsageError(f"`lxpy remote {args.action}` needs the remote's NAME")
    if args.action == "add":
        problem = registry.check_name(args.remote)
        if problem:
            raise UsageError(f"remote name {args.remote!r}: {problem}")
        if args.remote in remotes.remotes:
            raise AlreadyExists(
                f"remote {args.remote!r} exists", hint=f"`lxpy remote rm {args.remote}` first"
            )
        if args.address is None:
            raise UsageError("`lxpy remote add NAME [USER@]HOST[:PORT]` needs the address")
        user, host, port = registry.parse_address(args.address)
        new = registry.Remote(
            args.remote, host, user, port, args.remote_root, args.command or "lxpy"
        )
        close_all(api.paths, new.name)  # a master left from a remote of this name before
        try:
            Connection(api.paths, new).ready(handshake=True)  # a typo is said now, not later
        except LxpyError:
            close_all(api.paths, new.name)  # its handshake's master: for no remote, never idle
            raise
        remotes.remotes[new.name] = new
        registry.save(api.paths, remotes)
        print(f"{new.name}: {new.address}, reached")
        return 0
    if args.action == "rm":
        gone = remotes.get(args.remote)
        close_all(api.paths, gone.name)
        del remotes.remotes[gone.name]
        default = registry.LOCAL if remotes.default == gone.name else remotes.default
        registry.save(api.paths, registry.Remotes(remotes.remotes, default))
        return 0
    if args.remote != registry.LOCAL:
        remotes.get(args.remote)
    registry.save(api.paths, registry.Remotes(remotes.remotes, args.remote))
    return 0


def _mark(default: str, name: str) -> str:
    return "*" if default == name else ""
