"""lxpy.lxpy.lxpy_container: an lxpy container made, configured, started, stopped or
destroyed through the lxpy command line of the host it runs on."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable
from typing import Any, NoReturn

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: lxpy_container
short_description: Manage lxpy containers
description:
  - Makes, configures, starts, stops and destroys an lxpy container through the lxpy command
    line (C(lxpy ls), C(info), C(config show), C(create), C(config set), C(mount),
    C(port), C(start), C(stop), C(destroy)) of the host it runs on, the managed host (or
    the controller, delegated to localhost).
  - It runs only the commands that change something, and reports C(changed) accordingly;
    in check mode it runs none and reports what it would change.
  - O(limits), O(mounts) and O(ports) apply to an existing container too (at once to a
    running one, as lxpy applies them). O(template), O(release) and O(packages) only count
    when the container is made; an existing one is never made anew, and a different
    O(template) or O(release) fails the task.
version_added: 0.1.0
author: lxpy maintainers
requirements:
  - lxpy on the host the module runs on, run as root (or O(lxpy_command) C(sudo lxpy))
  - Python 3.11 or later there (as lxpy needs)
attributes:
  check_mode:
    description: Reports what would change, and changes nothing.
    support: full
  diff_mode:
    description: No diff is shown; RV(commands) lists the lxpy commands.
    support: none
options:
  name:
    description: The container's name, a DNS label (C(a-z), C(0-9), C(-)).
    type: str
    required: true
  state:
    description:
      - C(present) makes it if it is missing (stopped) and leaves a running one running;
        C(started) makes it if needed and has it running (a frozen one is unfrozen);
        C(stopped) makes it if needed and has it stopped (cleanly, through its init);
        C(absent) destroys it, running or not.
    type: str
    choices: [present, started, stopped, absent]
    default: started
  template:
    description:
      - Its template (C(lxpy templates)); lxpy's default, busybox, when left out.
      - Given, an existing container made from another one fails the task.
    type: str
  release:
    description:
      - The distribution release (C(lxpy create --release)); the template's default when left
        out. Given, an existing container of another release fails the task.
    type: str
  packages:
    description:
      - Extra packages, installed at create in a cached layer over the image
        (C(lxpy create --packages)); C(python3) makes a Debian container ready for most
        modules. An existing container is not changed.
    type: list
    elements: str
  limits:
    description:
      - Resource limits by lxpy's keys (C(memory), C(swap), C(cpus), C(cpuset), C(pids),
        C(io_weight), C(disk)), set with C(lxpy config set NAME limits.KEY=VALUE). Sizes are
        text like C(512M) or C(2G) (a number of bytes is taken too).
      - A key whose value is null is unset (C(lxpy config unset)), back to lxpy's default.
        Keys left out are left as they are.
    type: dict
  mounts:
    description:
      - The host folders shared into it, each C(HOSTPATH:PATH) or C(HOSTPATH:PATH:ro)
        (read-only), both absolute; C(lxpy mount add) and C(lxpy mount rm) make the
        container's shared folders exactly these. Left out, they are left as they are; an
        empty list removes every one.
    type: list
    elements: str
  ports:
    description:
      - The host ports forwarded to it, each as C(lxpy port add) takes it,
        C([ADDR:]HOSTPORT:PORT[/tcp|/udp]); C(lxpy port add) and C(lxpy port rm) make the
        container's forwards exactly these. Without ADDR, a forward on any address matches
        (a new one gets lxpy's default address). Left out, they are left as they are; an
        empty list removes every one.
    type: list
    elements: str
  timeout:
    description:
      - Seconds a clean stop may take before lxpy kills what is left (C(lxpy stop -t)), and
        that a start waits for systemd's boot (C(lxpy start --wait)).
    type: float
    default: 30
  remote:
    description:
      - The lxpy remote whose container this is (C(REMOTE:NAME) in every command); left
        out, the host's own. Host paths of O(mounts) are then that host's.
    type: str
  root:
    description:
      - The lxpy state root (C(lxpy --root DIR)); lxpy's own (C(LXPY_ROOT), else
        C(/var/lib/lxpy) and its kin) when left out.
    type: path
  lxpy_command:
    description: How to run lxpy, split into words as a shell would (C(sudo lxpy)).
    type: str
    default: lxpy
"""

