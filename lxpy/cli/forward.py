"""A command for another host: `lxpy start build1:ci`, `lxpy ls --remote build1`, or any
command while `lxpy remote default build1` is set. The command line is passed on to that
host's lxpy over the remote's SSH connection (lxpy/remote), with the host taken off its
container names, and this process becomes ssh: the remote command's output, exit status,
terminal and signals are the user's own. `file` carries its files over the connection as a
tar stream; `ls --remote all` asks every host and shows one table.

A container's name is a DNS label: the first `:` of a container argument ends a host's name.
"""

from __future__ import annotations

import os
import sys

from lxpy.cli import commands
from lxpy.cli.arguments import COMPLETES, FILES
from lxpy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Sequence

    from lxpy.api import Paths
    from lxpy.cli.commands import Command
    from lxpy.cli.quickparse import Argument
    from lxpy.remote.connection import Connection
    from lxpy.remote.registry import Remotes

LOCAL, ALL = "local", "all"  # as lxpy.remote.registry names them, without importing it
# Container arguments: tagged as completing containers (or snapshot lines, whose NAME is
# one), and those naming a container yet to be (create's NAME, clone's and rename's new).
_CONTAINER_KINDS = ("containers", "snapshots")
_NEW_NAMES = {"create": "name", "launch": "name", "clone": "target", "rename": "new"}


def take_option(argv: list[str]) -> tuple[list[str], str | None]:
    """`argv` without `--remote NAME` (anywhere: `lxpy ls --remote all`), and NAME."""
    if not any(w == "--remote" or w.startswith("--remote=") for w in argv):
        return argv, None
    rest: list[str] = []
    remote = None
    words = iter(argv)
    for word in words:
        if word == "--remote":
            remote = next(words, None)
            if remote is None or remote.startswith("-"):
                raise UsageError("--remote takes a remote's name", hint="`lxpy remote ls`")
        elif word.startswith("--remote="):
            remote = word.partition("=")[2]
        else:
            rest.append(word)
    return rest, remote


def remotes_of(paths: Paths) -> Remotes | None:
    """This root's remotes, or None when it has none (a stat, no import: every command)."""
    if not os.path.exists(paths.remotes_file):
        return None
    from lxpy.remote import registry

    return registry.load(paths)


def route(
    paths: Paths,
    argv: list[str],
    trailing: list[str],
    command: Command,
    args: Namespace,
    option: str | None,
) -> int | None:
    """Run the command on the host it names and return its status, or None: it is for this
    host (its container names then stand without `local:`)."""
    if command.remote == commands.HOSTS:
        return None  # it runs here, and reaches the hosts args.hosts names itself
    names = _container_values(command, args)
    prefixed = [v for _, values in names for v in values if ":" in v]
    if option is None and not prefixed and not os.path.exists(paths.remotes_file):
        return None  # the common case: nothing here names another host
    from lxpy.remote.registry import split_ref

    if args.api is not None and (option is not None or prefixed):
        raise UsageError("a command from another host's lxpy names no host (no chains)")
    remotes = remotes_of(paths)
    # What names no host stays here when another host's lxpy called (no chains of hosts),
    # and for a command of this host's own (`lxpy remote ls` while a default is set).
    here = args.api is not None or command.remote == commands.HERE
    default = remotes.default if remotes is not None and not here else LOCAL
    hosts = {v.partition(":")[0] for v in prefixed}
    unprefixed = any(":" not in v for _, values in names for v in values)
    if option is not None:
        hosts.add(option)
    elif unprefixed or not names:
        hosts.add(default)
    if len(hosts) > 1:
        raise UsageError(
            f"one host per command, not {', '.join(sorted(hosts))}",
            hint="run one command for each host",
        )
    host = hosts.pop()
    for dest, values in names:
        # A container's name, checked here: never an option, nor another host, there.
        stripped = [split_ref(v)[1] if ":" in v else v for v in values]
        setattr(args, dest, stripped if isinstance(getattr(args, dest), list) else stripped[0])
    if host == LOCAL:
        return None
    if host == ALL:
        if command.name != "ls":
            raise UsageError("--remote all is for ls", hint=f"name one host for {command.name}")
        return list_everywhere(paths, remotes, args.format)
    if command.remote == commands.HERE:
        raise UsageError(f"`lxpy {command.name}` works on this host only")
    if remotes is None:
        raise UsageError(f"no remote named {host!r}", hint="`lxpy remote add` makes one")
    _refuse_local_files(command, args)
    connection = _connection(paths, remotes, host)
    if command.remote == commands.FILE and "-" not in (args.source, args.dest):
        return _file(connection, args)
    if command.name == "ls" and args.format == "json":
        return list_everywhere(paths, remotes, "json", only=host)
    words = _rewritten(argv, prefixed) + (["--", *trailing] if trailing else [])
    terminal = command.remote == commands.TERMINAL and sys.stdin.isatty() and sys.stdout.isatty()
    connection.replace_process(words, tty=terminal)
    raise AssertionError("exec returned")


def _container_values(command: Command, args: Namespace) -> list[tuple[str, list[str]]]:
    """The container arguments given, by dest, as lists."""
    dests = [a.dest for a in _arguments(command) if _completes(a) in _CONTAINER_KINDS]
    if command.name in _NEW_NAMES:
        dests.append(_NEW_NAMES[command.name])
    found = []
    for dest in dests:
        value = getattr(args, dest, None)
        values = value if isinstance(value, list) else [] if value is None else [value]
        if values:
            found.append((dest, [str(v) for v in values]))
    return found


