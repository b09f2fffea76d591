"""The one table of commands: what `lxpy --help` lists, what each `--help` says, the
arguments each takes and the function that runs it. Data only, importable on its own (man
pages and shell completion are made from it too).

A handler is named, not imported ("lifecycle.start": `start` in lxpy/cli/lifecycle.py):
a command loads only its own module.
"""

from __future__ import annotations

from lxpy.cli import arguments

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from lxpy.cli.arguments import Parser

# How a command runs on a remote host: its command line passed on (FORWARD; TERMINAL: on a
# pty when this one is on a terminal), its files carried over the connection (FILE), or not
# at all: it works on this host's files or this terminal (HERE), or it runs here and reaches
# the hosts --remote names itself (HOSTS: the TUI).
FORWARD, TERMINAL, FILE, HERE, HOSTS = "forward", "terminal", "file", "here", "hosts"


class Command:
    """One subcommand. `description` is kept as written (lines of at most 76 columns);
    each example is a command line and what it does. A hidden command serves lxpy itself
    (the completion scripts' lister, info's disk count): it is not listed (--help, man pages,
    completion). One `as_user` runs without root: completion runs as the user typing
    `sudo lxpy start <TAB>`. `remote`: how it runs for a container of another host (see
    lxpy/cli/forward.py)."""

    __slots__ = (
        "aliases",
        "arguments",
        "as_user",
        "description",
        "examples",
        "handler",
        "hidden",
        "name",
        "remote",
        "summary",
    )

    def __init__(
        self,
        name: str,
        summary: str,
        description: str,
        examples: tuple[tuple[str, str], ...],
        arguments: Callable[[Parser], None],
        handler: str,
        aliases: tuple[str, ...] = (),
        hidden: bool = False,
        as_user: bool = False,
        remote: str = FORWARD,
    ) -> None:
        # What a person reads (--help, man pages), then what runs it.
        self.name, self.aliases, self.hidden = name, aliases, hidden
        self.summary, self.description, self.examples = summary, description, examples
        self.arguments, self.handler, self.as_user = arguments, handler, as_user
        self.remote = remote


