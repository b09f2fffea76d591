"""A container's files as a whole: clone, rename, snapshot, export, import."""

from __future__ import annotations

import sys

from lxpy import units
from lxpy.cli import output
from lxpy.cli.arguments import SNAPSHOT_ACTIONS
from lxpy.errors import UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from lxpy.api import Api


def clone(api: Api, args: Namespace) -> int:
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


def move(api: Api, args: Namespace) -> int:
    import time

    began = time.monotonic()
    api.move(args.name, args.storage)
    print(
        f"moved {args.name} to storage pool {args.storage} in {time.monotonic() - began:.2f} s",
        file=sys.stderr,
    )
    return 0


def rename(api: Api, args: Namespace) -> int:
    api.rename(args.old, args.new)
    return 0


def snapshot(api: Api, args: Namespace) -> int:
    """`snapshot NAME [SNAP]` takes one; `snapshot ls|rm|restore NAME ...` (a container named
    like an action is taken with `snapshot NAME SNAP` or `snapshot ls ls`)."""
    if args.fleet:
        return _fleet_snapshot(api, args.fleet[0], [*args.words, *args.fleet[1:]])
    words = args.words
    if not words:
        raise UsageError("usage: lxpy snapshot NAME [SNAP] (or --fleet FLEET [SNAP])")
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
        output.table(rows)
    elif action == "rm":
        api.remove_snapshot(rest[0], rest[1])
    elif action == "restore":
        api.restore(rest[0], rest[1])
    else:
        taken = api.snapshot(rest[0], rest[1] if len(rest) > 1 else None)
        if taken.frozen is not None:
            print(f"{rest[0]} was frozen for {taken.frozen * 1000:.0f} ms", file=sys.stderr)
        print(taken.name)
    return 0


def _fleet_snapshot(api: Api, fleet: str, words: list[str]) -> int:
    """`snapshot --fleet FLEET [SNAP]`, and `snapshot ls|rm|restore --fleet FLEET [SNAP]`."""
    action = words[0] if words and words[0] in SNAPSHOT_ACTIONS else "take"
    rest = words if action == "take" else words[1:]
    if len(rest) > 1 or (action in ("rm", "restore") and not rest) or (action == "ls" and rest):
        raise UsageError(
            "usage: lxpy snapshot --fleet FLEET [SNAP] | snapshot ls --fleet FLEET | "
            "snapshot rm|restore --fleet FLEET SNAP"
        )
    from lxpy.fleets import snapshots

    if action == "ls":
        for snap in snapshots.common(api, fleet):
            print(snap)
    elif action == "rm":
        snapshots.remove(api, fleet, rest[0])
    elif action == "restore":
        snapshots.restore(api, fleet, rest[0], lambda who, what: print(who, what, file=sys.stderr))
    else:
        snap, frozen = snapshots.take(api, fleet, rest[0] if rest else None)
        if frozen is not None:
            print(f"fleet {fleet} was frozen for {frozen * 1000:.0f} ms", file=sys.stderr)
        print(snap)
    return 0


def export(api: Api, args: Namespace) -> int:
    counted = api.export(args.name, args.file, args.snapshots, output.transfer_progress("exported"))
    output.report_transfer("exported", args.name, counted, f"to {args.file}")
    return 0


def import_(api: Api, args: Namespace) -> int:
    name, counted = api.import_(
        args.file, args.name, output.transfer_progress("imported"), args.storage
    )
    output.report_transfer("imported", name, counted, f"from {args.file}")
    print(name)
    return 0


def storage(api: Api, args: Namespace) -> int:
    if args.action == "ls":
        rows = [("NAME", "DRIVER", "SOURCE", "SIZE", "USED", "FREE")]
        default = api.default_pool()
        for u in api.pools():
            source = u.pool.source or f"loop file, {units.size(u.pool.size)}"
            rows.append(
                (
                    f"{u.pool.name} (default)" if u.pool.name == default else u.pool.name,
                    u.pool.driver,
                    source,
                    units.size(u.size),
                    units.size(u.used),
                    units.size(u.free),
                )
            )
        output.table(rows)
        return 0
    if args.action == "default" and not args.pool:
        print(api.default_pool())
        return 0
    if not args.pool:
        raise UsageError(f"`lxpy storage {args.action}` needs a pool name")
    if args.action == "create":
        made = api.create_pool(args.pool, args.size, args.source)
        print(f"{made.pool.name} {made.where}")
        return 0
    if args.action == "rm":
        api.remove_pool(args.pool)
        return 0
    if args.action == "default":
        api.set_default_pool(args.pool)
        return 0
    u = api.pool(args.pool)
    print(f"Name:     {u.pool.name}")
    print(f"Driver:   {u.pool.driver}")
    if u.pool.source:
        print(f"Source:   {u.pool.source}")
    else:
        print(f"Source:   a loop file of {units.size(u.pool.size)} (sparse), mounted at {u.where}")
    print(f"Size:     {units.size(u.size)}")
    print(f"Used:     {units.size(u.used)}")
    print(f"Free:     {units.size(u.free)}")
    print(f"Used by:  {', '.join(api.pool_users(args.pool)) or 'nothing'}")
    return 0