def _arguments(command: Command) -> list[Argument]:
    """The command's arguments, as its builder declares them."""
    from lxpy.cli.quickparse import Recorder

    recorder = Recorder()
    command.arguments(recorder)
    return recorder.arguments


def _completes(argument: Argument) -> str | None:
    return getattr(argument, COMPLETES, None)


def _refuse_local_files(command: Command, args: Namespace) -> None:
    """A command runs there with its paths read there: an option naming a file of this
    host (--provision, --cloud-init) would silently take that host's file of the name."""
    for a in _arguments(command):
        if _completes(a) == FILES and getattr(args, a.dest, None):
            flag = a.flags[-1] if a.flags else a.dest.upper()
            raise UsageError(
                f"{flag} names a file of this host, and `lxpy {command.name}` runs on the "
                "remote one",
                hint="copy the file there first (scp), then run the command there",
            )


def _rewritten(argv: Sequence[str], prefixed: list[str]) -> list[str]:
    """`argv` for the remote lxpy: the host off its container names, this host's --root
    left behind (the remote's own is the registry's)."""
    words: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--root":
            skip = True
        elif not word.startswith("--root="):
            words.append(word.partition(":")[2] if word in prefixed else word)
    return words


def _connection(paths: Paths, remotes: Remotes, name: str) -> Connection:
    from lxpy.remote.connection import Connection

    return Connection(paths, remotes.get(name))


# -- ls --remote all ---------------------------------------------------------------------------
def list_everywhere(
    paths: Paths, remotes: Remotes | None, fmt: str, only: str | None = None
) -> int:
    """Every host's containers (`only`: one remote's) as one table with a HOST column, or
    as JSON whose objects name their host ("remote"). Hosts are asked at once; one that
    fails is named on stderr, the others are listed, and the status is 1."""
    import threading

    from lxpy.cli import output
    from lxpy.errors import LxpyError

    names = [only] if only else [LOCAL, *sorted(remotes.remotes if remotes else ())]
    found: dict[str, list[dict[str, object]]] = {}
    failed: dict[str, str] = {}

    def ask(name: str) -> None:
        try:
            if name == LOCAL:
                from lxpy.api import Api

                containers = Api(paths).containers(with_stats=fmt == "json")
                items = [i.to_json() for i in containers]
            else:
                assert remotes is not None
                items = _connection(paths, remotes, name).containers()
            found[name] = [{**item, "remote": name} for item in items]
        except (LxpyError, OSError) as e:
            failed[name] = str(e)

    threads = [threading.Thread(target=ask, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = [item for name in names for item in found.get(name, [])]
    if fmt == "json":
        import json

        print(json.dumps(rows, indent=2))
    else:
        from lxpy import units

        table = [("HOST", "NAME", "STATE", "PID", "IPV4", "TEMPLATE", "UPTIME", "CREATED")]
        for item in rows:
            uptime = item.get("uptime")
            table.append(
                (
                    str(item["remote"]),
                    str(item["name"]),
                    str(item["state"]),
                    str(item.get("pid") or "-"),
                    ",".join(item.get("ipv4") or []) or "-",  # type: ignore[arg-type]
                    str(item.get("template") or "?"),
                    units.duration(uptime if isinstance(uptime, float | int) else None),
                    str(item.get("created") or "?"),
                )
            )
        output.table(table)
    for name in names:
        if name in failed:
            print(f"lxpy: {name}: {failed[name].removeprefix('lxpy: ')}", file=sys.stderr)
    return 1 if failed else 0


# -- file push/pull ----------------------------------------------------------------------------
def _file(connection: Connection, args: Namespace) -> int:
    """A file or tree carried over the connection as a tar stream: the remote lxpy reads it
    from `-` (push) or writes it to `-` (pull), and copies inside as a local push would."""
    import subprocess

    flags = ["-r"] if args.recursive else []
    if args.action == "push":
        source = os.path.realpath(args.source)  # a symlink given is followed, as locally
        if not os.path.exists(source):
            raise UsageError(f"{args.source}: No such file or directory")
        if os.path.isdir(source) and not args.recursive:
            raise UsageError(f"{args.source} is a directory", hint="-r copies a directory")
        flags += ["-p"] if args.parents else []
        flags += ["--uid", str(args.uid), "--gid", str(args.gid)]
        flags += ["--mode", args.mode] if args.mode else []
        words = ["file", "push", args.name, "-", args.dest, *flags]
    else:
        words = ["file", "pull", args.name, args.source, "-", *flags]
    connection.ready()
    with subprocess.Popen(
        connection.argv(words),
        stdin=subprocess.PIPE if args.action == "push" else subprocess.DEVNULL,
        stdout=subprocess.PIPE if args.action == "pull" else None,
    ) as proc:
        from lxpy.remote import transfer

        if args.action == "push":
            assert proc.stdin is not None
            try:
                transfer.send(source, os.path.basename(args.source.rstrip("/")), proc.stdin)
            except BrokenPipeError:
                pass  # the remote refused: its message says why
            finally:
                proc.stdin.close()
        else:
            assert proc.stdout is not None
            transfer.receive_into(proc.stdout, args.dest)
        return proc.wait()
