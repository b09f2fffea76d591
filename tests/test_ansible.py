"""The Ansible collection in contrib/ansible (lxpy.lxpy), built and installed as
ansible-galaxy does it, driving real containers: its inventory lists them, its connection
configures a Debian container that has no sshd, and its module makes, starts, stops and
destroys one, idempotently. ansible-core comes with the `test` extra; every file Ansible
writes goes to a temporary directory, none to ~/.ansible."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lxpy.remote import registry
from lxpy.remote.connection import SSH_COMMAND_ENV
from tests.conftest import Lxpy, sh, temporary_root
from tests.sshd import Sshd

pytestmark = pytest.mark.integration

COLLECTION = Path(__file__).resolve().parent.parent / "contrib/ansible"
BIN = Path(sys.executable).parent
# What `lxpy` runs, as the collection's lxpy_command option takes it: this checkout's lxpy.
LXPY_COMMAND = f"{sys.executable} -m lxpy"


@dataclass
class Ansible:
    """ansible-core's commands, with the collection installed and Ansible's own files in a
    temporary directory."""

    env: dict[str, str]

    def run(
        self, tool: str, *args: str, env: dict[str, str] | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / tool), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )


@pytest.fixture(scope="module")
def ansible(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ansible]:
    if not (BIN / "ansible-galaxy").exists():
        pytest.fail("ansible-core is not installed: pip install -e '.[test]'")
    home_before = os.path.exists(os.path.expanduser("~/.ansible"))
    where = tmp_path_factory.mktemp("ansible")
    config = where / "ansible.cfg"
    config.write_text("[defaults]\n")  # and no ./ansible.cfg or /etc/ansible/ansible.cfg
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(config),
        "ANSIBLE_HOME": str(where / "home"),
        "ANSIBLE_LOCAL_TEMP": str(where / "local"),
        # Where modules run on localhost (the module's tests); in a container, inside it.
        "ANSIBLE_REMOTE_TEMP": str(where / "remote"),
        "ANSIBLE_COLLECTIONS_PATH": str(where / "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    tool = Ansible(env)
    built = tool.run(
        "ansible-galaxy", "collection", "build", str(COLLECTION), "-v", "--output-path", str(where)
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (tarball,) = where.glob("lxpy-lxpy-*.tar.gz")
    installed = tool.run(
        "ansible-galaxy", "collection", "install", str(tarball), "-p", str(where / "collections")
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield tool
    shutil.rmtree(where)
    if not home_before:
        assert not os.path.exists(os.path.expanduser("~/.ansible")), "Ansible wrote ~/.ansible"


def inventory(path: Path, root: str, **options: Any) -> Path:
    """An lxpy.yml for the root's containers, with `options` besides."""
    config = {"plugin": "lxpy.lxpy.lxpy", "root": root, "lxpy_command": LXPY_COMMAND, **options}
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def recap(output: str, host: str) -> dict[str, int]:
    """The PLAY RECAP counts of `host`: {"ok": 4, "changed": 0, ...}."""
    line = next(
        line for line in output.splitlines() if line.startswith(f"{host} ") and "ok=" in line
    )
    return {k: int(v) for k, v in (word.split("=") for word in line.split() if "=" in word)}


# -- the inventory, and the connection into busybox ----------------------------------------

FLEET = """\
[fleet]
name = "inv"

[containers.app]
"""


