"""Making containers and looking at them: create, ls, info, top, and the TUI over them all."""

from __future__ import annotations

import sys

from lxpy import units
from lxpy.cli import output
from lxpy.errors import LxpyError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Any

    from lxpy.api import Api, Created, Disk, Request, Stats


def create(api: Api, args: Namespace) -> int:
    if args.dry_run:
        return _dry_run(api, _request(api, args))
    print(_create(api, args).name)
    return 0


def launch(api: Api, args: Namespace) -> int:
    """create, then start, then provisioning awaited, then how to get in (like `multipass
    launch`)."""
    created = _create(api, args)
    _, booted = api.start(created.name)
    if not booted:
        print(f"lxpy: {created.name}: init still booting", file=sys.stderr)
    if args.provision or args.cloud_init:
        _await_provisioning(api, created.name, args.timeout)
    user = api.login_user(created.name)
    print(f"{created.name} runs. Get in with:", file=sys.stderr)
    print(f"  lxpy shell {created.name}    (a login shell as {user})", file=sys.stderr)
    ssh = api.ssh_target(created.name)
    if ssh is not None and ssh.user != "root":
        print(f"  ssh {ssh.login}    (or lxpy ssh {created.name})", file=sys.stderr)
    print(created.name)
    return 0


def _await_provisioning(api: Api, name: str, timeout: float) -> None:
    """Until its user-data and scripts have run (their steps said on stderr as they come);
    LxpyError if one failed or they are not done within `timeout` seconds."""
    import time

    began = time.monotonic()
    shown = ""
    while True:
        status = api.provisioning(name)
        assert status is not None  # it was created with something to run
        if str(status) != shown and status.state == "running":
            print(f"provisioning {name}: {status.step}", file=sys.stderr)
        shown = str(status)
        if status.state == "done":
            print(f"provisioned {name} in {time.monotonic() - began:.1f} s", file=sys.stderr)
            return
        if status.state in ("failed", "unreadable") or time.monotonic() - began > timeout:
            raise LxpyError(
                f"{name}: provisioning {status if status.state != 'running' else 'timed out'}",
                hint=f"`lxpy console {name} --log` has its output",
            )
        time.sleep(0.5)


def _steps(provision: tuple[str, ...]) -> str:
    """What provisioning runs, for `info`: "cloud-init, 2 script(s)"."""
    scripts = [step for step in provision if step != "cloud-init"]
    cloud = ["cloud-init"] if len(scripts) < len(provision) else []
    return ", ".join([*cloud, *([f"{len(scripts)} script(s)"] if scripts else [])])


def _request(api: Api, args: Namespace) -> Request:
    from lxpy.api import Request

    parameters: dict[str, str] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        parameters[key.strip()] = value
    for key in ("release", "mirror", "packages", "user"):
        if getattr(args, key) is not None:
            parameters[key] = getattr(args, key)
    return Request(
        args.template,
        args.name,
        parameters,
        args.storage,
        _nics(args.network),
        _limits(api, args),
        args.privileged,
        args.allow_shift,
        provision=tuple(args.provision),
        ports=tuple(args.port),
        ssh=bool(args.user) if args.ssh is None else args.ssh,
        cloud_init=args.cloud_init,
    )


def _create(api: Api, args: Namespace) -> Created:
    from lxpy.api import PRIVILEGED_WARNING

    request = _request(api, args)
    progress = output.progress(args.quiet)
    created = api.create(request, progress)
    progress.close()
    if args.privileged:
        print(f"warning: {created.name} is {PRIVILEGED_WARNING}", file=sys.stderr)
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
    return created


def _limits(api: Api, args: Namespace) -> dict[str, Any]:
    """--memory 2G ... as config values, each checked like config.toml's."""
    from lxpy.api import LIMIT_KEYS

    given = {k: getattr(args, k) for k in LIMIT_KEYS if getattr(args, k) is not None}
    limits = api.limits_from_text(given, lambda key: f"--{key.replace('_', '-')}")
    output.warn(api.limit_warnings(limits))
    return limits


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


def _dry_run(api: Api, request: Request) -> int:
    resolved = api.dry_run(request)
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
    print(f"command:  {shlex.join(api.bootstrap_command(plan))}")
    if resolved.packages:
        print(f"layer:    {','.join(resolved.packages)} (installed with apt over the image)")
    return 0


def ls(api: Api, args: Namespace) -> int:
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
    output.table(rows)
    return 0