COMMANDS: tuple[Command, ...] = (
    Command(
        "create",
        "create a container from a template",
        """\
Build a container from a template (default busybox) and print its name;
without NAME, a readable unique one is made up. A Debian-style template
bootstraps into the image cache once; each container then stands on that
image (or copies it, --storage dir; or is a snapshot of it in a btrfs
pool, --storage POOL). Limits given here are checked like config.toml's.""",
        (
            ("lxpy create", "a busybox container with a made-up name"),
            ("lxpy create web -t debian -r trixie", "Debian trixie, named web"),
            ("lxpy create db -t debian --memory 2G --cpus 1.5", "with limits"),
        ),
        arguments.create,
        "containers.create",
    ),
    Command(
        "launch",
        "create and start a container, and say how to get in",
        """\
create, then start: one command for a running box (what `multipass
launch` and `vagrant up` give), which then says how to get in. It takes
every option of `lxpy create`; the start waits for systemd's boot.""",
        (
            ("lxpy launch dev -t debian --user alice", "a Debian dev box for alice"),
            ("lxpy launch -t debian", "a running Debian box with a made-up name"),
        ),
        arguments.launch,
        "containers.launch",
    ),
    Command(
        "start",
        "start containers",
        """\
Start each container: its monitor takes over, init runs as PID 1 in new
namespaces. For an init that reports its boot (systemd), wait for it to
finish. On a failure during setup, the reason is printed and nothing is left
behind.""",
        (
            ("lxpy start web", "start web and wait for its boot"),
            ("lxpy start --no-wait web db", "return as soon as both inits run"),
        ),
        arguments.start,
        "lifecycle.start",
    ),
    Command(
        "stop",
        "stop containers cleanly through their init",
        """\
Send each container's init the halt signal of its kind (init.halt_signal),
wait for a clean shutdown, then SIGKILL every process still in its cgroup. A
frozen container is thawed first.""",
        (
            ("lxpy stop web", "a clean shutdown, killed after 30 s"),
            ("lxpy stop -t 120 db", "give a slow database two minutes"),
            ("lxpy stop -k web db", "kill both at once"),
        ),
        arguments.stop,
        "lifecycle.stop",
    ),
    Command(
        "wait",
        "wait until a container is in a state",
        """\
Return once the container is in one of the states given, as ls shows them
(RUNNING, STOPPED, FROZEN, STARTING, STOPPING): at once if it is already,
like lxc-wait. With --timeout, fail after that many seconds, naming the
state it is in. For scripts: start in one place, wait in another.""",
        (
            ("lxpy wait web -s RUNNING", "until web runs"),
            ("lxpy wait web -s STOPPED -t 60", "until it stopped, at most a minute"),
            ("lxpy wait web -s running -s frozen", "either state"),
        ),
        arguments.wait,
        "lifecycle.wait",
    ),
    Command(
        "events",
        "follow what happens to the containers",
        """\
Print every event of this root's containers from now on, one a line, until
interrupted, like lxc-monitor: created, starting, running, oom (a process
the kernel killed for the container's memory limit, with the count of such
kills since the start), rebooted, frozen, thawed, snapshot (with its name),
stopping, stopped, destroyed. Events come from every command and every
container's monitor, whoever ran them.""",
        (
            ("lxpy events", "time, container and event, as they happen"),
            ("lxpy events -f json", "one JSON object a line, for scripts"),
        ),
        arguments.events,
        "lifecycle.events",
    ),
    Command(
        "restart",
        "stop, then start",
        """\
Stop each container cleanly (if it runs), then start it again with a new
init.""",
        (
            ("lxpy restart web", "stop and start web"),
            ("lxpy restart -t 5 web db", "kill what has not stopped after 5 s"),
        ),
        arguments.restart,
        "lifecycle.restart",
    ),
    Command(
        "autostart",
        "start the autostart containers in order (--stop: stop them)",
        """\
Start every container whose config has autostart = true and is not running,
by autostart_order then name, waiting autostart_delay seconds after each;
--stop stops the running ones in reverse order. contrib/lxpy.service runs it
at boot and shutdown.""",
        (
            ("lxpy autostart --list", "print the start order"),
            ("lxpy autostart", "start them, as at boot"),
            ("lxpy autostart --stop -t 60", "stop them, as at shutdown"),
        ),
        arguments.autostart,
        "lifecycle.autostart",
    ),
    Command(
        "destroy",
        "delete containers",
        """\
Delete each container: its config, its files and its snapshots. A running
one is refused without --force, and one that --snapshot clones stand on
until they go. The delete never crosses a mount point: shared host folders
stay intact.""",
        (
            ("lxpy destroy web", "delete a stopped container"),
            ("lxpy destroy -f web db", "stop them first if they run"),
        ),
        arguments.destroy,
        "lifecycle.destroy",
    ),
    Command(
        "freeze",
        "freeze every process of containers in place",
        """\
Stop every process of each container where it is (the cgroup freezer),
without a signal; `lxpy unfreeze` lets them run on, and `lxpy stop` works on
a frozen container too.""",
        (
            ("lxpy freeze web", "hold web still"),
            ("lxpy freeze web db", "both"),
        ),
        arguments.names,
        "lifecycle.freeze",
    ),
    Command(
        "unfreeze",
        "let frozen containers run on",
        """\
Let every process of each frozen container run on where it stopped.""",
        (
            ("lxpy unfreeze web", "web runs on"),
            ("lxpy unfreeze web db", "both"),
        ),
        arguments.names,
        "lifecycle.unfreeze",
    ),
    Command(
        "ls",
        "list containers",
        """\
List every container with its state (RUNNING, STOPPED, FROZEN, STARTING,
STOPPING), init's host pid, addresses, template, uptime and creation time.
JSON adds each running container's figures and every container's disk
figure: its own bytes and its limit, read without walking a tree (see
info); null for a container never counted.""",
        (
            ("lxpy ls", "a table"),
            ("lxpy ls -f json", "JSON, with figures and disk use"),
        ),
        arguments.ls,
        "containers.ls",
        aliases=("list",),
    ),
    Command(
        "info",
        "show one container",
        """\
One container: state, pid, template, addresses, rootfs, init, storage and
its pool, port forwards, shared folders, its own user, autostart,
snapshots, limits, provisioning, disk use and, while it runs, its CPU,
memory, pids and network figures.

Disk use is the container's own bytes and its limit. In a btrfs pool they
are its subvolume's blocks from its quota group, live. For overlay and dir
storage, info shows the last count of its own layer (the overlay's upper
layer, or the whole rootfs) with its time, taken at create, stop, snapshot,
restore or clone, and has it counted again in the background (never
waiting for a walk): the next info, ls, top and the TUI show the new one.""",
        (
            ("lxpy info web", "as text"),
            ("lxpy info web -f json", "as JSON, with the whole config"),
        ),
        arguments.info,
        "containers.info",
    ),
    Command(
        "attach",
        "run a command (default: a login shell) inside",
        """\
Run CMD (default: a login shell found in the container) inside a running
container, in its cgroup and all of its namespaces. With a terminal on
stdin, a pty from the container's devpts is relayed; otherwise stdin, stdout
and stderr go through pipes. The environment is clean: TERM is passed on,
PATH is the container's. The exit status is CMD's. It runs as root, or as
the container's own user (`lxpy shell`'s) when its config says
`[user] default = true`.""",
        (
            ("lxpy attach web", "a login shell as root"),
            ("lxpy attach web -- apt-get update", "one command"),
            ("lxpy attach web -u app --cwd /srv -- ./run", "as app, in /srv"),
        ),
        arguments.attach,
        "inside.attach",
        remote=TERMINAL,
    ),
    Command(
        "shell",
        "a login shell (or CMD) as the container's own user",
        """\
A login shell in a running container as its own user: the one
`create --user` made (recorded as [user] name in its config), else root.
-- CMD runs a command as that user instead; -u picks another user.""",
        (
            ("lxpy shell dev", "a login shell as dev's user"),
            ("lxpy shell dev -- git status", "one command as that user"),
            ("lxpy shell dev -u root", "as root"),
        ),
        arguments.shell,
        "inside.shell",
        remote=TERMINAL,
    ),
    Command(
        "ssh",
        "ssh to a container by its name, as its own user",
        """\
Run ssh to NAME.DOMAIN (its first network's domain, lxpy by default) as
the container's own user, else root, with -u another. It runs as the
host user whose public keys `create --user` copied in (the account of that
name, else the one who ran sudo), with their keys and ssh config; a
machine's host keys are remembered by its uuid, accepted on first use.
The container needs sshd: `create --ssh`, the default with --user.""",
        (
            ("lxpy ssh dev", "a login shell over ssh"),
            ("lxpy ssh dev -- git -C src pull", "one command"),
            ("lxpy ssh dev -u root", "as root (with the same keys)"),
        ),
        arguments.ssh,
        "inside.ssh",
        remote=TERMINAL,
    ),
    Command(
        "ssh-config",
        "print ssh_config Host entries for the running containers",
        """\
Print a Host block (NAME.DOMAIN and NAME, its address, its user) for
each running container with its own user and sshd, for ~/.ssh/config to
Include: editors' remote plugins and scp then know them by name.""",
        (("lxpy ssh-config > ~/.ssh/lxpy.conf", "then `Include lxpy.conf` in ~/.ssh/config"),),
        arguments.nothing,
        "inside.ssh_config",
    ),
    Command(
        "console",
        "connect to the console (Ctrl-a q detaches)",
        """\
Connect to a running container's console: the last 128 KiB are replayed,
then it goes live. Ctrl-a q detaches, Ctrl-a a sends a literal Ctrl-a. --log
prints the buffer (or a stopped container's console log) and exits.

A login prompt there (Debian, Ubuntu) wants root's password, and root has
none until one is set: `lxpy attach NAME -- passwd` sets it, and
`lxpy attach NAME` gives a root shell without one.""",
        (
            ("lxpy console web", "the live console"),
            ("lxpy console web --log", "what it printed, then exit"),
            ("lxpy attach web -- passwd", "set root's password for the console's login"),
        ),
        arguments.console,
        "inside.console",
        remote=TERMINAL,
    ),
    Command(
        "templates",
        "list templates, or show one's parameters",
        """\
ls (the default) lists the templates with their inits, bootstrap method,
directory and description; they come from lxpy itself, /etc/lxpy/templates
and ~/.config/lxpy/templates (the later directory wins for the same name).
show prints one template's bootstrap method, inits and parameters.""",
        (
            ("lxpy templates", "every template"),
            ("lxpy templates show debian", "debian's parameters, types and defaults"),
        ),
        arguments.templates,
        "images.templates",
    ),
    Command(
        "cache",
        "list, refresh or remove cached images",
        """\
The image cache. ls (the default) lists each build with its release,
architecture, package count, size, build time and users, and under it its
package layers (what --packages installed over it) with their packages.
refresh bootstraps a new build of each KEY (every key when none is given)
and installs its package layers again over it, then removes older builds
no container uses. rm removes every build of KEY, one build (with its
layers) or one layer KEY/BUILD/LAYER; it refuses while containers use any
of it.""",
        (
            ("lxpy cache", "the cached images"),
            ("lxpy cache refresh", "rebuild every image with today's packages"),
            ("lxpy cache rm debian-trixie-amd64-minbase-0123abcd4567", "remove an image's builds"),
        ),
        arguments.cache,
        "images.cache",
    ),
    Command(
        "network",
        "list, create, show or remove networks",
        """\
Managed networks: a bridge with the first address of its subnet, NAT, and a
dnsmasq for DHCP and DNS (container.domain). show lists the kept addresses
and leases; rm refuses while running containers use the network. The default
network is made when first needed.""",
        (
            ("lxpy network", "every network"),
            ("lxpy network create back --subnet 10.20.0.0/24", "a second network"),
            ("lxpy network show back", "its addresses and leases"),
        ),
        arguments.network,
        "network.network",
    ),
    Command(
        "storage",
        "list, create, show or remove storage pools",
        """\
Storage pools besides the state root (the built-in pools overlay and dir):
btrfs on a sparse loop file lxpy makes (--size) or on an existing btrfs
mount (--source), with quotas on. `lxpy create --storage POOL` puts a
container in it: a subvolume, snapshotted, restored and cloned at once. A
loop pool is mounted again whenever a command needs it after a reboot; rm
refuses while containers use the pool, and leaves no loop device, mount or
file. default NAME makes it the pool of containers created without
--storage (kept in settings.toml; without NAME, prints it).""",
        (
            ("lxpy storage", "every pool, its size, use and room"),
            ("lxpy storage create fast --size 50G", "a btrfs pool on a 50G sparse file"),
            ("lxpy storage default fast", "new containers go to fast"),
        ),
        arguments.storage,
        "storage.storage",
    ),
    Command(
        "port",
        "forward host ports to a container: add, rm, ls",
        """\
Forward a host port to the container's eth0 address while the container
runs; saved in config.toml. It listens on ADDR: 0.0.0.0 (every IPv4 address:
the host's loopback and other machines alike), [::] (every IPv6 one), or
one address, like 127.0.0.1 (the host alone) or [::1]. Without ADDR:
127.0.0.1 for a dev box (created with --user), else 0.0.0.0. A port taken on
that address, or on every address, is refused and nothing is saved.""",
        (
            ("lxpy port add web 8080:80", "host port 8080 to web's port 80"),
            ("lxpy port add web 127.0.0.1:5353:53/udp", "from the host alone"),
            ("lxpy port rm web 8080", "stop forwarding it"),
        ),
        arguments.port,
        "network.port",
    ),
    Command(
        "config",
        "show, get, set, unset or edit a container's config",
        """\
Read or change config.toml by dotted keys. The whole file is checked before
it is written; edit opens $EDITOR on a copy and keeps the old file if the
new one is invalid. Limits apply at once to a running container, other
changes at its next start.""",
        (
            ("lxpy config show web", "the whole file"),
            ("lxpy config set web limits.memory=1G autostart=true", "two keys"),
            ("lxpy config unset web limits.memory", "back to the default"),
        ),
        arguments.config,
        "config.config",
        remote=TERMINAL,
    ),
    Command(
        "top",
        "live CPU, memory, pids and traffic of the running containers",
        """\
Like lxc-top: a table of the running containers every interval, with CPU
percent (over that interval) and seconds, memory and limit, pids, network
bytes, disk use (USED/LIMIT, as info reads it, without a walk) and uptime.""",
        (
            ("lxpy top", "every 2 s, busiest first"),
            ("lxpy top -s memory -i 5", "largest memory first, every 5 s"),
            ("lxpy top --once", "one table, for scripts"),
        ),
        arguments.top,
        "containers.top",
        remote=TERMINAL,
    ),
    Command(
        "file",
        "copy files into (push) or out of (pull) a container",
        """\
Copy a file (a tree with -r) into or out of a container, running or stopped;
into DST when it is a directory. Paths inside are resolved inside the
container: a symlink there never leads to the host. Pushed files belong to
root (or --uid/--gid) and keep the source's mode (or --mode).""",
        (
            ("lxpy file push web site.conf /etc/nginx/conf.d/", "one file in"),
            ("lxpy file pull -r web /var/log/nginx logs", "a directory out"),
        ),
        arguments.file,
        "inside.file",
        remote=FILE,
    ),
    Command(
        "clone",
        "a new container from another (--snapshot: on its layers)",
        """\
A new container from SRC with its own hostname, uuid, machine-id, MAC and
address. --snapshot makes it stand on a sealed layer of SRC (instant), which
SRC then cannot be destroyed or renamed without.""",
        (
            ("lxpy clone web web2", "a full copy"),
            ("lxpy clone -s web web-test", "an instant clone on web's layers"),
        ),
        arguments.clone,
        "storage.clone",
    ),
    Command(
        "rename",
        "give a stopped container a new name",
        """\
Rename a stopped container; it keeps its address and snapshots.""",
        (("lxpy rename web frontend", "web is called frontend from now on"),),
        arguments.rename,
        "storage.rename",
    ),
    Command(
        "move",
        "move a stopped container to another storage pool",
        """\
Move a stopped container, with its snapshots, to another storage pool:
overlay, dir or a btrfs pool. Files keep their owners, modes, xattrs and
file capabilities. From dir to overlay it costs a rename; into a btrfs pool
its rootfs becomes a subvolume and each snapshot a read-only one; out of
one, each snapshot becomes a layer. A disk limit needs a btrfs pool.""",
        (
            ("lxpy move web --storage fast", "web and its snapshots into the pool fast"),
            ("lxpy move web --storage overlay", "back into the state root"),
        ),
        arguments.move,
        "storage.move",
    ),
    Command(
        "export",
        "write a container (and its snapshots) to one archive",
        """\
Write a container (config, whole tree with numeric owners, modes, hard
links, xattrs and file capabilities) to an archive, compressed by its name:
.tar.zst, .tar.gz or .tar. A running container is paused while its files are
read.""",
        (
            ("lxpy export web web.tar.zst", "web in one file"),
            ("lxpy export --snapshots web web.tar.gz", "with its snapshots"),
        ),
        arguments.export,
        "storage.export",
        remote=HERE,
    ),
    Command(
        "mount",
        "share host folders with a container: add, rm, ls",
        """\
Share a host folder at PATH inside: saved in config.toml, mounted at each
start and at once into a running container, only in its own mount namespace
(a destroy never touches the files).""",
        (
            ("lxpy mount add web /srv/www /var/www", "share /srv/www"),
            ("lxpy mount add web /etc/ssl/certs /certs --readonly", "read-only"),
            ("lxpy mount rm web /var/www", "stop sharing it"),
        ),
        arguments.mount,
        "inside.mount",
    ),
    Command(
        "import",
        "a new container from an export",
        """\
Read an export back as a new container (named as in the archive, or NAME)
in the storage pool --storage (default: the default pool if one is set,
else dir). Paths outside its trees, links it did not bring and device nodes
outside /dev are refused, and a refused import leaves nothing behind.""",
        (
            ("lxpy import web.tar.zst", "as the container it was"),
            ("lxpy import web.tar.zst web-copy", "under another name"),
            ("lxpy import web.tar.zst --storage fast", "into the btrfs pool fast"),
        ),
        arguments.import_,
        "storage.import_",
        remote=HERE,
    ),
    Command(
        "snapshot",
        "take, list, remove or restore snapshots",
        """\
`lxpy snapshot NAME [SNAP]` takes a snapshot of NAME (named SNAP, or made
up): an overlay layer, a rename for a stopped container, a copy made while
it is paused for a running one. ls lists them, rm removes one, restore
brings one back (stopped only: its rootfs and its config). A container named
like an action is taken with `snapshot NAME SNAP`.""",
        (
            ("lxpy snapshot web before-upgrade", "take a snapshot"),
            ("lxpy snapshot ls web", "web's snapshots"),
            ("lxpy snapshot restore web before-upgrade", "go back to it"),
        ),
        arguments.snapshot,
        "storage.snapshot",
    ),
    Command(
        "up",
        "make, provision and start a project's containers in dependency order",
        """\
Bring up the fleet a project file declares (lxpy.toml in the current
directory, or -f FILE): make the containers that are missing, push their
files, run their provisioning once, start each after those it depends_on
are ready, and publish their ports; containers independent of each other
go in parallel. Run again, it converges: what is unchanged is left alone, a
changed file is pushed again, added packages are installed, a changed limit
applies live. A changed template or release needs --recreate SERVICE,
which destroys that container first: up never does it by itself.""",
        (
            ("lxpy up", "the fleet of ./lxpy.toml, up"),
            ("lxpy up --dry-run", "what it would do"),
            ("lxpy up app --recreate app", "app made anew, with what it depends on up"),
        ),
        arguments.up,
        "fleets.up",
        remote=HERE,
    ),
    Command(
        "down",
        "stop a fleet's containers in reverse dependency order",
        """\
Stop the fleet's containers (or those named, with those depending on them),
each after every container that depends on it. --destroy removes them, and
the network up made for the fleet, after a prompt (-y: none). The fleet is
the project file's (lxpy.toml here, or -f FILE), or --fleet NAME's.""",
        (
            ("lxpy down", "stop the fleet of ./lxpy.toml"),
            ("lxpy down --fleet shop --destroy -y", "remove the fleet shop"),
        ),
        arguments.down,
        "fleets.down",
        remote=HERE,
    ),
    Command(
        "ps",
        "list a fleet's containers with their state, address and ports",
        """\
One line per container of the fleet (the project file's, or --fleet NAME's):
its name in the project, the container, its state, its IPv4 address and the
host ports forwarded to it.""",
        (
            ("lxpy ps", "the fleet of ./lxpy.toml"),
            ("lxpy ps --fleet shop", "the fleet shop, from anywhere"),
        ),
        arguments.ps,
        "fleets.ps",
    ),
    Command(
        "fleet",
        "list the fleets on this host",
        """\
`lxpy fleet ls` lists the fleets `lxpy up` made on this host: their name,
project file, network and how many of their containers run.""",
        (("lxpy fleet ls", "every fleet"),),
        arguments.fleet,
        "fleets.fleet",
    ),
    Command(
        "remote",
        "the other hosts this one reaches over SSH",
        """\
Name another host's lxpy, reached with ssh as the host's own ssh config,
keys and known_hosts allow. Then any command takes HOST:NAME for a
container there, or --remote HOST (`ls --remote all`: every host). One SSH
connection per host is kept open for ten idle minutes. `default` sends the
commands naming no host there (`remote default local`: back here).""",
        (
            ("lxpy remote add build1 root@build1.example", "a host, reached as root"),
            ("lxpy start build1:ci", "start its container ci"),
            ("lxpy ls --remote all", "the containers of every host"),
        ),
        arguments.remote,
        "remotes.remote",
        remote=HERE,
    ),
    Command(
        "tui",
        "the fleet app (also: lxpy alone, on a terminal)",
        """\
A live table of every container, the selected one's config, addresses, CPU
and memory history and console tail, the host's CPU, memory and load, and
keys for every action (? lists them; ctrl+p opens the command palette).
With remotes (`lxpy remote`), every host's containers too, under a HOST
column, each host followed through its events over one SSH connection;
--remote NAME shows this host and that one, --remote local this host alone.
Its keys, attach shell and refresh intervals are set in tui.toml
(/etc/lxpy, or ROOT/etc).""",
        (
            ("lxpy", "the fleet app, on a terminal"),
            ("lxpy --root /tmp/lab tui", "over another root's containers"),
            ("lxpy tui --remote build1", "this host's containers and build1's"),
        ),
        arguments.nothing,
        "containers.tui",
        remote=HOSTS,
    ),
    Command(
        "check",
        "what this host offers and what lxpy needs",
        """\
Check the kernel, the namespaces, /etc/subuid and /etc/subgid, the cgroup
layout and controllers, overlayfs, btrfs, idmapped mounts (tried for real on
the state dir's filesystem and on tmpfs), seccomp and the programs lxpy runs
(like lxc-checkconfig). Each missing piece comes with the line that fixes
it. The exit status is 1 when something lxpy needs is missing; a missing
piece that only one feature needs is reported with that feature.""",
        (
            ("lxpy check", "the report"),
            ("lxpy check -f json", "the same as JSON, one object per fact"),
        ),
        arguments.check,
        "host.check",
    ),
    Command(
        "count-disk",
        "count a container's disk use again (info runs it in the background)",
        """\
Walk the container's own layer (overlay and dir storage; a btrfs pool's
quota counts without a walk) and keep the figure that ls, info and the
TUI show. `lxpy info` starts it in the background, so that info itself
never waits for a walk; the next reader sees the new count.""",
        (("lxpy count-disk web", "web's disk figure, counted now"),),
        arguments.count_disk,
        "containers.count_disk",
        remote=HERE,
        hidden=True,
    ),
    Command(
        "complete",
        "list values for the shell completion scripts",
        """\
For the completion scripts in contrib/completion: print the values of KIND
one a line: containers, templates, the releases of the template that LINE
names with -t (default busybox), networks, or what comes next on a
`lxpy snapshot` line (an action, a container, then its snapshots). LINE, the
command line up to the cursor, also gives --root. Prints nothing rather
than an error.""",
        (
            ("lxpy complete containers", "every container's name"),
            ("lxpy complete releases 'lxpy create -t debian -r '", "debian's releases"),
            ("lxpy complete snapshots 'lxpy snapshot rm web '", "web's snapshots"),
        ),
        arguments.complete,
        "values.complete",
        remote=HERE,
        hidden=True,
        as_user=True,
    ),
)


def find(word: str) -> Command | None:
    """The command named (or aliased) `word`."""
    for command in COMMANDS:
        if word == command.name or word in command.aliases:
            return command
    return None


def suggestions(word: str) -> list[str]:
    """The commands closest to a mistyped `word`, best first."""
    import difflib

    words = [spelling for c in COMMANDS if not c.hidden for spelling in (c.name, *c.aliases)]
    return difflib.get_close_matches(word, words, n=3, cutoff=0.6)