def test_the_inventory_lists_every_container_in_its_groups(
    lxpy: Lxpy, ansible: Ansible, tmp_path: Path
) -> None:
    lxpy.run("create", "web")
    lxpy.run("start", "web")
    lxpy.run("create", "db")
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet/lxpy.toml").write_text(FLEET)
    lxpy.run("up", "-f", str(tmp_path / "fleet"), timeout=120)
    address = json.loads(lxpy.run("info", "web", "-f", "json").stdout)["ipv4"][0]

    # A host that does not answer (no such remote) is left out with a warning.
    path = inventory(tmp_path / "lxpy.yml", lxpy.root, remotes=["local", "nowhere"])
    listed = ansible.run("ansible-inventory", "-i", str(path), "--list")
    assert listed.returncode == 0, listed.stderr
    assert "nowhere" in listed.stderr and "left out" in listed.stderr
    # ansible-core 2.19 marks what an inventory plugin gives as data, never a template.
    found = json.loads(listed.stdout, object_hook=lambda o: o.get("__ansible_unsafe", o))
    hostvars = found["_meta"]["hostvars"]
    assert set(hostvars) == {"web", "db", "inv-app"}

    def hosts(group: str) -> set[str]:
        return set(found.get(group, {}).get("hosts", []))

    assert hosts("lxpy") == hosts("lxpy_remote_local") == {"web", "db", "inv-app"}
    assert hosts("lxpy_template_busybox") == {"web", "db", "inv-app"}
    assert hosts("lxpy_state_running") == {"web", "inv-app"}
    assert hosts("lxpy_state_stopped") == {"db"}
    assert hosts("lxpy_fleet_inv") == {"inv-app"}
    web = hostvars["web"]
    assert web["lxpy_state"] == "RUNNING" and web["lxpy_ipv4"] == address
    assert web["lxpy_addresses"] == [address] and web["lxpy_template"] == "busybox"
    assert web["ansible_host"] == "web" and web["ansible_connection"] == "lxpy.lxpy.lxpy"
    assert web["ansible_lxpy_root"] == lxpy.root and web["lxpy_fleet"] is None
    assert hostvars["db"]["lxpy_state"] == "STOPPED" and hostvars["db"]["lxpy_ipv4"] is None
    assert hostvars["inv-app"]["lxpy_fleet"] == "inv"

    # Through the connection: a command in each running container (busybox has no Python:
    # raw); the stopped one is unreachable, and nothing runs in it.
    ran = ansible.run("ansible", "lxpy", "-i", str(path), "-m", "raw", "-a", "cat /etc/hostname")
    assert ran.returncode == 4, ran.stdout + ran.stderr  # 4: a host was unreachable
    assert "web | CHANGED | rc=0 >>\nweb\n" in ran.stdout
    assert "inv-app | CHANGED | rc=0 >>\ninv-app\n" in ran.stdout
    assert "db | UNREACHABLE!" in ran.stdout and "is STOPPED" in ran.stdout

    # With no host answering, the inventory fails (instead of being empty).
    path = inventory(tmp_path / "none.lxpy.yml", lxpy.root, remotes=["nowhere"])
    failed = ansible.run(
        "ansible-inventory",
        "-i",
        str(path),
        "--list",
        env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"},
    )
    assert failed.returncode != 0 and "no host answered" in failed.stderr, failed.stderr


# -- across hosts: lxpy's remotes ---------------------------------------------------------


def test_containers_of_a_remote_host_are_listed_reached_and_managed(
    lxpy: Lxpy, far: Lxpy, sshd: Sshd, ansible: Ansible, tmp_path: Path
) -> None:
    """A second root behind the tests' sshd is the remote `far`: the inventory lists its
    containers as far:NAME, the connection runs a task in one through the remote's
    connection, and the module manages one there (`remote: far`)."""
    over_ssh = {SSH_COMMAND_ENV: sshd.ssh_command}
    lxpy.run("create", "here")
    far.run("create", "box")
    far.run("start", "box")
    path = inventory(tmp_path / "lxpy.yml", lxpy.root, remotes=["all"])
    listed = ansible.run("ansible-inventory", "-i", str(path), "--list", env=over_ssh)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout, object_hook=lambda o: o.get("__ansible_unsafe", o))
    assert set(found["lxpy_remote_far"]["hosts"]) == {"far:box"}
    assert set(found["lxpy_remote_local"]["hosts"]) == {"here"}
    assert found["_meta"]["hostvars"]["far:box"]["lxpy_state"] == "RUNNING"
    # A host that does not answer is left out, warned of; the others stay.
    known = registry.load(lxpy.paths)
    dead = registry.Remote("gone", "127.0.0.1", "root", 1)
    registry.save(lxpy.paths, registry.Remotes({**known.remotes, "gone": dead}))
    partial = ansible.run("ansible-inventory", "-i", str(path), "--list", env=over_ssh)
    assert partial.returncode == 0 and "cannot reach remote gone" in partial.stderr
    kept = json.loads(partial.stdout, object_hook=lambda o: o.get("__ansible_unsafe", o))
    assert set(kept["lxpy_remote_far"]["hosts"]) == {"far:box"}
    registry.save(lxpy.paths, known)
    ran = ansible.run(
        "ansible", "lxpy_remote_far", "-i", str(path), "-m", "raw", "-a", "hostname", env=over_ssh
    )
    assert ran.returncode == 0 and "far:box | CHANGED | rc=0 >>\nbox\n" in ran.stdout, ran.stdout
    args = {"name": "kept", "remote": "far", "state": "started", "lxpy_command": LXPY_COMMAND}
    assert module(ansible, {**args, "root": lxpy.root}, env=over_ssh)["status"] == "CHANGED"
    assert far.state("kept") == "RUNNING"
    again = module(ansible, {**args, "root": lxpy.root}, env=over_ssh)
    assert again["status"] == "SUCCESS" and not again["changed"]
    named = module(ansible, {**args, "name": "far:kept", "root": lxpy.root}, env=over_ssh)
    assert named["status"] == "FAILED!" and "give the host as remote" in named["msg"]
    gone = {**args, "state": "absent", "root": lxpy.root}
    assert module(ansible, gone, env=over_ssh)["status"] == "CHANGED"
    assert "kept" not in names(far)