EXAMPLES = r"""
- name: A running Debian box with Python for the next plays, limited and shared
  lxpy.lxpy.lxpy_container:
    name: web
    template: debian
    release: trixie
    packages: [python3]
    limits:
      memory: 1G
      cpus: 1.5
    mounts:
      - /srv/www:/var/www:ro
    ports:
      - 8080:80

- name: Stopped, from the controller
  lxpy.lxpy.lxpy_container:
    name: web
    state: stopped
  delegate_to: localhost

- name: No memory limit any more; the rest as it is
  lxpy.lxpy.lxpy_container:
    name: web
    state: present
    limits:
      memory: null

- name: Gone, with its snapshots
  lxpy.lxpy.lxpy_container:
    name: web
    state: absent
"""

RETURN = r"""
container:
  description:
    - The container as C(lxpy info NAME -f json) gives it at the end (its state, addresses,
      config, ports...). Null when it is absent, and in check mode when it was to be made.
  returned: always
  type: dict
  sample:
    name: web
    state: RUNNING
    template: debian
    ipv4: [10.205.72.208]
commands:
  description: The lxpy commands run (in check mode, those that would have run), in order.
  returned: always
  type: list
  elements: str
  sample:
    - lxpy create web -q --template debian --packages python3
    - lxpy config set web limits.memory="1G"
    - lxpy start web --wait 30
"""

# Limits in sizes, compared in bytes ("1G" is "1024M"), as lxpy reads them.
SIZE_LIMITS = ("memory", "swap", "disk")
NUMBER_LIMITS = ("pids", "cpus", "io_weight")
# What lxpy writes for a limit that is unset (lxpy/config/limits.py; tests/test_ansible.py
# holds the two the same): the module runs on hosts where lxpy is no module to import.
DEFAULT_LIMITS: dict[str, object] = {"pids": 4096}
SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
PORT = re.compile(r"(?:(\[[0-9A-Fa-f:.]+\]|[0-9.]+):)?(\d+):(\d+)(?:/(tcp|udp))?")


def fail(module: AnsibleModule, msg: str, **result: Any) -> NoReturn:
    """The task fails saying `msg` (fail_json exits; this says so to a type checker)."""
    module.fail_json(msg=msg, **result)
    raise AssertionError("fail_json returned")


class Step:
    """One lxpy command of the plan; `changes`: whether it changes the container (a wait
    does not)."""

    def __init__(self, args: list[str], changes: bool = True) -> None:
        self.args, self.changes = args, changes


class Lxpy:
    """The lxpy command line of this host, for one container."""

    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        params = module.params
        self.name: str = params["name"]
        if ":" in self.name:  # what `lxpy ls` of the other host would never list
            fail(module, f"name {self.name!r}: give the host as remote, the name alone")
        self.remote: str | None = params["remote"]
        self.ref = f"{self.remote}:{self.name}" if self.remote else self.name
        command = shlex.split(params["lxpy_command"] or "lxpy")
        if not command:
            fail(module, "lxpy_command is empty")
        root = params["root"]
        self.argv = [*command, *(["--root", root] if root else [])]

    def line(self, args: list[str]) -> str:
        return shlex.join([*self.argv, *args])

    def run(self, args: list[str], done: list[Step]) -> str:
        """What `lxpy ARGS` printed; the task fails with lxpy's words if it fails, saying
        what was `done` before."""
        code, out, err = self.module.run_command(
            [*self.argv, *args], check_rc=False, expand_user_and_vars=False
        )
        if code != 0:
            fail(
                self.module,
                f"{self.line(args)}: {err.strip() or f'exit status {code}'}",
                changed=any(step.changes for step in done),
                commands=[self.line(step.args) for step in done],
            )
        return str(out)

    def current(self) -> dict[str, Any] | None:
        """The container as `lxpy info -f json` gives it, or None when there is none."""
        args = ["ls", "-f", "json", *(["--remote", self.remote] if self.remote else [])]
        listed = self.parsed(args, json.loads)
        if not isinstance(listed, list) or not any(
            isinstance(c, dict) and c.get("name") == self.name for c in listed
        ):
            return None
        info = self.parsed(["info", self.ref, "-f", "json"], json.loads)
        if not isinstance(info, dict):
            fail(self.module, f"`{self.line(['info', self.ref])}` gave no object")
        return info

    def parsed(self, args: list[str], parse: Callable[[str], Any]) -> Any:
        """What `lxpy ARGS` printed, parsed; a task failure naming the command if it is not
        what `parse` reads."""
        printed = self.run(args, [])
        try:
            return parse(printed)
        except ValueError as e:
            fail(self.module, f"`{self.line(args)}` printed what cannot be read: {e}")

    def written_limits(self) -> dict[str, Any]:
        """[limits] as config.toml holds them, lxpy's defaults left unsaid or not."""
        import tomllib

        doc = self.parsed(["config", "show", self.ref], tomllib.loads)
        limits = doc.get("limits", {})
        return limits if isinstance(limits, dict) else {}


