"""Fleets from project files: up, down, ps, fleet ls, and snapshots of a whole fleet."""

from __future__ import annotations

import sys
import threading

from lxpy.cli import output
from lxpy.errors import StepFailed, UsageError
from lxpy.fleets import down as fleet_down
from lxpy.fleets import plan as fleet_plan
from lxpy.fleets import project as fleet_project
from lxpy.fleets import record as fleet_record
from lxpy.fleets import run as fleet_run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable
    from typing import Any

    from lxpy.api import Api, ContainerInfo
    from lxpy.fleets.plan import Plan
    from lxpy.fleets.record import Record


def up(api: Api, args: Namespace) -> int:
    project = fleet_project.read(args.file)
    plan = fleet_plan.make(api, project, args.services, args.recreate)
    for note in plan.notes:
        print(f"lxpy: note: {note}", file=sys.stderr)
    for service_plan in plan.services:
        for note in service_plan.notes:
            print(f"lxpy: note: {service_plan.service.container}: {note}", file=sys.stderr)
    if args.dry_run:
        _show_plan(plan)
        return 0
    if not plan.changes:
        print(f"fleet {project.name}: nothing to change", file=sys.stderr)
    else:
        made = [p.service.name for p in plan.services if p.creates]
        changed = [p.service.name for p in plan.services if p.steps and not p.creates]
        what = [
            f"{verb} {', '.join(names)}"
            for verb, names in (("make", made), ("change", changed))
            if names
        ]
        print(f"fleet {project.name}: {'; '.join(what) or 'network'}", file=sys.stderr)
        try:
            fleet_run.up(api, plan, _sayer([p.service.container for p in plan.services]))
        except StepFailed as e:
            if e.output:
                print("\n".join(f"  | {line}" for line in e.output.splitlines()), file=sys.stderr)
            raise
    _table(api, fleet_record.load(api.paths, project.name))
    return 0


def _show_plan(plan: Plan) -> None:
    if plan.network is not None:
        print(f"{plan.project.name}:\n  {plan.network}")
    for service_plan in plan.services:
        steps = service_plan.steps
        print(f"{service_plan.service.container}:{'' if steps else ' unchanged'}")
        for step in steps:
            print(f"  {step}")


def _sayer(containers: list[str]) -> Callable[[str, str], None]:
    """Progress lines from every container's thread, whole lines, names aligned."""
    width = max(map(len, containers), default=0)
    lock = threading.Lock()

    def say(who: str, what: str) -> None:
        with lock:
            print(f"{who:<{width}}  {what}", file=sys.stderr, flush=True)

    return say


def _record(api: Api, args: Namespace) -> Record:
    """The fleet of --fleet NAME, else of the project file."""
    name = args.fleet or fleet_project.read(args.file).name
    return fleet_record.load(api.paths, name)


def down(api: Api, args: Namespace) -> int:
    rec = _record(api, args)
    if args.destroy and not args.yes:
        names = ", ".join(m.container for m in rec.members.values())
        if not sys.stdin.isatty():
            raise UsageError(f"down --destroy removes {names} and their data", hint="-y to go on")
        answer = input(f"destroy {names} with their data? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    say = _sayer([m.container for m in rec.members.values()])
    fleet_down.down(api, rec.name, args.services, args.destroy, say)
    return 0


def ps(api: Api, args: Namespace) -> int:
    rec = _record(api, args)
    if args.format == "json":
        import json

        print(json.dumps([_json(*member) for member in _members(api, rec)], indent=2))
        return 0
    _table(api, rec)
    return 0


def _members(api: Api, rec: Record) -> list[tuple[str, str, ContainerInfo | None]]:
    """(service, container, its info; None when it is gone) of each of the fleet's."""
    present = set(api.names())
    return [
        (service, m.container, api.info(m.container) if m.container in present else None)
        for service, m in rec.members.items()
    ]


def _table(api: Api, rec: Record) -> None:
    rows = [("SERVICE", "CONTAINER", "STATE", "IPV4", "PORTS")]
    for service, container, info in _members(api, rec):
        ports = info.config.ports if info is not None and info.config else ()
        rows.append(
            (
                service,
                container,
                "MISSING" if info is None else info.state.name,
                ",".join(info.ipv4) if info is not None else "",
                ",".join(f"{p.host}:{p.host_port}->{p.port}/{p.proto}" for p in ports),
            )
        )
    output.table(rows)


def _json(service: str, container: str, info: ContainerInfo | None) -> dict[str, Any]:
    """A member as `ps --format json` gives it: its ports as `ls`/`info` JSON gives them."""
    if info is None:
        return {"service": service, "container": container, "state": "MISSING", "ipv4": []}
    data = info.to_json(detailed=True)
    shown = {key: data[key] for key in ("state", "ipv4", "ports")}
    return {"service": service, "container": container, **shown}


def fleet(api: Api, args: Namespace) -> int:
    rows = [("FLEET", "CONTAINERS", "RUNNING", "NETWORK", "PROJECT")]
    for rec in fleet_record.every(api.paths):
        present = [info for _, _, info in _members(api, rec) if info is not None]
        running = [info for info in present if info.state.name == "RUNNING"]
        rows.append(
            (
                rec.name,
                str(len(present)),
                str(len(running)),
                rec.network or "(default)",
                rec.project,
            )
        )
    output.table(rows)
    return 0
