"""Reaching into a container: attach, console, file push/pull, shared folders."""

from __future__ import annotations

import sys

from lxpy.cli import output
from lxpy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from lxpy.api import Api


def attach(api: Api, args: Namespace) -> int:
    command = list(args.cmd)
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        env[key] = value
    return int(api.attach(args.name, command or None, args.user, env, args.cwd))


def shell(api: Api, args: Namespace) -> int:
    user = args.user or api.login_user(args.name)
    return int(api.attach(args.name, list(args.cmd) or None, user))


def ssh(api: Api, args: Namespace) -> int:
    api.ssh(args.name, args.user, list(args.cmd))


def ssh_config(api: Api, args: Namespace) -> int:
    for target in api.ssh_targets():
        print(f"Host {target.host} {target.name}")
        print(f"    HostName {target.address}")
        print(f"    User {target.user}")
        for key, value in target.options():
            print(f"    {key} {value}")
    return 0


def console(api: Api, args: Namespace) -> int:
    if args.log:
        sys.stdout.buffer.write(api.console_log(args.name))
        sys.stdout.flush()
        return 0
    if sys.stdin.isatty():
        api.console_socket(args.name)  # one that does not run: that error, and no hint
        # A getty there (Debian, Ubuntu) asks for root's password, and no template sets one.
        print(
            "To log in at the console's prompt, give root a password first: "
            f"`lxpy attach {args.name} -- passwd` (`lxpy attach {args.name}` is a root shell "
            "without one).",
            file=sys.stderr,
        )
    api.console(args.name)
    return 0


def file(api: Api, args: Namespace) -> int:
    if args.action == "pull" and args.dest == "-":
        count = api.file_pull_stream(args.name, args.source, sys.stdout.buffer, args.recursive)
        print(f"pulled {count} file(s)", file=sys.stderr)
        return 0
    if args.action == "pull":
        count = api.file_pull(args.name, args.source, args.dest, args.recursive)
        print(f"pulled {count} file(s)", file=sys.stderr)
        return 0
    mode = None
    if args.mode is not None:
        try:
            mode = int(args.mode, 8)
        except ValueError:
            raise UsageError(f"--mode {args.mode}: expected an octal mode like 644") from None
        if not 0 <= mode <= 0o7777:
            raise UsageError(f"--mode {args.mode}: expected an octal mode like 644")
    # `-`: a tar stream (what a remote's `file push` sends).
    source = sys.stdin.buffer if args.source == "-" else args.source
    count = api.file_push(
        args.name, source, args.dest, args.recursive, args.uid, args.gid, mode, args.parents
    )
    print(f"pushed {count} file(s)", file=sys.stderr)
    return 0


def mount(api: Api, args: Namespace) -> int:
    wanted = {"add": 2, "rm": 1, "ls": 0}[args.action]
    if (args.action != "ls" and not args.name) or len(args.paths) != wanted:
        raise UsageError(
            "usage: lxpy mount add NAME HOSTPATH PATH [--readonly] | mount rm NAME PATH | "
            "mount ls [NAME]"
        )
    if args.action == "add":
        api.mount_add(args.name, args.paths[0], args.paths[1], args.readonly)
    elif args.action == "rm":
        api.mount_rm(args.name, args.paths[0])
    else:
        rows = [("CONTAINER", "HOST PATH", "PATH", "MODE", "MOUNTED")]
        for name in [args.name] if args.name else api.names():
            for folder, active in api.shared_folders(name):
                mode = "ro" if folder.readonly else "rw"
                rows.append((name, folder.source, folder.path, mode, "yes" if active else "-"))
        output.table(rows)
    return 0