def limit_value(key: str, value: Any) -> Any:
    """A limit as compared: sizes in bytes, a CPU list as its CPUs, numbers as numbers."""
    text = str(value).strip()
    if key in SIZE_LIMITS:
        m = SIZE.fullmatch(text)
        if m:
            return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))
    elif key == "cpuset":
        cpus: set[int] = set()
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            if not (first.isdigit() and (last or first).isdigit()):
                return text
            cpus.update(range(int(first), int(last or first) + 1))
        return sorted(cpus)
    try:
        return float(text)
    except ValueError:
        return text


def toml_value(key: str, value: Any) -> str:
    """`value` as `lxpy config set` reads it (a TOML value): sizes always as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and key not in SIZE_LIMITS:
        return str(value)
    if key in NUMBER_LIMITS and isinstance(value, str):  # `cpus: "2"`, as YAML may give it
        number = limit_value(key, value)
        if isinstance(number, float):
            return str(int(number)) if number.is_integer() else str(number)
    return json.dumps(str(value))


def limit_steps(lx: Lxpy, wanted: dict[str, Any], written: dict[str, Any]) -> list[Step]:
    sets = [
        f"limits.{key}={toml_value(key, value)}"
        for key, value in wanted.items()
        if value is not None
        and (key not in written or limit_value(key, value) != limit_value(key, written[key]))
    ]
    # Unset, a limit with a default is written back with it: already so, nothing to do.
    unsets = [
        f"limits.{key}"
        for key, value in wanted.items()
        if value is None and key in written and written[key] != DEFAULT_LIMITS.get(key)
    ]
    return [
        *([Step(["config", "set", lx.ref, *sets])] if sets else []),
        *([Step(["config", "unset", lx.ref, *unsets])] if unsets else []),
    ]


def parse_mount(module: AnsibleModule, spec: str) -> tuple[str, str, bool]:
    """HOSTPATH:PATH[:ro|:rw] as (host path, path inside, read-only)."""
    parts = spec.split(":")
    readonly = False
    if len(parts) == 3 and parts[2] in ("ro", "rw"):
        readonly = parts.pop() == "ro"
    if len(parts) != 2 or not all(p.startswith("/") for p in parts):
        fail(module, f"mounts: {spec!r}: expected HOSTPATH:PATH[:ro], both absolute")
    return posixpath.normpath(parts[0]), posixpath.normpath(parts[1]), readonly


def mount_steps(lx: Lxpy, specs: list[str], current: list[dict[str, Any]]) -> list[Step]:
    wanted = [parse_mount(lx.module, spec) for spec in specs]
    have = [(m["source"], m["path"], bool(m.get("readonly"))) for m in current]
    # One of another host path or mode at the same path goes first, then comes back.
    steps = [Step(["mount", "rm", lx.ref, mount[1]]) for mount in have if mount not in wanted]
    for source, path, readonly in wanted:
        if (source, path, readonly) not in have:
            ro = ["--readonly"] if readonly else []
            steps.append(Step(["mount", "add", lx.ref, source, path, *ro]))
    return steps


def parse_port(module: AnsibleModule, spec: str) -> tuple[str | None, int, int, str]:
    """[ADDR:]HOSTPORT:PORT[/PROTO] as (address or None, host port, port, proto)."""
    m = PORT.fullmatch(spec.strip())
    if not m:
        fail(module, f"ports: {spec!r}: expected [ADDR:]HOSTPORT:PORT[/tcp|/udp]")
    address = m.group(1).strip("[]") if m.group(1) else None
    return address, int(m.group(2)), int(m.group(3)), m.group(4) or "tcp"


def port_steps(lx: Lxpy, specs: list[str], current: list[dict[str, Any]]) -> list[Step]:
    left = list(current)  # forwards no wanted one matched: removed
    adds = []
    for spec in specs:
        address, host_port, port, proto = parse_port(lx.module, spec)
        match = next(
            (
                f
                for f in left
                if (f["host_port"], f["port"], f["proto"]) == (host_port, port, proto)
                and address in (None, f["address"])
            ),
            None,
        )
        if match is None:
            adds.append(Step(["port", "add", lx.ref, spec.strip()]))
        else:
            left.remove(match)
    removes = [
        Step(["port", "rm", lx.ref, f"{_address(f['address'])}:{f['host_port']}/{f['proto']}"])
        for f in left
    ]
    return removes + adds  # a host port moved to another port inside is free again first


def _address(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def state_steps(lx: Lxpy, wanted: str, state: str, timeout: float) -> list[Step]:
    """From `state` (as lxpy shows it) to the state wanted."""
    seconds = f"{timeout:g}"
    ref = lx.ref
    start = Step(["start", ref, "--wait", seconds])
    if wanted == "started":
        return {
            "RUNNING": [],
            "FROZEN": [Step(["unfreeze", ref])],
            "STARTING": [Step(["wait", ref, "--state", "RUNNING", "-t", seconds], False)],
            "STOPPING": [Step(["wait", ref, "--state", "STOPPED", "-t", seconds], False), start],
        }.get(state, [start])
    if wanted == "stopped":
        return {
            "STOPPED": [],
            "STOPPING": [Step(["wait", ref, "--state", "STOPPED", "-t", seconds], False)],
        }.get(state, [Step(["stop", ref, "-t", seconds])])
    return []


def plan(lx: Lxpy, current: dict[str, Any] | None) -> list[Step]:
    p = lx.module.params
    if p["state"] == "absent":
        return [Step(["destroy", "--force", lx.ref])] if current is not None else []
    steps: list[Step] = []
    limits: dict[str, Any] = p["limits"] or {}
    if current is None:
        create = ["create", lx.ref, "-q"]
        for option in ("template", "release"):
            if p[option]:
                create += [f"--{option}", p[option]]
        if p["packages"]:
            create += ["--packages", ",".join(p["packages"])]
        for spec in p["ports"] or []:
            parse_port(lx.module, spec)
            create += ["--port", spec.strip()]
        steps.append(Step(create))
        steps += limit_steps(lx, limits, {})
        steps += mount_steps(lx, p["mounts"] or [], [])
        state = "STOPPED"
    else:
        config = current.get("config") or {}
        if p["template"] and current.get("template") != p["template"]:
            fail(
                lx.module,
                f"{lx.ref} is a {current.get('template')} container, not {p['template']}: "
                "state=absent first to make it anew",
            )
        release = (config.get("parameters") or {}).get("release")
        if p["release"] and release != p["release"]:
            fail(
                lx.module,
                f"{lx.ref} is of release {release}, not {p['release']}: "
                "state=absent first to make it anew",
            )
        if limits:
            steps += limit_steps(lx, limits, lx.written_limits())
        if p["mounts"] is not None:
            steps += mount_steps(lx, p["mounts"], config.get("mounts") or [])
        if p["ports"] is not None:
            steps += port_steps(lx, p["ports"], current.get("ports") or [])
        state = str(current.get("state"))
    return steps + state_steps(lx, p["state"], state, p["timeout"])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "state": {
                "type": "str",
                "default": "started",
                "choices": ["present", "started", "stopped", "absent"],
            },
            "template": {"type": "str"},
            "release": {"type": "str"},
            "packages": {"type": "list", "elements": "str"},
            "limits": {"type": "dict"},
            "mounts": {"type": "list", "elements": "str"},
            "ports": {"type": "list", "elements": "str"},
            "timeout": {"type": "float", "default": 30.0},
            "remote": {"type": "str"},
            "root": {"type": "path"},
            "lxpy_command": {"type": "str", "default": "lxpy"},
        },
        supports_check_mode=True,
    )
    lx = Lxpy(module)
    current = lx.current()
    steps = plan(lx, current)
    changed = any(step.changes for step in steps)
    if module.check_mode:
        commands = [lx.line(step.args) for step in steps]
        module.exit_json(changed=changed, commands=commands, container=current)
    done: list[Step] = []
    for step in steps:
        lx.run(step.args, done)
        done.append(step)
    after = lx.current() if module.params["state"] != "absent" else None
    commands = [lx.line(step.args) for step in done]
    module.exit_json(changed=changed, commands=commands, container=after)


if __name__ == "__main__":
    main()
