"""A container's life, for one or several names at once: start, stop, restart, autostart,
freeze, unfreeze, destroy."""

from __future__ import annotations

import sys
from collections.abc import Callable

from lxpy.cli import output
from lxpy.errors import LxpyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from lxpy.api import Api


def each(args: Namespace, action: Callable[[str], object], verb: str) -> int:
    """Run `action` on every name; report each failure on its own line, keep going."""
    names = args.names
    failed = 0
    for name in names:
        try:
            action(name)
        except LxpyError as e:
            if args.debug:
                raise
            output.error(e)
            failed += 1
    if failed and len(names) > 1:
        print(f"lxpy: {verb}: {failed} of {len(names)} failed", file=sys.stderr)
    return 1 if failed else 0


def start(api: Api, args: Namespace) -> int:
    def start(name: str) -> None:
        _, booted = api.start(name, 0 if args.no_wait else args.wait)
        if not booted and not args.no_wait and api.info(name).state == "RUNNING":
            print(f"lxpy: {name}: init still booting after {args.wait:g} s", file=sys.stderr)

    return each(args, start, "start")


def stop(api: Api, args: Namespace) -> int:
    return each(args, lambda n: api.stop(n, args.timeout, args.kill), "stop")


def wait(api: Api, args: Namespace) -> int:
    from lxpy.api import State

    api.wait(args.name, {State(s) for s in args.state}, args.timeout)
    return 0


def events(api: Api, args: Namespace) -> int:
    """Like lxc-monitor: every event of the root from now on, one a line, until interrupted
    or until whatever reads them has gone (an SSH client's end of a remote's stream)."""
    import json
    import select
    import time

    # No event asked for: poll() still reports a closed reader (POLLERR on a pipe, POLLHUP on
    # a socket or a hung-up terminal), never a file's everlasting readiness.
    stdout = select.poll()
    stdout.register(sys.stdout.fileno(), 0)
    for event in api.events(gone=lambda: bool(stdout.poll(0))):
        if args.format == "json":
            print(json.dumps(event), flush=True)
            continue
        when = time.strftime("%H:%M:%S", time.localtime(event["time"]))
        detail = f" {event['detail']}" if event.get("detail") else ""
        print(f"{when}  {event['container']}  {event['event']}{detail}", flush=True)
    return 0


def restart(api: Api, args: Namespace) -> int:
    return each(args, lambda n: api.restart(n, args.timeout), "restart")


def autostart(api: Api, args: Namespace) -> int:
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
        return each(args, lambda name: api.stop(name, args.timeout), "stop")
    delays = dict(plan)
    args.names = [name for name, _ in plan if api.info(name).state == "STOPPED"]

    def start(name: str) -> None:
        api.start(name, args.timeout)
        print(f"started {name}")
        if delays[name] and name != args.names[-1]:
            time.sleep(delays[name])

    return each(args, start, "start")


def freeze(api: Api, args: Namespace) -> int:
    return each(args, api.freeze, "freeze")


def unfreeze(api: Api, args: Namespace) -> int:
    return each(args, api.unfreeze, "unfreeze")


def destroy(api: Api, args: Namespace) -> int:
    return each(args, lambda n: api.destroy(n, args.force), "destroy")