# -- the module ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def module(
    ansible: Ansible, args: dict[str, Any], check: bool = False, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """lxpy.lxpy.lxpy_container run once on localhost: its result, with "status" (CHANGED,
    SUCCESS or FAILED!) as the ad-hoc command printed it."""
    extra = ["--check"] if check else []
    ran = ansible.run(
        "ansible",
        "localhost",
        "-m",
        "lxpy.lxpy.lxpy_container",
        "-a",
        json.dumps(args),
        *extra,
        env=env,
    )
    head, _, result = ran.stdout.partition(" => ")
    assert result, ran.stdout + ran.stderr
    found: dict[str, Any] = json.loads(result)
    found["status"] = head.split("|")[-1].strip()
    return found


def names(lx: Lxpy) -> list[str]:
    return [c["name"] for c in json.loads(lx.run("ls", "-f", "json").stdout)]


def test_the_module_converges_idempotently_and_check_mode_changes_nothing(
    lxpy: Lxpy, ansible: Ansible, tmp_path: Path
) -> None:
    share = tmp_path / "share"
    share.mkdir()
    (share / "hello").write_text("from the host\n")
    port = free_port()
    box = {"name": "box", "root": lxpy.root}
    configured = {
        **box,
        "limits": {"memory": "128M", "cpus": 1},
        "mounts": [f"{share}:/mnt/share:ro"],
        "ports": [f"127.0.0.1:{port}:80"],
    }

    def converge(state: str, **more: Any) -> None:
        """In check mode: changed, and nothing done; then done, changed; then again, not."""
        args = {**box, "state": state, **more}
        before = names(lxpy), [lxpy.state(n) for n in names(lxpy)]
        checked = module(ansible, args, check=True)
        assert checked["status"] == "CHANGED" and checked["changed"], checked
        assert (names(lxpy), [lxpy.state(n) for n in names(lxpy)]) == before
        first = module(ansible, args)
        assert first["status"] == "CHANGED" and first["commands"], first
        again = module(ansible, args)
        assert again["status"] == "SUCCESS" and not again["changed"], again
        assert again["commands"] == [], again

    converge("present")
    assert names(lxpy) == ["box"] and lxpy.state("box") == "STOPPED"

    converge("started", **{k: v for k, v in configured.items() if k not in box})
    assert lxpy.state("box") == "RUNNING"
    info = json.loads(lxpy.run("info", "box", "-f", "json").stdout)
    assert info["config"]["limits"]["memory"] == "128M" and info["config"]["limits"]["cpus"] == 1
    assert info["config"]["mounts"] == [
        {"source": str(share), "path": "/mnt/share", "readonly": True}
    ]
    assert info["ports"] == [
        {"address": "127.0.0.1", "host_port": port, "port": 80, "proto": "tcp"}
    ]
    assert sh(lxpy, "box", "cat /mnt/share/hello") == "from the host\n"
    # The same, said otherwise, is no change: 128M as 131072K, a trailing slash, tcp named.
    same = module(
        ansible,
        {
            **box,
            "limits": {"memory": "131072K", "cpus": 1.0},
            "mounts": [f"{share}/:/mnt/share/:ro"],
            "ports": [f"127.0.0.1:{port}:80/tcp"],
        },
    )
    assert not same["changed"] and same["container"]["state"] == "RUNNING", same
    # A limit unset, the mount read-write, the forward gone: each as one command.
    changed = module(
        ansible,
        {
            **box,
            "state": "present",
            "limits": {"memory": None},
            "mounts": [f"{share}:/mnt/share"],
            "ports": [],
        },
    )
    assert [c.split(lxpy.root + " ")[1] for c in changed["commands"]] == [
        "config unset box limits.memory",
        "mount rm box /mnt/share",
        f"mount add box {share} /mnt/share",
        f"port rm box 127.0.0.1:{port}/tcp",
    ]
    info = json.loads(lxpy.run("info", "box", "-f", "json").stdout)
    assert "memory" not in info["config"]["limits"] and info["ports"] == []
    assert info["config"]["mounts"] == [{"source": str(share), "path": "/mnt/share"}]
    # Numbers as YAML may quote them are numbers; a limit left at its default is unset.
    quoted = {**box, "state": "present", "limits": {"cpus": "2", "pids": None}}
    assert module(ansible, quoted)["changed"]
    assert json.loads(lxpy.run("info", "box", "-f", "json").stdout)["config"]["limits"]["cpus"] == 2
    assert not module(ansible, quoted)["changed"]

    converge("stopped")
    assert lxpy.state("box") == "STOPPED"

    # Made otherwise than asked: the task fails and changes nothing.
    wrong = module(ansible, {**box, "template": "debian"})
    assert wrong["status"] == "FAILED!" and "is a busybox container" in wrong["msg"], wrong
    assert lxpy.state("box") == "STOPPED"

    converge("absent")
    assert names(lxpy) == []


