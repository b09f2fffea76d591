"""What `lxpy up` would do: the project file compared with the containers as they are and
with what the last `up` applied (the fleet's record), as steps per container.

Each step is an lxpy command line (`create`, `file push`, `config set`, `start`, `attach`),
so `up --dry-run` shows exactly what would run, or a wait (provisioning to finish, a ready
check to pass). What `up` must not do by itself, since it would lose a container's data (a
new template, release or pool), is a note saying `up --recreate SERVICE` does it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from lxpy.config.limits import LIMITS, Limits
from lxpy.errors import LxpyError
from lxpy.fleets.project import Project, Service
from lxpy.fleets.record import Member, Record
from lxpy.runtime.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:
    from lxpy.api import Api, ContainerInfo
    from lxpy.config import ContainerConfig

# Steps that run a command inside the container, or wait on it, rather than an lxpy command.
PROVISIONED = "provisioned"  # waits for the first boot's provisioning to finish
READY = "ready"  # runs the ready check until it passes


@dataclass(frozen=True)
class Step:
    verb: str  # what a progress line says it did: "created", "pushed", "started"
    detail: str
    argv: tuple[str, ...] = ()  # lxpy's arguments; empty for PROVISIONED and READY

    def __str__(self) -> str:
        """As `up --dry-run` shows it."""
        if self.argv:
            return f"lxpy {' '.join(_quoted(self.argv))}"
        if self.verb == PROVISIONED:
            return "wait for its first-boot provisioning to finish"
        return f"wait until `{self.detail}` passes inside"


@dataclass(frozen=True)
class ServicePlan:
    service: Service
    # Steps that need no dependency running (making and configuring it), then those that
    # wait until every dependency is ready (starting it, and what needs it running).
    prepare: tuple[Step, ...]
    start: tuple[Step, ...]
    member: Member  # the record's entry once every step has run
    creates: bool = False  # it is made (or made anew) by this up
    notes: tuple[str, ...] = ()  # changes this up does not make, and why

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.prepare + self.start


@dataclass(frozen=True)
class Plan:
    project: Project
    record: Record  # as it is before this up (a new fleet: an empty one)
    network: Step | None  # the fleet's network, when it must be made
    services: list[ServicePlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # of the fleet as a whole

    @property
    def changes(self) -> bool:
        return self.network is not None or any(s.steps for s in self.services)


def make(api: Api, project: Project, wanted: list[str], recreate: list[str]) -> Plan:
    for name in recreate:
        if name not in project.services:
            project.select([name])  # the NotFound naming the fleet's containers
    old = _record(api, project)
    network = None
    if project.network is not None and project.network not in {n.name for n in api.networks()}:
        argv = ["network", "create", project.network]
        if project.subnet:
            argv += ["--subnet", project.subnet]
        if project.domain:
            argv += ["--domain", project.domain]
        network = Step("made", f"network {project.network}", tuple(argv))
    plans = []
    for service in project.select(wanted):
        member = old.members.get(service.name)
        info = _info(api, service.container)
        if info is not None and member is None:
            raise LxpyError(
                f"{project.path}: container {service.name}: {service.container} exists and is "
                f"not fleet {project.name}'s: up leaves it alone",
                hint=f"`lxpy rename {service.container} NEW`, or another [fleet] name",
            )
        if info is None or member is None:
            plans.append(_fresh(project, service, again=False))
        elif service.name in recreate:
            plans.append(_fresh(project, service, again=True))
        else:
            plans.append(_converge(api, project, service, info, member))
    gone = [m for m in old.members.values() if m.service not in project.services]
    notes = [
        f"{m.container} is no longer in {project.path}: kept (`lxpy down --fleet "
        f"{project.name} {m.service} --destroy` removes it)"
        for m in gone
        if _info(api, m.container) is not None
    ]
    return Plan(project, old, network, plans, notes)


def _record(api: Api, project: Project) -> Record:
    from lxpy.fleets import record

    found = record.find(api.paths, project.name)
    if found is None:
        return Record(project.name, project.path, project.network or "", False, {})
    elsewhere = found.project != project.path
    if elsewhere and any(_info(api, m.container) is not None for m in found.members.values()):
        raise LxpyError(
            f"fleet {project.name!r} is already up from {found.project}",
            hint=f"give this fleet another [fleet] name, or `lxpy down --fleet "
            f"{project.name} --destroy` first",
        )
    return replace(found, project=project.path)


def _info(api: Api, container: str) -> ContainerInfo | None:
    from lxpy import store

    return api.info(container) if store.exists(api.paths, container) else None


def _fresh(project: Project, service: Service, again: bool) -> ServicePlan:
    """Steps that make the container (anew: destroyed first) and bring it up."""
    name = service.container
    argv = ["create", name, "-q", "-t", service.template]
    for key, value in service.parameters.items():
        argv += ["--set", f"{key}={value}"]
    if service.packages:
        argv += ["--packages", ",".join(service.packages)]
    if service.user:
        argv += ["--user", service.user]
    if service.ssh is not None:
        argv.append("--ssh" if service.ssh else "--no-ssh")
    if service.storage:
        argv += ["--storage", service.storage]
    if service.privileged:
        argv.append("--privileged")
    for script in service.provision:
        argv += ["--provision", script]
    if service.cloud_init:
        argv += ["--cloud-init", service.cloud_init]
    for key, limit in service.limits.items():
        argv += [LIMITS[key].flag, str(limit)]
    if project.network:
        argv += ["--network", project.network]
    made = f"from {service.template}" + (
        f" + {', '.join(service.packages)}" if service.packages else ""
    )
    prepare = [Step("destroyed", "(--recreate)", ("destroy", "--force", name))] if again else []
    prepare.append(Step("created", made, tuple(argv)))
    if service.autostart:
        prepare.append(Step("configured", "autostart", ("config", "set", name, "autostart=true")))
    prepare += [_mount(name, path, source) for path, source in service.mounts.items()]
    prepare += [_port(name, text) for text in service.ports]
    prepare += [_push(name, path, source) for path, source in service.files.items()]
    start = [Step("started", "", ("start", name))]
    if service.provision or service.cloud_init:
        start.append(Step(PROVISIONED, ""))
    if service.ready:
        start.append(Step(READY, service.ready))
    member = Member(
        service.name,
        name,
        service.depends_on,
        service.packages,
        service.provision,
        {path: _digest(source) for path, source in service.files.items()},
    )
    return ServicePlan(service, tuple(prepare), tuple(start), member, creates=True)


def _converge(
    api: Api, project: Project, service: Service, info: ContainerInfo, member: Member
) -> ServicePlan:
    """Steps that bring an existing container to what the file says, without losing data."""
    name = service.container
    cfg = info.config
    if cfg is None:
        raise LxpyError(f"{name}: {info.config_error}", hint=f"`lxpy config edit {name}`")
    notes = _recreate_notes(api, project, service, cfg)
    prepare: list[Step] = []
    wanted = Limits(**service.limits)
    changed = [key for key, value in wanted.items() if getattr(cfg.limits, key) != value]
    sets = [
        f"limits.{k}={_toml(getattr(wanted, k))}" for k in changed if getattr(wanted, k) is not None
    ]
    unsets = [f"limits.{k}" for k in changed if getattr(wanted, k) is None]
    if sets:
        prepare.append(Step("limited", ", ".join(sets), ("config", "set", name, *sets)))
    if unsets:
        prepare.append(Step("unlimited", ", ".join(unsets), ("config", "unset", name, *unsets)))
    if cfg.autostart != service.autostart:
        value = "true" if service.autostart else "false"
        prepare.append(
            Step("configured", f"autostart={value}", ("config", "set", name, f"autostart={value}"))
        )
    have = {m.path: m.source for m in cfg.mounts}
    for path in have:
        if service.mounts.get(path) != have[path]:
            prepare.append(Step("unmounted", path, ("mount", "rm", name, path)))
    prepare += [_mount(name, p, s) for p, s in service.mounts.items() if have.get(p) != s]
    forwards = {text: cfg.new_forward(text) for text in service.ports}
    prepare += [
        Step("unforwarded", f.key, ("port", "rm", name, f.key))
        for f in cfg.ports
        if f not in forwards.values()
    ]
    prepare += [_port(name, text) for text, f in forwards.items() if f not in cfg.ports]
    digests = {path: _digest(source) for path, source in service.files.items()}
    pushes = [
        _push(name, path, service.files[path])
        for path, digest in digests.items()
        if member.files.get(path) != digest
    ]
    prepare += pushes
    runs = info.state in (State.RUNNING, State.FROZEN, State.STARTING)
    start: list[Step] = []
    if not runs:
        start.append(Step("started", "", ("start", name)))
    if service.provision or service.cloud_init:
        status = api.provisioning(name)
        if status is not None and status.state in ("pending", "running"):
            start.append(Step(PROVISIONED, ""))
    added = [p for p in service.packages if p not in member.packages]
    if added:
        start.append(_install(api, service, added))
    dropped = [p for p in member.packages if p not in service.packages]
    if dropped:
        notes.append(f"no longer listed, so kept installed: {', '.join(dropped)}")
    if pushes and runs and service.reload:
        start.append(
            Step("reloaded", service.reload, ("attach", name, "--", "sh", "-c", service.reload))
        )
    if start and service.ready:
        start.append(Step(READY, service.ready))
    if tuple(member.provision) != service.provision:
        notes.append(
            "its provisioning changed: it runs on the first up only (`--recreate` runs it)"
        )
    updated = Member(
        service.name, name, service.depends_on, service.packages, member.provision, digests
    )
    return ServicePlan(service, tuple(prepare), tuple(start), updated, notes=tuple(notes))


def _recreate_notes(
    api: Api, project: Project, service: Service, cfg: ContainerConfig
) -> list[str]:
    """What changed that only making the container anew can apply."""
    from lxpy.api import Request
    from lxpy.storage import pools

    parameters = dict(service.parameters)
    if service.user:
        parameters["user"] = service.user
    request = Request(service.template, parameters=parameters, cloud_init=service.cloud_init)
    changes = []
    if cfg.template != service.template:
        changes.append(f"template {cfg.template} -> {service.template}")
    else:
        values = api.dry_run(request).values
        for key, value in values.items():
            if key != "packages" and cfg.parameters.get(key) != value:
                changes.append(f"{key} {_shown(cfg.parameters.get(key))} -> {_shown(value)}")
    network = project.network or api.default_network()
    had = cfg.network[0].network if cfg.network else "none"
    if had != network:
        changes.append(f"network {had} -> {network}")
    if cfg.security.privileged != service.privileged:
        changes.append("privileged" if service.privileged else "unprivileged")
    notes = []
    if changes:
        notes.append(
            f"{', '.join(changes)}: `lxpy up --recreate {service.name}` makes it anew "
            "(its data goes)"
        )
    # Only a pool the file names: the default pool is where new containers go.
    if service.storage is not None and pools.of(cfg) != service.storage:
        notes.append(
            f"pool {pools.of(cfg)} -> {service.storage}: `lxpy move {service.container} "
            f"--storage {service.storage}` moves it with its data"
        )
    return notes


def _shown(value: object) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value)) or "''"
    return str(value) if value not in ("", None) else "''"


def _install(api: Api, service: Service, added: list[str]) -> Step:
    """apt-get in the running container for packages added to its list since it was made."""
    packages = _expanded(api, service.template, added)
    script = (
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q && "
        f"apt-get install -y -q --no-install-recommends {' '.join(packages)}"
    )
    return Step(
        "installed", ", ".join(added), ("attach", service.container, "--", "sh", "-c", script)
    )


def _expanded(api: Api, template: str, packages: list[str]) -> list[str]:
    """`packages` with each @SET replaced by the template's set."""
    sets = api.template(template).package_sets
    found: list[str] = []
    for item in packages:
        found += sorted(sets.get(item[1:], ())) if item.startswith("@") else [item]
    return found


def _mount(name: str, path: str, source: str) -> Step:
    return Step("mounted", f"{source} at {path}", ("mount", "add", name, source, path))


def _push(name: str, path: str, source: str) -> Step:
    return Step("pushed", path, ("file", "push", "-p", name, source, path))


def _port(name: str, text: str) -> Step:
    return Step("forwarded", text, ("port", "add", name, text))


def _digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _toml(value: object) -> str:
    """A limit's value as `config set` takes it: TOML."""
    return f'"{value}"' if isinstance(value, str) else str(value)


def _quoted(argv: tuple[str, ...]) -> list[str]:
    import shlex

    return [shlex.quote(a) for a in argv]
