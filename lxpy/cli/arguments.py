"""Each command's arguments: one builder per command, every option with a help line that
states its default. The command table (commands.py) names them; only the invoked
command's builder runs, against argparse's parser or quickparse's recorder: a builder
uses only what both take (quickparse hands anything it does not read to argparse)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Group(Protocol):
        def add_argument(self, *names: str, **options: Any) -> Any: ...

    class Parser(Group, Protocol):
        """What a builder calls: argparse.ArgumentParser and quickparse.Recorder are one."""

        usage: str | None

        def add_argument_group(self, title: str | None = None) -> Group: ...


DEFAULT_TEMPLATE = "busybox"
SNAPSHOT_ACTIONS = ("ls", "rm", "restore")

# What a shell completes an argument with (lxpy/cli/completion.py writes the scripts): the
# values the hidden `lxpy complete KIND` lists (lxpy/cli/values.py), or the shell's own file
# and directory names. The kind is an attribute of the argparse action, as shtab wants it.
LISTED = ("containers", "templates", "releases", "networks", "pools", "snapshots", "remotes")
FILES, DIRS = "files", "dirs"
# argparse.BooleanOptionalAction (--x and --no-x) by a name, so that builders import no argparse.
NEGATABLE = "negatable"
COMPLETES = "lxpy_completes"


def completes(action: Any, kind: str) -> None:
    setattr(action, COMPLETES, kind)


# --sort key of `top`: the Stats field it orders by (largest first; names alphabetically).
TOP_FIELDS = {
    "name": "name",
    "cpu": "cpu_percent",
    "memory": "memory",
    "pids": "pids",
    "rx": "rx_bytes",
    "tx": "tx_bytes",
    "uptime": "uptime",
}


def seconds(text: str) -> float:
    import math

    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(text)
    return value


def _name(p: Parser) -> None:
    completes(p.add_argument("name", metavar="NAME", help="the container"), "containers")


def _actions(p: Parser, *choices: str) -> None:
    """The first word: what to do; the first choice when left out."""
    p.add_argument(
        "action",
        nargs="?",
        choices=choices,
        default=choices[0],
        help="what to do (default: %(default)s)",
    )


def _format(p: Parser, plain: str, json: str) -> None:
    p.add_argument(
        "-f",
        "--format",
        choices=(plain, "json"),
        default=plain,
        help=f"{json} (default: %(default)s)",
    )


def _owner(p: Parser) -> None:
    completes(
        p.add_argument(
            "name", nargs="?", metavar="NAME", help="the container (ls: default every one)"
        ),
        "containers",
    )


def names(p: Parser) -> None:
    completes(
        p.add_argument("names", nargs="+", metavar="NAME", help="one or more containers"),
        "containers",
    )


def _stop_timeout(p: Parser) -> None:
    p.add_argument(
        "-t",
        "--timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="seconds a clean shutdown may take before SIGKILL (default: %(default)g)",
    )


def launch(p: Parser) -> None:
    create(p, dry_run=False)
    p.add_argument(
        "--timeout",
        type=seconds,
        default=900.0,
        metavar="S",
        help="how long to wait for --cloud-init and --provision to finish (default: %(default)g)",
    )


def create(p: Parser, dry_run: bool = True) -> None:
    p.add_argument("name", nargs="?", metavar="NAME", help="a DNS label (default: made up)")
    template = p.add_argument(
        "-t",
        "--template",
        default=DEFAULT_TEMPLATE,
        metavar="TEMPLATE",
        help="see `lxpy templates` (default: %(default)s)",
    )
    completes(template, "templates")
    release = p.add_argument(
        "-r",
        "--release",
        help="the distribution release (--set release=...; default: the template's)",
    )
    completes(release, "releases")
    p.add_argument(
        "--mirror",
        metavar="URL",
        help="the package mirror (--set mirror=...; default: the template's)",
    )
    p.add_argument(
        "--packages",
        metavar="A,B,C",
        help="extra packages, in a cached layer over the image; @dev: the dev set (default: none)",
    )
    p.add_argument(
        "--user",
        metavar="NAME",
        help="a dev-VM user with the host user's ids and sudo (default: none)",
    )
    p.add_argument(
        "--ssh",
        action=NEGATABLE,
        help="install openssh-server, for `lxpy ssh` and ssh to NAME.DOMAIN (default: with --user)",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any template parameter, repeatable (`lxpy templates show TEMPLATE` lists them)",
    )
    p.add_argument(
        "--storage",
        metavar="POOL",
        help="overlay (on the cached image), dir (a full copy) or a btrfs pool's name "
        "(a snapshot of the image; see `lxpy storage`) (default: the default pool, overlay "
        "unless `lxpy storage default` set another)",
    )
    p.add_argument(
        "--privileged",
        action="store_true",
        help="no user namespace: container root is host root (default: unprivileged)",
    )
    p.add_argument(
        "--allow-shift",
        action="store_true",
        help="where the store cannot be idmapped (NFS, ramfs), copy the image and chown "
        "the copy into the container's own host ids at its first start",
    )
    completes(
        p.add_argument(
            "--provision",
            action="append",
            default=[],
            metavar="SCRIPT",
            help="a host script run inside once, at the first boot, after the network is up "
            "(repeatable, in order; `lxpy info` shows how it went)",
        ),
        FILES,
    )
    completes(
        p.add_argument(
            "--cloud-init",
            metavar="FILE",
            help="cloud-init user-data (#cloud-config) for its first boot, run before the "
            "--provision scripts; installs cloud-init (the template's cloud parameter)",
        ),
        FILES,
    )
    network = p.add_argument(
        "--network",
        action="append",
        metavar="NAME[=IPV4]",
        help="a NIC on that network, eth0 first, repeatable; 'none': no NIC "
        "(default: one NIC on the default network)",
    )
    completes(network, "networks")
    p.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="[ADDR:]HOSTPORT:PORT[/PROTO]",
        help="forward a host port from its start on, repeatable; as `lxpy port add` "
        "(default address: 127.0.0.1 with --user, else 0.0.0.0)",
    )
    from lxpy.api import LIMITS

    limits = p.add_argument_group("limits (also `lxpy config set NAME limits.KEY=VALUE`)")
    for limit in LIMITS.values():
        limits.add_argument(limit.flag, metavar=limit.metavar, help=limit.help)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    if dry_run:
        p.add_argument(
            "--dry-run",
            action="store_true",
            help="print the bootstrap plan and command, create nothing",
        )


def start(p: Parser) -> None:
    names(p)
    p.add_argument(
        "--wait",
        type=seconds,
        default=30.0,
        metavar="S",
        help="wait up to S seconds for systemd to finish booting (default: %(default)g)",
    )
    p.add_argument("--no-wait", action="store_true", help="return as soon as init runs")


def stop(p: Parser) -> None:
    names(p)
    _stop_timeout(p)
    p.add_argument("-k", "--kill", action="store_true", help="kill at once, no clean shutdown")


# The states `wait` takes, as `ls` shows them.
STATES = ("RUNNING", "STOPPED", "FROZEN", "STARTING", "STOPPING")


def wait(p: Parser) -> None:
    _name(p)
    p.add_argument(
        "-s",
        "--state",
        action="append",
        required=True,
        type=str.upper,
        choices=STATES,
        metavar="STATE",
        help=f"a state to wait for, one of {', '.join(STATES)}; again for any of several "
        "(default: none, it is required)",
    )
    p.add_argument(
        "-t",
        "--timeout",
        type=seconds,
        metavar="S",
        help="fail after S seconds (default: wait for as long as it takes)",
    )


def events(p: Parser) -> None:
    _format(p, "text", "one JSON object a line, as lxpy writes them")


def restart(p: Parser) -> None:
    names(p)
    _stop_timeout(p)


def autostart(p: Parser) -> None:
    p.add_argument("--stop", action="store_true", help="stop them instead, in reverse order")
    p.add_argument("-a", "--all", action="store_true", help="every container, not only autostart")
    p.add_argument(
        "-t",
        "--timeout",
        type=seconds,
        default=30.0,
        metavar="S",
        help="per container: seconds before SIGKILL on --stop, for systemd's boot on start "
        "(default: %(default)g)",
    )
    p.add_argument("-l", "--list", action="store_true", help="print the order and exit")


def destroy(p: Parser) -> None:
    names(p)
    p.add_argument("-f", "--force", action="store_true", help="stop a running one first")


def ls(p: Parser) -> None:
    _format(p, "table", "a table, or JSON with each running container's figures")


def check(p: Parser) -> None:
    _format(p, "text", "lines of text, or JSON")


def info(p: Parser) -> None:
    _name(p)
    _format(p, "text", "lines of text, or JSON with the whole config")


def attach(p: Parser) -> None:
    _name(p)
    p.add_argument(
        "-u",
        "--user",
        metavar="USER",
        help="user name or uid inside the container (default: root, or the container's own "
        "user with [user] default = true)",
    )
    p.add_argument(
        "-e",
        "--env",
        action="append",
        default=[],
        metavar="K=V",
        help="an environment variable for the command, repeatable (default: a clean "
        "environment, TERM passed on)",
    )
    p.add_argument(
        "--cwd",
        metavar="DIR",
        help="the directory inside to run in (default: the user's home, else /)",
    )
    p.add_argument(
        "cmd",
        nargs="*",
        metavar="-- CMD",
        help="the command and its arguments (default: a login shell)",
    )


def shell(p: Parser) -> None:
    _as_user(p, "the command and its arguments (default: the user's login shell)")


def ssh(p: Parser) -> None:
    _as_user(p, "a command, run by the user's shell there (default: a login shell)")


def _as_user(p: Parser, cmd: str) -> None:
    _name(p)
    p.add_argument(
        "-u",
        "--user",
        metavar="USER",
        help="another user (default: the container's own, else root)",
    )
    p.add_argument("cmd", nargs="*", metavar="-- CMD", help=cmd)


def console(p: Parser) -> None:
    _name(p)
    p.add_argument("--log", action="store_true", help="print the console buffer and exit")


def templates(p: Parser) -> None:
    _actions(p, "ls", "show")
    completes(
        p.add_argument("template", nargs="?", metavar="NAME", help="show: the template"),
        "templates",
    )


def cache(p: Parser) -> None:
    _actions(p, "ls", "refresh", "rm")
    p.add_argument(
        "images",
        nargs="*",
        metavar="KEY[/BUILD[/LAYER]]",
        help="rm: a key, one build or one package layer; refresh: keys (default: every key)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="refresh: no progress display")


def network(p: Parser) -> None:
    _actions(p, "ls", "create", "rm", "show")
    completes(p.add_argument("network", nargs="?", metavar="NAME", help="the network"), "networks")
    p.add_argument(
        "--subnet", metavar="CIDR", help="create: an IPv4 subnet (default: a free private /24)"
    )
    p.add_argument("--domain", help="create: the DNS domain of its containers (default: lxpy)")


def storage(p: Parser) -> None:
    _actions(p, "ls", "create", "rm", "info", "default")
    completes(p.add_argument("pool", nargs="?", metavar="NAME", help="the pool"), "pools")
    p.add_argument("--size", help="create: a btrfs pool on a sparse loop file this big (like 50G)")
    p.add_argument("--source", metavar="PATH", help="create: a btrfs pool at this btrfs mount")


def port(p: Parser) -> None:
    p.add_argument("action", choices=("add", "rm", "ls"), help="what to do")
    _owner(p)
    p.add_argument(
        "forward",
        nargs="?",
        metavar="[ADDR:]HOSTPORT:PORT[/tcp|/udp]",
        help="add: the forward; ADDR an IPv4 address or an IPv6 one in brackets "
        "(default: 127.0.0.1 on a box created with --user, else 0.0.0.0; proto: tcp); "
        "rm: [ADDR:]HOSTPORT[/PROTO] is enough",
    )


def config(p: Parser) -> None:
    p.add_argument("action", choices=("show", "get", "set", "unset", "edit"), help="what to do")
    _name(p)
    p.add_argument(
        "keys",
        nargs="*",
        metavar="KEY[=VALUE]",
        help="dotted, like limits.memory or limits.memory=1G",
    )


def top(p: Parser) -> None:
    p.add_argument(
        "-i",
        "--interval",
        type=seconds,
        default=2.0,
        metavar="S",
        help="seconds between tables, and the CPU percent's span (default: %(default)g)",
    )
    p.add_argument(
        "-s",
        "--sort",
        choices=tuple(TOP_FIELDS),
        default="cpu",
        help="the column to sort by, largest first (default: %(default)s)",
    )
    p.add_argument(
        "--once", action="store_true", help="print one table (its CPU %% over 0.2 s) and exit"
    )


def file(p: Parser) -> None:
    p.add_argument("action", choices=("push", "pull"), help="into the container, or out of it")
    _name(p)
    p.add_argument("source", metavar="SRC", help="push: a host path; pull: a path inside")
    p.add_argument("dest", metavar="DST", help="push: a path inside; pull: a host path")
    p.add_argument("-r", "--recursive", action="store_true", help="copy a directory")
    p.add_argument(
        "-p",
        "--parents",
        action="store_true",
        help="push: make the missing directories of DST (root's, 0755)",
    )
    p.add_argument("--uid", type=int, default=0, help="push: owner inside (default: %(default)s)")
    p.add_argument("--gid", type=int, default=0, help="push: group inside (default: %(default)s)")
    p.add_argument(
        "--mode", metavar="OCTAL", help="push: the mode of files (default: the source's)"
    )


def clone(p: Parser) -> None:
    completes(p.add_argument("source", metavar="SRC", help="the container to clone"), "containers")
    p.add_argument("target", metavar="DST", help="the new container's name")
    p.add_argument(
        "-s",
        "--snapshot",
        action="store_true",
        help="stand on a sealed layer of SRC instead of a copy",
    )


def move(p: Parser) -> None:
    _name(p)
    completes(
        p.add_argument(
            "--storage", metavar="POOL", required=True, help="overlay, dir or a btrfs pool's name"
        ),
        "pools",
    )


def rename(p: Parser) -> None:
    completes(p.add_argument("old", metavar="OLD", help="a stopped container"), "containers")
    p.add_argument("new", metavar="NEW", help="its new name")


def snapshot(p: Parser) -> None:
    p.usage = (
        "%(prog)s NAME [SNAP]\n       %(prog)s ls NAME\n       %(prog)s rm|restore NAME SNAP\n"
        "       %(prog)s [ls|rm|restore] --fleet FLEET [SNAP]"
    )
    words = p.add_argument(
        "words",
        nargs="*",
        metavar=f"[{'|'.join(SNAPSHOT_ACTIONS)}] NAME [SNAP]",
        help="NAME [SNAP] takes one (SNAP default: made up); ls, rm, restore as named",
    )
    completes(words, "snapshots")
    # FLEET [SNAP] both here: argparse takes no positional after an option once it has
    # filled `words` (`snapshot restore --fleet shop s1`).
    p.add_argument(
        "--fleet",
        nargs="+",
        metavar=("FLEET", "SNAP"),
        help="every container of the fleet, of one moment (all frozen together)",
    )


def _project(p: Parser) -> None:
    completes(
        p.add_argument(
            "-f",
            "--file",
            metavar="FILE",
            help="the project file, or its directory (default: ./lxpy.toml)",
        ),
        FILES,
    )


def _fleet(p: Parser, what: str) -> None:
    p.add_argument("--fleet", metavar="FLEET", help=what)


def _services(p: Parser, which: str) -> None:
    p.add_argument("services", nargs="*", metavar="SERVICE", help=f"{which} (default: all)")


def up(p: Parser) -> None:
    _project(p)
    _services(p, "containers of the project, with those they depend on")
    p.add_argument("--dry-run", action="store_true", help="show what would be done, do nothing")
    p.add_argument(
        "--recreate",
        action="append",
        default=[],
        metavar="SERVICE",
        help="destroy SERVICE's container and make it anew (repeatable; its data goes)",
    )


def down(p: Parser) -> None:
    _project(p)
    _fleet(p, "the fleet of that name, without its project file")
    _services(p, "containers of the fleet, with those depending on them")
    p.add_argument("--destroy", action="store_true", help="destroy them once stopped")
    p.add_argument("-y", "--yes", action="store_true", help="--destroy without asking")


def ps(p: Parser) -> None:
    _project(p)
    _fleet(p, "the fleet of that name, without its project file")
    p.add_argument(
        "--format", choices=("table", "json"), default="table", help="(default: %(default)s)"
    )


def fleet(p: Parser) -> None:
    _actions(p, "ls")


def export(p: Parser) -> None:
    _name(p)
    completes(
        p.add_argument("file", metavar="FILE", help="FILE.tar.zst (zstd), FILE.tar.gz or FILE.tar"),
        FILES,
    )
    p.add_argument("--snapshots", action="store_true", help="its snapshots too")


def import_(p: Parser) -> None:
    completes(
        p.add_argument("file", metavar="FILE", help="an export: .tar.zst, .tar.gz or .tar"), FILES
    )
    p.add_argument(
        "name", nargs="?", metavar="NAME", help="the new container's name (default: the archive's)"
    )
    completes(
        p.add_argument(
            "--storage",
            metavar="POOL",
            help="overlay, dir or a btrfs pool's name (default: the default pool if one "
            "is set, else dir)",
        ),
        "pools",
    )


def mount(p: Parser) -> None:
    p.usage = (
        "%(prog)s add NAME HOSTPATH PATH [--readonly]\n"
        "       %(prog)s rm NAME PATH\n"
        "       %(prog)s ls [NAME]"
    )
    p.add_argument("action", choices=("add", "rm", "ls"), help="what to do")
    _owner(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="add: HOSTPATH PATH; rm: PATH")
    p.add_argument("--readonly", action="store_true", help="add: read-only inside")


def remote(p: Parser) -> None:
    _actions(p, "ls", "add", "rm", "default")
    completes(
        p.add_argument("remote", nargs="?", metavar="NAME", help="the remote (default: show)"),
        "remotes",
    )
    p.add_argument(
        "address",
        nargs="?",
        metavar="[USER@]HOST[:PORT]",
        help="add: where ssh reaches it (user and port default: ssh's own)",
    )
    p.add_argument(
        "--root",
        dest="remote_root",
        metavar="DIR",
        help="add: the remote lxpy's --root (default: its default places)",
    )
    p.add_argument(
        "--command",
        metavar="CMD",
        help="add: the lxpy to run there, like /opt/lxpy/bin/lxpy or 'sudo -n lxpy' "
        "(default: lxpy)",
    )


def count_disk(p: Parser) -> None:
    _name(p)


def complete(p: Parser) -> None:
    p.add_argument(
        "kind", choices=LISTED, metavar="KIND", help=f"what to list: {', '.join(LISTED)}"
    )
    p.add_argument(
        "line",
        nargs="?",
        default="",
        metavar="LINE",
        help="the command line up to the cursor: its --root, its -t and a snapshot line's "
        "container decide what is listed (default: none)",
    )


def nothing(p: Parser) -> None:
    pass