def info(api: Api, args: Namespace) -> int:
    from lxpy.api import PRIVILEGED_WARNING

    info = api.info(args.name, with_stats=True, refresh_disk=True)
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
    ssh = api.ssh_target(args.name) if info.config is not None else None
    if ssh is not None:
        print(f"SSH:      {ssh.login}")
    print(f"Rootfs:   {info.rootfs}")
    if info.config is not None:
        print(
            f"Init:     {' '.join(info.config.init.command)} ({info.config.init.kind}, "
            f"halts on {info.config.init.halt_signal})"
        )
        storage = info.config.storage
        where = f" on image {storage.image}" if storage.image else ""
        pool = f" in pool {storage.pool}" if storage.pool else f" (the {storage.kind} pool)"
        print(f"Storage:  {storage.kind}{pool}{where}")
        ports = ", ".join(p.summary for p in info.config.ports)
        print(f"Ports:    {ports or '-'}")
        mounts = ", ".join(
            f"{m.source} at {m.path}{' (read-only)' if m.readonly else ''}"
            for m in info.config.mounts
        )
        print(f"Mounts:   {mounts or '-'}")
        user = info.config.user
        if user.name:
            also = ", attach too" if user.default else ""
            print(f"User:     {user.name} (lxpy shell{also})")
        cfg = info.config
        autostart = f"yes, order {cfg.autostart_order}" if cfg.autostart else "no"
        delay = f", then {cfg.autostart_delay:g} s" if cfg.autostart and cfg.autostart_delay else ""
        print(f"Autostart: {autostart}{delay}")
        snaps = [snap.name for snap in api.snapshots(info.name)]
        print(f"Snapshots: {len(snaps)}{': ' + ', '.join(snaps) if snaps else ''}")
        release = info.config.parameters.get("release")
        if release:
            print(f"Release:  {release}")
        limits = ", ".join(f"{k}={v}" for k, v in info.config.limits.to_dict().items())
        print(f"Limits:   {limits or 'none'}")
        provisioning = api.provisioning(info.name)
        if provisioning is not None:
            print(f"Provision: {provisioning} ({_steps(info.config.provision)})")
        security = info.config.security
        if security.privileged:
            print(f"Security: {PRIVILEGED_WARNING}")
        else:
            print(f"Idmap:    {security.idmap or 'chosen at its first start'} (inside host count)")
        if security.allow:
            print(f"Syscalls: {', '.join(security.allow)} allowed past the seccomp filter")
        print(f"Disk:     {_disk(info.disk)}")
    if info.stats is not None:
        s = info.stats
        limit = f" of {units.size(s.memory_limit)}" if s.memory_limit else ""
        print(f"CPU:      {s.cpu_seconds or 0:.1f} s in all")
        print(f"Memory:   {units.size(s.memory)}{limit} (peak {units.size(s.memory_peak)})")
        print(f"Pids:     {s.pids if s.pids is not None else '-'}")
        print(f"Network:  received {units.size(s.rx_bytes)}, sent {units.size(s.tx_bytes)}")
        print(f"OOM kills: {s.oom_kills}")
    if info.config_error:
        print(f"Config:   {info.config_error}")
    return 0


def count_disk(api: Api, args: Namespace) -> int:
    api.count_disk(args.name)
    return 0


def _disk(disk: Disk | None) -> str:
    if disk is None:
        return "-"
    limit = "" if disk.limit is None else f" of {units.size(disk.limit)}"
    return f"{units.size(disk.used)}{limit} ({disk.origin})"


# The first table's sampling span: the CPU percent needs two samples, and --once should not
# wait for a whole interval to give them (lxc-top answers in ~30 ms without a CPU percent).
FIRST_SPAN = 0.2


def top(api: Api, args: Namespace) -> int:
    """Like lxc-top: a table every interval (CPU % over that interval); --once prints one,
    over the first FIRST_SPAN seconds, and exits."""
    import time

    from lxpy.cli.arguments import TOP_FIELDS

    earlier: dict[str, Stats] = {}
    first = True
    while True:
        now = {}
        disks: dict[str, Disk | None] = {}
        for name in api.names():
            try:
                sample = api.stats(name, earlier=earlier.get(name))
                if sample is not None:
                    now[name], disks[name] = sample, api.disk(name)
            except LxpyError:
                continue  # destroyed or broken meanwhile: gone from the next table
        if first:
            earlier, first = now, False
            time.sleep(min(args.interval, FIRST_SPAN))
            continue
        attr = TOP_FIELDS[args.sort]
        ordered = sorted(
            now.items(),
            key=lambda item: item[0] if attr == "name" else -(getattr(item[1], attr) or 0),
        )
        rows = [("NAME", "CPU%", "CPU S", "MEMORY", "LIMIT", "PIDS", "RX", "TX", "DISK", "UPTIME")]
        for name, s in ordered:
            disk = disks[name]
            used, limit = (disk.used, disk.limit) if disk else (None, None)
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
                    units.used_of(used, limit),
                    units.duration(s.uptime),
                )
            )
        if not args.once and sys.stdout.isatty():
            sys.stdout.write("\x1b[H\x1b[2J")
        output.table(rows)
        sys.stdout.flush()
        if args.once:
            return 0
        earlier = now
        time.sleep(args.interval)


def tui(api: Api, args: Namespace) -> int:
    """The other face, handed in by whoever runs the CLI (lxpy/__main__.py): the CLI never
    imports it."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("the TUI needs a terminal", hint="`lxpy ls` lists containers in scripts")
    if args.tui is None:
        raise UsageError("this program has no TUI", hint="`python -m lxpy` has")
    return int(args.tui(api, args.hosts))
