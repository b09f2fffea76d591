"""The command line: parse, call the core API, print. Errors become one line and an exit code.

Start-up stays lean: nothing here imports textual, jinja2 or pyroute2 (`lxpy ls` and
`lxpy --version` are timed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from lxpy import __version__, units
from lxpy.cmdline import command_word
from lxpy.errors import LxpyError, PermissionDenied, UsageError, describe

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from lxpy.api import Api
    from lxpy.runtime.launcher import Launcher


EXIT_INTERNAL = 70


class _Formatter(argparse.HelpFormatter):
    """argparse builds a formatter for every add_argument; the stock one imports shutil
    (and with it bz2 and lzma) for the terminal width, which os gives directly."""

    def __init__(self, prog: str) -> None:
        try:
            width = os.get_terminal_size(sys.stdout.fileno()).columns
        except (OSError, ValueError):
            width = 80
        super().__init__(prog, width=max(40, width - 2))


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line too, like every other failure."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"lxpy: {message} (hint: `{self.prog} --help`)\n")


def _names(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="+", metavar="NAME")


def _args_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="a DNS label; made up when left out")
    p.add_argument("-t", "--template", default="busybox", help="see `lxpy templates`")
    p.add_argument("-r", "--release", help="the distribution release (--set release=...)")
    p.add_argument("--mirror", help="the package mirror (--set mirror=...)")
    p.add_argument("--packages", metavar="A,B,C", help="extra packages installed at bootstrap")
    p.add_argument("--user", metavar="NAME", help="dev-VM user with the host user's ids, sudo")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="any template parameter"
    )
    p.add_argument(
        "--storage",
        choices=("overlay", "dir"),
        default="overlay",
        help="overlay on the cached image (default) or a full copy",
    )
    p.add_argument(
        "--network",
        action="append",
        metavar="NAME[=IPV4]",
        help="a NIC on that network, eth0 first (repeatable; 'none': no NIC)",
    )
    limits = p.add_argument_group("limits (also `lxpy config set NAME limits.KEY=VALUE`)")
    limits.add_argument("--memory", metavar="SIZE", help="memory limit, like 512M or 2G")
    limits.add_argument("--swap", metavar="SIZE", help="swap on top of the memory limit")
    limits.add_argument("--cpus", metavar="N", help="CPU time, in CPUs (1.5: one and a half)")
    limits.add_argument("--cpuset", metavar="LIST", help="the CPUs it may run on, like 0-1")
    limits.add_argument("--pids", metavar="N", help="most processes at once (default 4096)")
    limits.add_argument("--io-weight", metavar="N", help="block I/O weight, 1-10000 (100)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the bootstrap plan and command, create nothing",
    )


def _args_network(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("ls", "create", "rm", "show"), default="ls")
    p.add_argument("network", nargs="?", metavar="NAME")
    p.add_argument("--subnet", metavar="CIDR", help="create: an IPv4 subnet (default: a free /24)")
    p.add_argument("--domain", help="create: the DNS domain of its containers (default: lxpy)")


# --sort key: the Stats field it orders by (largest first; names alphabetically).
TOP_FIELDS = {
    "name": "name",
    "cpu": "cpu_percent",
    "memory": "memory",
    "pids": "pids",
    "rx": "rx_bytes",
    "tx": "tx_bytes",
    "uptime": "uptime",
}


def _args_top(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--interval", type=seconds, default=2.0, metavar="S")
    p.add_argument("-s", "--sort", choices=tuple(TOP_FIELDS), default="cpu")
    p.add_argument("--once", action="store_true", help="print one table and exit")


def _args_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("show", "get", "set", "unset", "edit"))
    p.add_argument("name", metavar="NAME")
    p.add_argument("keys", nargs="*", metavar="KEY[=VALUE]", help="dotted, e.g. limits.memory")


def _args_port(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "rm", "ls"))
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("forward", nargs="?", metavar="HOSTPORT:PORT[/tcp|/udp]")


def _args_templates(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("ls", "show"), default="ls")
    p.add_argument("template", nargs="?", metavar="NAME")


def _args_cache(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", nargs="?", choices=("ls", "refresh", "rm"), default="ls")
    p.add_argument(
        "images", nargs="*", metavar="KEY[/BUILD]", help="rm: a key or one build; refresh: keys"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display (refresh)")


def _args_start(p: argparse.ArgumentParser) -> None:
    _names(p)
    p.add_argument(
        "--wait",
        type=seconds,
        default=30.0,
        metavar="S",
        help="wait up to S seconds for systemd to finish booting (default 30)",
    )
    p.add_argument("--no-wait", action="store_true", help="return as soon as init runs")


def seconds(text: str) -> float:
    import math

    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _args_stop(p: argparse.ArgumentParser) -> None:
    _names(p)
    p.add_argument("-t", "--timeout", type=seconds, default=30.0, help="seconds before SIGKILL")
    p.add_argument("-k", "--kill", action="store_true", help="kill at once, no clean shutdown")


def _args_autostart(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stop", action="store_true", help="stop them instead, in reverse order")
    p.add_argument("-a", "--all", action="store_true", help="every container, not only autostart")
    p.add_argument(
        "-t",
        "--timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="per container: seconds before SIGKILL on --stop, for systemd's boot on start",
    )
    p.add_argument("-l", "--list", action="store_true", help="print the order and exit")


def _args_file(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("push", "pull"))
    p.add_argument("name")
    p.add_argument("source", metavar="SRC")
    p.add_argument("dest", metavar="DST")
    p.add_argument("-r", "--recursive", action="store_true", help="copy a directory")
    p.add_argument("--uid", type=int, default=0, help="push: owner inside (default 0)")
    p.add_argument("--gid", type=int, default=0, help="push: group inside (default 0)")
    p.add_argument("--mode", help="push: octal mode of files (default: the source's)")


def _args_clone(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SRC")
    p.add_argument("target", metavar="DST")
    p.add_argument(
        "-s", "--snapshot", action="store_true", help="stand on SRC's layers instead of a copy"
    )


def _args_rename(p: argparse.ArgumentParser) -> None:
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")


def _args_snapshot(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="+", metavar="[ls|rm|restore] NAME [SNAP]")


def _args_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("file", metavar="FILE", help="FILE.tar.zst (zstd), FILE.tar.gz or FILE.tar")
    p.add_argument("--snapshots", action="store_true", help="its snapshots too")


def _args_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE")
    p.add_argument("name", nargs="?", help="the new container's name (default: the archive's)")


def _args_mount(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("add", "rm", "ls"))
    p.add_argument("name", nargs="?")
    p.add_argument("paths", nargs="*", metavar="PATH", help="add: HOSTPATH PATH; rm: PATH")
    p.add_argument("--readonly", action="store_true", help="add: read-only inside")


def _args_restart(p: argparse.ArgumentParser) -> None:
    _names(p)
    p.add_argument("-t", "--timeout", type=seconds, default=30.0)


def _args_destroy(p: argparse.ArgumentParser) -> None:
    _names(p)
    p.add_argument("-f", "--force", action="store_true", help="stop a running one first")


def _args_ls(p: argparse.ArgumentParser) -> None:
    p.add_argument("-f", "--format", choices=("table", "json"), default="table")


def _args_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("-f", "--format", choices=("text", "json"), default="text")


def _args_attach(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("-u", "--user", help="user name or uid inside the container")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("--cwd", metavar="DIR")
    p.add_argument("cmd", nargs="*", metavar="-- CMD", help="the command and its arguments")


def _args_console(p: argparse.ArgumentParser) -> None:
    p.add_argument("name")
    p.add_argument("--log", action="store_true", help="print the console buffer and exit")


# name: (help, arguments); ALIASES maps other spellings to these names.
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "create": ("create a container from a template", _args_create),
    "start": ("start containers", _args_start),
    "stop": ("stop containers cleanly through their init", _args_stop),
    "restart": ("stop, then start", _args_restart),
    "autostart": ("start the autostart containers in order (--stop: stop them)", _args_autostart),
    "destroy": ("delete containers", _args_destroy),
    "freeze": ("freeze every process of containers in place", _names),
    "unfreeze": ("let frozen containers run on", _names),
    "ls": ("list containers", _args_ls),
    "info": ("show one container", _args_info),
    "attach": ("run a command (default: a login shell) inside", _args_attach),
    "console": ("connect to the console (Ctrl-a q detaches)", _args_console),
    "templates": ("list templates, or show one's parameters", _args_templates),
    "cache": ("list, refresh or remove cached images", _args_cache),
    "network": ("list, create, show or remove networks", _args_network),
    "port": ("forward host ports to a container: add, rm, ls", _args_port),
    "config": ("show, get, set, unset or edit a container's config", _args_config),
    "top": ("live CPU, memory, pids and traffic of the running containers", _args_top),
    "file": ("copy files into (push) or out of (pull) a container", _args_file),
    "clone": ("a new container from another (--snapshot: on its layers)", _args_clone),
    "rename": ("give a stopped container a new name", _args_rename),
    "export": ("write a container (and its snapshots) to one archive", _args_export),
    "mount": ("share host folders with a container: add, rm, ls", _args_mount),
    "import": ("a new container from an export", _args_import),
    "snapshot": ("take, list, remove or restore snapshots", _args_snapshot),
    "tui": ("the fleet app (also: lxpy alone, on a terminal)", lambda p: None),
}
ALIASES = {"list": "ls"}


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `only`, just that subcommand's (building all ten costs every command
    a few milliseconds, and help or a typo gets the full one)."""
    p = _Parser(prog="lxpy", description="Persistent OS containers whose own init runs as PID 1.")
    p.add_argument("--version", action="version", version=f"lxpy {__version__}")
    p.add_argument("--root", metavar="DIR", help="keep all state under DIR (also: LXPY_ROOT)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    only = ALIASES.get(only or "", only)
    for name, (text, add_arguments) in SUBCOMMANDS.items():
        if only in SUBCOMMANDS and name != only:
            continue
        aliases = [alias for alias, target in ALIASES.items() if target == name]
        add_arguments(sub.add_parser(name, help=text, aliases=aliases))
    return p


def _cmd_create(api: Api, args: argparse.Namespace) -> int:
    from lxpy.create import Request

    settings: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        settings[key.strip()] = value
    for key in ("release", "mirror", "packages", "user"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    request = Request(
        args.template, args.name, settings, args.storage, _nics(args.network), _limits(args)
    )
    if args.dry_run:
        return _dry_run(api, request)
    progress = _progress(args.quiet)
    created = api.create(request, progress)
    progress.close()
    if not args.quiet:
        if created.seconds >= 1.0:
            source = f"image {created.image}" if created.image else "its bootstrap"
            print(
                f"created {created.name} from {args.template} ({source}) "
                f"in {created.seconds:.1f} s",
                file=sys.stderr,
            )
        if created.user is not None:
            print(
                f"user {created.user.name}: uid {created.user.uid}, gid {created.user.gid} "
                f"({created.user.origin}), {len(created.user.keys)} SSH key(s)",
                file=sys.stderr,
            )
    print(created.name)
    return 0


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """--memory 2G ... as config values, each checked like config.toml's."""
    from lxpy.config import Limits
    from lxpy.configedit import limits_from_text

    given = {k: getattr(args, k) for k in Limits().__dict__ if getattr(args, k) is not None}
    return limits_from_text(given, lambda key: f"--{key.replace('_', '-')}")


def _nics(given: list[str] | None) -> tuple[tuple[str, str], ...] | None:
    """--network values as (network, pinned address); None: the default network."""
    if given is None:
        return None
    if given == ["none"]:
        return ()
    nics = []
    for item in given:
        network, _, address = item.partition("=")
        if not network or network == "none":
            raise UsageError(f"--network {item!r}: expected NAME or NAME=IPV4, or just none")
        nics.append((network, address))
    return tuple(nics)


def _dry_run(api: Api, request: Any) -> int:
    from lxpy.create import resolve

    resolved = resolve(request)
    print(f"template: {resolved.template.name}")
    print(f"init:     {resolved.init.kind} ({' '.join(resolved.init.command)})")
    for key, value in resolved.values.items():
        print(f"  {key} = {resolved.template.parameters[key].show(value)}")
    plan = resolved.plan
    if plan is None:
        print(f"bootstrap: {resolved.template.bootstrap.method} (offline, no image cache)")
        return 0
    import shlex

    print(f"image:    {plan.key}")
    target = f"{api.paths.images}/{plan.key}/.partial-XXXX/rootfs"
    print(f"command:  {shlex.join(plan.command(target, api.paths.debs, plan.method))}")
    return 0


def _progress(quiet: bool) -> Any:
    from lxpy.images.progress import Silent, Terminal

    return Silent() if quiet else Terminal(sys.stderr)


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def _cmd_templates(api: Api, args: argparse.Namespace) -> int:
    from lxpy.images import manifest

    if args.action == "ls":
        rows = [("NAME", "INIT", "BOOTSTRAP", "FROM", "DESCRIPTION")]
        for t in api.templates():
            rows.append(
                (
                    t.name,
                    t.init_kind.replace("{{ init }}", "/".join(t.inits)),
                    t.bootstrap.method,
                    str(t.directory.parent),
                    t.description,
                )
            )
        _table(rows)
        return 0
    if not args.template:
        raise UsageError("`lxpy templates show` needs a template name")
    t = manifest.find(args.template)
    print(f"{t.name}: {t.description}")
    print(f"from:      {t.directory}")
    print(f"bootstrap: {t.bootstrap.method}")
    for kind, init in t.inits.items():
        print(
            f"init:      {kind}: {' '.join(init.command)}, halt {init.halt_signal}, "
            f"reboot {init.reboot_signal}"
        )
    if t.parameters:
        params: list[tuple[str, ...]] = [("PARAMETER", "TYPE", "DEFAULT", "DESCRIPTION")]
        for p in t.parameters.values():
            kind = f"one of {'|'.join(p.choices)}" if p.choices else p.type
            params.append((p.name, kind, p.show(p.default) or '""', p.description))
        print()
        _table(params)
    return 0


def _cmd_network(api: Api, args: argparse.Namespace) -> int:
    if args.action == "ls":
        rows = [("NAME", "SUBNET", "GATEWAY", "DOMAIN", "STATE", "CONTAINERS")]
        for net in api.networks():
            rows.append(
                (
                    net.name,
                    net.subnet,
                    net.gateway,
                    net.domain,
                    "up" if net.up else "down",
                    ",".join(net.containers) or "-",
                )
            )
        _table(rows)
        return 0
    if not args.network:
        raise UsageError(f"`lxpy network {args.action}` needs a network name")
    if args.action == "create":
        net = api.create_network(args.network, args.subnet, args.domain)
        print(f"{net.name} {net.subnet}")
        return 0
    if args.action == "rm":
        api.remove_network(args.network)
        return 0
    net = api.network(args.network)
    print(f"Name:     {net.name}")
    print(f"Subnet:   {net.subnet} (gateway and DNS {net.gateway})")
    print(f"Domain:   {net.domain}")
    print(f"State:    {'up' if net.up else 'down'}")
    print()
    _table([("CONTAINER", "ADDRESS", "MAC", "LEASE"), *net.leases])
    return 0


def _cmd_config(api: Api, args: argparse.Namespace) -> int:
    if args.action == "show":
        sys.stdout.write(api.config_text(args.name))
        return 0
    if args.action == "edit":
        later = api.config_edit(args.name)
    elif not args.keys:
        raise UsageError(f"`lxpy config {args.action}` needs a KEY")
    elif args.action == "get":
        for key in args.keys:
            value = api.config_get(args.name, key)
            print(value if isinstance(value, str) else _toml_value(value))
        return 0
    else:
        from lxpy.configedit import parse_value

        later = False
        for item in args.keys:
            key, sep, text = item.partition("=")
            if args.action == "set" and not sep:
                raise UsageError(f"{item!r}: expected KEY=VALUE")
            value = parse_value(text) if args.action == "set" else None
            later = api.config_set(args.name, key.strip(), value) or later
    if later:
        print(f"{args.name} runs: the change takes effect at its next start", file=sys.stderr)
    return 0


def _toml_value(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value})[4:].strip()


def _cmd_top(api: Api, args: argparse.Namespace) -> int:
    """Like lxc-top: a table every interval (CPU % over that interval); --once prints one,
    over a short first interval, and exits."""
    import time

    earlier: dict[str, Any] = {}
    first = True
    while True:
        now = {}
        for name in api.names():
            try:
                sample = api.stats(name, earlier=earlier.get(name))
            except LxpyError:
                continue  # destroyed or broken meanwhile: gone from the next table
            if sample is not None:
                now[name] = sample
        if first:
            earlier, first = now, False
            time.sleep(min(args.interval, 0.5))
            continue
        attr = TOP_FIELDS[args.sort]
        ordered = sorted(
            now.items(),
            key=lambda item: item[0] if attr == "name" else -(getattr(item[1], attr) or 0),
        )
        rows = [("NAME", "CPU%", "CPU S", "MEMORY", "LIMIT", "PIDS", "RX", "TX", "UPTIME")]
        for name, s in ordered:
            rows.append(
                (
                    name,
                    "-" if s.cpu_percent is None else f"{s.cpu_percent:.1f}",
                    f"{s.cpu_seconds or 0:.1f}",
                    units.size(s.memory),
                    units.size(s.memory_limit),
                    str(s.pids if s.pids is not None else "-"),
                    units.size(s.rx_bytes),
                    units.size(s.tx_bytes),
                    units.duration(s.uptime),
                )
            )
        if not args.once and sys.stdout.isatty():
            sys.stdout.write("\x1b[H\x1b[2J")
        _table(rows)
        sys.stdout.flush()
        if args.once:
            return 0
        earlier = now
        time.sleep(args.interval)


def _cmd_port(api: Api, args: argparse.Namespace) -> int:
    if args.action == "ls":
        rows = [("CONTAINER", "HOST PORT", "PORT", "PROTO", "ACTIVE")]
        for info in [api.info(args.name)] if args.name else api.containers():
            for p in info.config.ports if info.config else ():
                active = "yes" if info.state == "RUNNING" else "-"
                rows.append((info.name, str(p.host_port), str(p.port), p.proto, active))
        _table(rows)
        return 0
    if not args.name or not args.forward:
        raise UsageError(f"`lxpy port {args.action}` needs NAME and HOSTPORT:PORT[/proto]")
    if args.action == "add":
        print(api.port_add(args.name, args.forward))
    else:
        api.port_rm(args.name, args.forward)
    return 0


def _cmd_cache(api: Api, args: argparse.Namespace) -> int:
    if args.action == "ls":
        rows = [("IMAGE", "RELEASE", "ARCH", "PACKAGES", "SIZE", "BUILT", "USED BY")]
        for image, users in api.images():
            packages = image.plan.get("packages", [])
            rows.append(
                (
                    image.ref,
                    str(image.plan.get("suite", "?")),
                    str(image.plan.get("arch", "?")),
                    str(len(packages)) if isinstance(packages, list) else "?",
                    f"{image.size / 2**20:.0f}M",
                    image.built,
                    ",".join(users) or "-",
                )
            )
        _table(rows)
        return 0
    if args.action == "rm":
        if not args.images:
            raise UsageError("`lxpy cache rm` needs KEY or KEY/BUILD (see `lxpy cache ls`)")
        for selector in args.images:
            for image in api.remove_image(selector):
                print(f"removed {image.ref}")
        return 0
    progress = _progress(args.quiet)
    for image in api.refresh_images(args.images, progress):
        progress.close()
        print(image.ref)
    return 0


def _each(args: argparse.Namespace, action: Callable[[str], object], verb: str) -> int:
    """Run `action` on every name; report each failure on its own line, keep going."""
    names = args.names
    failed = 0
    for name in names:
        try:
            action(name)
        except LxpyError as e:
            if args.debug:
                raise
            _error(e)
            failed += 1
    if failed and len(names) > 1:
        print(f"lxpy: {verb}: {failed} of {len(names)} failed", file=sys.stderr)
    return 1 if failed else 0


def _cmd_autostart(api: Api, args: argparse.Namespace) -> int:
    """At host boot and shutdown (contrib/lxpy.service, contrib/lxpy.init), like
    lxc-autostart: start in `autostart_order`, waiting each one's `autostart_delay`;
    --stop goes in reverse order."""
    import time

    plan = api.autostart_plan(args.all)
    if args.list:
        for name, delay in plan:
            print(f"{name}  (then {delay:g} s)" if delay else name)
        return 0
    if args.stop:
        args.names = [name for name, _ in reversed(plan) if api.info(name).state != "STOPPED"]
        return _each(args, lambda name: api.stop(name, args.timeout), "stop")
    delays = dict(plan)
    args.names = [name for name, _ in plan if api.info(name).state == "STOPPED"]

    def start(name: str) -> None:
        api.start(name, args.timeout)
        print(f"started {name}")
        if delays[name] and name != args.names[-1]:
            time.sleep(delays[name])

    return _each(args, start, "start")


def _cmd_start(api: Api, args: argparse.Namespace) -> int:
    def start(name: str) -> None:
        _, booted = api.start(name, 0 if args.no_wait else args.wait)
        if not booted and not args.no_wait and api.info(name).state == "RUNNING":
            print(f"lxpy: {name}: init still booting after {args.wait:g} s", file=sys.stderr)

    return _each(args, start, "start")


def _cmd_stop(api: Api, args: argparse.Namespace) -> int:
    return _each(args, lambda n: api.stop(n, args.timeout, args.kill), "stop")


def _cmd_restart(api: Api, args: argparse.Namespace) -> int:
    return _each(args, lambda n: api.restart(n, args.timeout), "restart")


def _cmd_freeze(api: Api, args: argparse.Namespace) -> int:
    return _each(args, api.freeze, "freeze")


def _cmd_unfreeze(api: Api, args: argparse.Namespace) -> int:
    return _each(args, api.unfreeze, "unfreeze")


def _cmd_destroy(api: Api, args: argparse.Namespace) -> int:
    return _each(args, lambda n: api.destroy(n, args.force), "destroy")


def _cmd_ls(api: Api, args: argparse.Namespace) -> int:
    infos = api.containers(with_stats=args.format == "json")
    if args.format == "json":
        import json

        print(json.dumps([i.to_json() for i in infos], indent=2))
        return 0
    rows = [("NAME", "STATE", "PID", "IPV4", "TEMPLATE", "UPTIME", "CREATED")]
    for i in infos:
        rows.append(
            (
                i.name,
                str(i.state),
                str(i.pid or "-"),
                ",".join(i.ipv4) or "-",
                i.template or "?",
                units.duration(i.uptime),
                i.created or "?",
            )
        )
    _table(rows)
    return 0


def _cmd_info(api: Api, args: argparse.Namespace) -> int:
    info = api.info(args.name, with_stats=True)
    if args.format == "json":
        import json

        print(json.dumps(info.to_json(detailed=True), indent=2))
        return 0
    print(f"Name:     {info.name}")
    print(f"State:    {info.state}")
    print(f"PID:      {info.pid or '-'}")
    print(f"Template: {info.template or '?'}")
    print(f"Created:  {info.created or '?'}")
    print(f"Uptime:   {units.duration(info.uptime)}")
    print(f"IPv4:     {', '.join(info.ipv4) or '-'}")
    print(f"Rootfs:   {info.rootfs}")
    if info.config is not None:
        print(
            f"Init:     {' '.join(info.config.init.command)} ({info.config.init.kind}, "
            f"halts on {info.config.init.halt_signal})"
        )
        storage = info.config.storage
        where = f" on image {storage.image}" if storage.image else ""
        print(f"Storage:  {storage.kind}{where}")
        release = info.config.parameters.get("release")
        if release:
            print(f"Release:  {release}")
        limits = ", ".join(f"{k}={v}" for k, v in info.config.limits.to_dict().items())
        print(f"Limits:   {limits or 'none'}")
    if info.stats is not None:
        s = info.stats
        limit = f" of {units.size(s.memory_limit)}" if s.memory_limit else ""
        print(f"CPU:      {s.cpu_seconds or 0:.1f} s in all")
        print(f"Memory:   {units.size(s.memory)}{limit} (peak {units.size(s.memory_peak)})")
        print(f"Pids:     {s.pids if s.pids is not None else '-'}")
        print(f"Network:  received {units.size(s.rx_bytes)}, sent {units.size(s.tx_bytes)}")
        print(f"Disk:     {units.size(s.disk)} in its own layer")
        print(f"OOM kills: {s.oom_kills}")
    if info.config_error:
        print(f"Config:   {info.config_error}")
    return 0


def _cmd_attach(api: Api, args: argparse.Namespace) -> int:
    command = list(args.cmd)
    env = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--env {item!r}: expected KEY=VALUE")
        env[key] = value
    return int(api.attach(args.name, command or None, args.user, env, args.cwd))


def _cmd_console(api: Api, args: argparse.Namespace) -> int:
    if args.log:
        sys.stdout.buffer.write(api.console_log(args.name))
        sys.stdout.flush()
        return 0
    api.console(args.name)
    return 0


def _cmd_file(api: Api, args: argparse.Namespace) -> int:
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
    count = api.file_push(
        args.name, args.source, args.dest, args.recursive, args.uid, args.gid, mode
    )
    print(f"pushed {count} file(s)", file=sys.stderr)
    return 0


def _cmd_clone(api: Api, args: argparse.Namespace) -> int:
    import time

    began = time.monotonic()
    api.clone(args.source, args.target, args.snapshot)
    kind = "snapshot clone" if args.snapshot else "clone"
    print(
        f"{kind} {args.target} of {args.source} in {time.monotonic() - began:.2f} s",
        file=sys.stderr,
    )
    print(args.target)
    return 0


def _transfer_progress(verb: str) -> Callable[[int], None]:
    """On a terminal, the bytes done so far, rewritten in place twice a second."""
    import time

    last = [0.0]

    def show(done: int) -> None:
        now = time.monotonic()
        if sys.stderr.isatty() and now - last[0] >= 0.5:
            last[0] = now
            sys.stderr.write(f"\r\x1b[K{verb} {units.size(done)}")
            sys.stderr.flush()

    return show


def _report_transfer(verb: str, name: str, counted: Any, where: str) -> None:
    rate = counted.bytes / counted.seconds / 1e6 if counted.seconds > 0 else 0.0
    end = "\r\x1b[K" if sys.stderr.isatty() else ""
    print(
        f"{end}{verb} {name}: {counted.files} files, {units.size(counted.bytes)} in "
        f"{counted.seconds:.1f} s ({rate:.0f} MB/s) {where}",
        file=sys.stderr,
    )


def _cmd_export(api: Api, args: argparse.Namespace) -> int:
    counted = api.export(args.name, args.file, args.snapshots, _transfer_progress("exported"))
    _report_transfer("exported", args.name, counted, f"to {args.file}")
    return 0


def _cmd_import(api: Api, args: argparse.Namespace) -> int:
    name, counted = api.import_(args.file, args.name, _transfer_progress("imported"))
    _report_transfer("imported", name, counted, f"from {args.file}")
    print(name)
    return 0


def _cmd_mount(api: Api, args: argparse.Namespace) -> int:
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
        _table(rows)
    return 0


def _cmd_rename(api: Api, args: argparse.Namespace) -> int:
    api.rename(args.old, args.new)
    return 0


SNAPSHOT_ACTIONS = ("ls", "rm", "restore")


def _cmd_snapshot(api: Api, args: argparse.Namespace) -> int:
    """`snapshot NAME [SNAP]` takes one; `snapshot ls|rm|restore NAME ...` (a container named
    like an action is taken with `snapshot NAME SNAP` or `snapshot ls ls`)."""
    words = args.words
    action = words[0] if words[0] in SNAPSHOT_ACTIONS and len(words) > 1 else "take"
    rest = words if action == "take" else words[1:]
    wanted = {"take": (1, 2), "ls": (1, 1), "rm": (2, 2), "restore": (2, 2)}[action]
    if not wanted[0] <= len(rest) <= wanted[1]:
        raise UsageError(
            "usage: lxpy snapshot NAME [SNAP] | snapshot ls NAME | snapshot rm|restore NAME SNAP"
        )
    if action == "ls":
        rows = [("SNAPSHOT", "CREATED", "LAYERS")]
        for snap in api.snapshots(rest[0]):
            rows.append((snap.name, snap.created, str(len(snap.layers))))
        _table(rows)
    elif action == "rm":
        api.remove_snapshot(rest[0], rest[1])
    elif action == "restore":
        api.restore(rest[0], rest[1])
    else:
        print(api.snapshot(rest[0], rest[1] if len(rest) > 1 else None).name)
    return 0


def _cmd_tui(api: Api, args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the TUI needs a terminal", hint="`lxpy ls` lists containers in scripts")
    from lxpy.tui.app import run

    return run(api, args.root)


COMMANDS: dict[str, Callable[[Api, argparse.Namespace], int]] = {
    "create": _cmd_create,
    "start": _cmd_start,
    "stop": _cmd_stop,
    "restart": _cmd_restart,
    "destroy": _cmd_destroy,
    "freeze": _cmd_freeze,
    "unfreeze": _cmd_unfreeze,
    "ls": _cmd_ls,
    "list": _cmd_ls,
    "info": _cmd_info,
    "attach": _cmd_attach,
    "console": _cmd_console,
    "templates": _cmd_templates,
    "cache": _cmd_cache,
    "network": _cmd_network,
    "port": _cmd_port,
    "config": _cmd_config,
    "top": _cmd_top,
    "tui": _cmd_tui,
    "autostart": _cmd_autostart,
    "file": _cmd_file,
    "clone": _cmd_clone,
    "rename": _cmd_rename,
    "export": _cmd_export,
    "mount": _cmd_mount,
    "import": _cmd_import,
    "snapshot": _cmd_snapshot,
}


def _error(e: Exception) -> None:
    # Anything but an LxpyError is unexpected: its traceback tells where.
    hint = "" if isinstance(e, LxpyError) else " (hint: --debug shows the traceback)"
    print(describe(e) + hint, file=sys.stderr)


def main(argv: Sequence[str], launcher: Launcher | None = None) -> int:
    argv = list(argv)
    # Everything after `--` is the command to run inside, options included.
    trailing: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, trailing = argv[:cut], argv[cut + 1 :]
    args = _parser(command_word(argv)).parse_args(argv)
    if trailing:
        if args.command != "attach":
            _parser().error("`--` is only for `lxpy attach NAME -- CMD`")
        args.cmd = list(args.cmd) + trailing
    if args.command is None:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            _parser().print_help()
            return 0
        args.command = "tui"
    try:
        if os.geteuid() != 0:
            raise PermissionDenied("lxpy needs root", hint="run it as root or with sudo")
        from lxpy.api import Api
        from lxpy.paths import Paths

        api = Api(Paths.from_env(args.root), launcher)
        return COMMANDS[args.command](api, args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0  # `lxpy ls | head`: the reader has all it wanted
    except Exception as e:
        if args.debug:
            raise
        _error(e)
        if isinstance(e, LxpyError):
            return e.exit_code
        return 1 if isinstance(e, OSError) else EXIT_INTERNAL
