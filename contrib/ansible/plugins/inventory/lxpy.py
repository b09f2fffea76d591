"""lxpy.lxpy.lxpy: every lxpy container of this host and of lxpy's remotes as an inventory,
grouped by host, state, template and fleet, reached through the lxpy.lxpy.lxpy connection."""

from __future__ import annotations

import json
import shlex
import subprocess
from typing import Any

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Constructable

DOCUMENTATION = r"""
name: lxpy
short_description: lxpy containers, of this host and of lxpy's remotes
description:
  - Lists the containers of this host with C(lxpy ls -f json), and those of each remote host
    with C(lxpy ls -f json --remote REMOTE), one inventory host each.
  - A container of this host is named as in lxpy (C(web)); one of a remote host is named
    C(REMOTE:NAME) (C(build1:ci)), which is also how lxpy addresses it. A host pattern splits
    on C(:), so name one of those with a comma at its end (C(--limit 'build1:ci,')), or use
    its groups.
  - "Groups: C(lxpy) (every container), C(lxpy_remote_REMOTE) (C(lxpy_remote_local) for this
    host), C(lxpy_state_STATE) (C(lxpy_state_running), C(lxpy_state_stopped), C(lxpy_state_frozen),
    ...), C(lxpy_template_TEMPLATE) and C(lxpy_fleet_FLEET) (the containers C(lxpy up) made
    together). Characters a group name cannot hold become C(_)."
  - "Host variables: C(lxpy_name), C(lxpy_remote), C(lxpy_state) (as C(lxpy ls) shows it:
    C(RUNNING), C(STOPPED), ...), C(lxpy_ipv4) (the first IPv4 address, null when it has none),
    C(lxpy_addresses) (every one), C(lxpy_template), C(lxpy_fleet) (null outside a fleet),
    C(lxpy_pid), C(lxpy_created); and, with O(set_connection), C(ansible_connection),
    C(ansible_host), C(ansible_lxpy_root) and C(ansible_lxpy_command), which the
    P(lxpy.lxpy.lxpy#connection) connection reads."
  - The configuration file's name must end in C(lxpy.yml) or C(lxpy.yaml).
  - Fleets of this host are read with C(lxpy fleet ls) and C(lxpy ps --fleet FLEET); a
    remote's containers are in fleet groups when its C(lxpy ls) gives their C(fleet).
author: lxpy maintainers
version_added: 0.1.0
extends_documentation_fragment:
  - constructed
options:
  plugin:
    description: The name of this plugin; this file is for it.
    type: string
    required: true
    choices: [lxpy.lxpy.lxpy]
  remotes:
    description:
      - The hosts whose containers to list, as lxpy's remotes name them; C(local) is this
        host, C(all) every host lxpy knows (C(lxpy ls --remote all)).
      - A host that does not answer is left out with a warning; only when none answers does
        the inventory fail.
    type: list
    elements: string
    default: [local]
  root:
    description:
      - The lxpy state root (C(lxpy --root DIR)) whose containers to list; the connection
        gets it too (C(ansible_lxpy_root)).
      - The default is lxpy's own (C(LXPY_ROOT), else C(/var/lib/lxpy) and its kin).
    type: string
  lxpy_command:
    description:
      - How to run lxpy, split into words as a shell would (C(sudo lxpy),
        C(/opt/lxpy/bin/lxpy)); the connection gets it too (C(ansible_lxpy_command)).
    type: string
    default: lxpy
  set_connection:
    description:
      - Set C(ansible_connection) to C(lxpy.lxpy.lxpy), and C(ansible_host),
        C(ansible_lxpy_root) and C(ansible_lxpy_command) for it, on every host.
      - Turn it off to reach the containers another way (ssh to C(lxpy_ipv4), say), set
        with O(compose).
    type: bool
    default: true
  timeout:
    description: Seconds each lxpy command may take before its host counts as not answering.
    type: float
    default: 60
"""

EXAMPLES = r"""
# inventory/lxpy.yml: this host's containers
plugin: lxpy.lxpy.lxpy

# inventory/lab.lxpy.yml: this host's and two build machines', keyed by release too
plugin: lxpy.lxpy.lxpy
remotes: [local, build1, build2]
lxpy_command: sudo lxpy
keyed_groups:
  - key: lxpy_template
    prefix: distro

# inventory/ssh.lxpy.yml: another root's containers, over ssh to their address; the
# running ones with an address in the group reachable
plugin: lxpy.lxpy.lxpy
root: /srv/lab
set_connection: false
compose:
  ansible_host: lxpy_ipv4
groups:
  reachable: lxpy_state == 'RUNNING' and lxpy_ipv4 is not none
"""

LOCAL = "local"
PREFIX = "lxpy"


class SourceFailed(Exception):
    """One host's containers could not be listed."""