# -- the connection into Debian, with a playbook ---------------------------------------------

PLAYBOOK = """\
- name: Configure a container without sshd
  hosts: box
  tasks:
    - name: A file
      ansible.builtin.copy:
        content: "managed by ansible\\n"
        dest: /etc/managed
        mode: "0640"
    - name: A package
      ansible.builtin.apt:
        name: hello
        update_cache: true
    - name: A file out
      ansible.builtin.fetch:
        src: /etc/os-release
        dest: "{{ fetched }}/"
"""


@pytest.fixture(scope="module")
def debian() -> Iterator[Lxpy]:
    """A root with one running Debian container, box, with python3 and python3-apt for
    Ansible's modules (the apt module needs both); one bootstrap for the whole file."""
    with temporary_root("lxpy-ansible-") as lx:
        lx.run(
            "create", "box", "-t", "debian", "--packages", "python3,python3-apt", "-q", timeout=900
        )
        lx.run("start", "box")
        yield lx


@pytest.mark.slow
def test_a_playbook_configures_a_debian_container_and_again_changes_nothing(
    debian: Lxpy, ansible: Ansible, tmp_path: Path
) -> None:
    path = inventory(tmp_path / "lxpy.yml", debian.root)
    (tmp_path / "site.yml").write_text(PLAYBOOK)
    fetched = tmp_path / "fetched"
    play = ("-i", str(path), str(tmp_path / "site.yml"), "-vvv", "-e", f"fetched={fetched}")

    # Without pipelining: each module goes in as a file (lxpy file push), then runs.
    first = ansible.run("ansible-playbook", *play, timeout=600)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    assert recap(first.stdout, "box")["changed"] == 3, first.stdout[-1500:]
    assert "<box> PUT " in first.stdout
    assert sh(debian, "box", "cat /etc/managed; stat -c %a /etc/managed") == (
        "managed by ansible\n640\n"
    )
    assert sh(debian, "box", "hello") == "Hello, world!\n"
    assert (fetched / "box/etc/os-release").read_text() == sh(debian, "box", "cat /etc/os-release")

    # Again, pipelined (the module piped into Python inside): nothing to change, nothing put.
    again = ansible.run("ansible-playbook", *play, env={"ANSIBLE_PIPELINING": "true"}, timeout=600)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    counts = recap(again.stdout, "box")
    assert counts["changed"] == 0 and counts["failed"] == 0 and counts["ok"] == 4, counts
    assert "<box> PUT " not in again.stdout


def test_the_collection_documents_every_plugin(ansible: Ansible) -> None:
    """ansible-doc reads each plugin's DOCUMENTATION, EXAMPLES and RETURN (YAML that only
    Ansible parses: a stray `: ` breaks it)."""
    for kind, name in (
        ("inventory", "lxpy.lxpy.lxpy"),
        ("connection", "lxpy.lxpy.lxpy"),
        ("module", "lxpy.lxpy.lxpy_container"),
    ):
        doc = ansible.run("ansible-doc", "-t", kind, "--json", name)
        assert doc.returncode == 0, doc.stderr
        entry = json.loads(doc.stdout)[name]
        assert entry["doc"]["options"] and entry["examples"], (kind, name)


def test_the_modules_defaults_are_lxpys() -> None:
    """The module cannot import lxpy where it runs: its copy of lxpy's written defaults is
    held to lxpy's table here."""
    import importlib.util

    from lxpy.config.limits import LIMITS

    spec = importlib.util.spec_from_file_location(
        "lxpy_container", COLLECTION / "plugins/modules/lxpy_container.py"
    )
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    assert {
        limit.key: limit.default for limit in LIMITS.values() if limit.default is not None
    } == loaded.DEFAULT_LIMITS