class InventoryModule(BaseInventoryPlugin, Constructable):  # type: ignore[misc]  # ansible-core has no type hints
    NAME = "lxpy.lxpy.lxpy"

    def verify_file(self, path: str) -> bool:
        return bool(super().verify_file(path)) and path.endswith(("lxpy.yml", "lxpy.yaml"))

    def parse(self, inventory: Any, loader: Any, path: str, cache: bool = True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        remotes = list(self.get_option("remotes") or [LOCAL])
        found: list[tuple[str, dict[str, Any]]] = []
        failed = []
        for remote in dict.fromkeys(remotes):  # in order, once each
            try:
                found += self._containers(remote)
            except SourceFailed as e:
                failed.append(remote)
                self.display.warning(f"lxpy inventory: {remote}: {e}; its containers are left out")
        if failed and len(failed) == len(dict.fromkeys(remotes)):
            raise AnsibleParserError(f"lxpy inventory: no host answered ({', '.join(failed)})")
        fleets = self._local_fleets() if any(r == LOCAL for r, _ in found) else {}
        for remote, container in found:
            if remote == LOCAL and not container.get("fleet"):
                container = {**container, "fleet": fleets.get(container["name"])}
            self._add(remote, container)

    def _lxpy(self, *args: str) -> list[str]:
        argv = shlex.split(self.get_option("lxpy_command") or "lxpy")
        root = self.get_option("root")
        return [*argv, *(["--root", str(root)] if root else []), *args]

    def _run(self, *args: str, partial: bool = False) -> str:
        """What `lxpy ARGS` printed; SourceFailed if it did not succeed (with `partial`, a
        listing of the hosts that answered is taken, the others warned of)."""
        argv = self._lxpy(*args)
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                stdin=subprocess.DEVNULL,
                timeout=float(self.get_option("timeout")),
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SourceFailed(f"{shlex.join(argv)}: {e}") from e
        if proc.returncode != 0:
            said = proc.stderr.strip() or f"exit status {proc.returncode}"
            # `ls --remote all` lists the hosts that answered and names the others, status 1.
            if partial and proc.returncode == 1 and proc.stdout.strip():
                self.display.warning(f"lxpy inventory: left out: {said}")
                return proc.stdout
            raise SourceFailed(f"{shlex.join(argv)}: {said}")
        return proc.stdout

    def _json_list(self, *args: str, partial: bool = False) -> list[dict[str, Any]]:
        text = self._run(*args, partial=partial)
        try:
            data = json.loads(text)
        except ValueError as e:
            raise SourceFailed(f"lxpy {' '.join(args)} printed no JSON: {e}") from e
        if not isinstance(data, list) or not all(
            isinstance(item, dict) and isinstance(item.get("name", item.get("container")), str)
            for item in data
        ):
            raise SourceFailed(f"lxpy {' '.join(args)}: not a list of containers")
        return data

    def _containers(self, remote: str) -> list[tuple[str, dict[str, Any]]]:
        """(its host, the container as `ls -f json` gives it) of each container of
        `remote`; `all`: of every host, each object naming its own."""
        if remote == LOCAL:
            return [(LOCAL, c) for c in self._json_list("ls", "-f", "json")]
        listed = self._json_list("ls", "-f", "json", "--remote", remote, partial=remote == "all")
        if remote == "all":
            return [(str(c.get("remote") or LOCAL), c) for c in listed]
        return [(remote, c) for c in listed]

    def _local_fleets(self) -> dict[str, str]:
        """Container: its fleet, for this host's fleets (`lxpy fleet ls`, `lxpy ps`)."""
        fleet_of: dict[str, str] = {}
        try:
            rows = self._run("fleet", "ls").splitlines()[1:]  # under the header
            for fleet in (row.split()[0] for row in rows if row.strip()):
                for member in self._json_list("ps", "--fleet", fleet, "--format", "json"):
                    fleet_of[str(member["container"])] = fleet
        except SourceFailed as e:
            self.display.warning(f"lxpy inventory: fleets left out: {e}")
        return fleet_of

    def _group(self, *words: str) -> str:
        name = to_safe_group_name("_".join(words), force=True, silent=True)
        return str(self.inventory.add_group(name))

    def _add(self, remote: str, container: dict[str, Any]) -> None:
        name = str(container["name"])
        host = name if remote == LOCAL else f"{remote}:{name}"
        state = str(container.get("state") or "unknown")
        template = container.get("template")
        fleet = container.get("fleet")
        addresses = [str(a) for a in container.get("ipv4") or []]
        self.inventory.add_host(host, group=self._group(PREFIX))
        for group in (
            self._group(PREFIX, "remote", remote),
            self._group(PREFIX, "state", state.lower()),
            *([self._group(PREFIX, "template", str(template))] if template else []),
            *([self._group(PREFIX, "fleet", str(fleet))] if fleet else []),
        ):
            self.inventory.add_child(group, host)
        facts: dict[str, Any] = {
            "lxpy_name": name,
            "lxpy_remote": remote,
            "lxpy_state": state,
            "lxpy_ipv4": addresses[0] if addresses else None,
            "lxpy_addresses": addresses,
            "lxpy_template": template,
            "lxpy_fleet": fleet,
            "lxpy_pid": container.get("pid"),
            "lxpy_created": container.get("created"),
        }
        if self.get_option("set_connection"):
            facts["ansible_connection"] = "lxpy.lxpy.lxpy"
            facts["ansible_host"] = host
            facts["ansible_lxpy_command"] = self.get_option("lxpy_command") or "lxpy"
            if self.get_option("root"):
                facts["ansible_lxpy_root"] = self.get_option("root")
        for key, value in facts.items():
            self.inventory.set_variable(host, key, value)
        strict = self.get_option("strict")
        hostvars = self.inventory.get_host(host).get_vars()
        self._set_composite_vars(self.get_option("compose"), hostvars, host, strict=strict)
        hostvars = self.inventory.get_host(host).get_vars()
        self._add_host_to_composed_groups(self.get_option("groups"), hostvars, host, strict=strict)
        self._add_host_to_keyed_groups(
            self.get_option("keyed_groups"), hostvars, host, strict=strict
        )
