"""lxpy.lxpy.lxpy: tasks run inside an lxpy container through the lxpy command line, so that
a playbook configures containers that have no sshd (nor a network) of their own."""

from __future__ import annotations

import os
import shlex
import subprocess

from ansible.errors import AnsibleConnectionFailure, AnsibleError, AnsibleFileNotFound
from ansible.module_utils.common.text.converters import to_bytes, to_text
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

DOCUMENTATION = r"""
name: lxpy
short_description: Run tasks inside lxpy containers through the lxpy command line
description:
  - Runs each command inside a running lxpy container with C(lxpy attach NAME -- /bin/sh -c
    CMD), its input piped in, and copies files in and out with C(lxpy file push NAME SRC DST)
    and C(lxpy file pull NAME SRC DST), on the machine where Ansible runs.
  - The container needs no sshd and no network of its own; most modules need Python inside it
    (C(lxpy create -t debian --packages python3)), which the C(raw) module can install too.
  - A container of another host of lxpy's remotes is addressed C(REMOTE:NAME).
  - Pipelining works (the module is piped to Python inside), and saves a C(file push) and a
    command per task.
  - Before its first command, the connection checks that the container runs; a stopped,
    frozen or missing one makes the host unreachable, without running anything.
author: lxpy maintainers
version_added: 0.1.0
extends_documentation_fragment:
  - connection_pipelining
notes:
  - lxpy needs root. Run Ansible as root, or set O(lxpy_command) to C(sudo lxpy).
  - Privilege escalation that asks for a password is not supported (commands run on pipes,
    without a terminal); become without one (C(su) from root, C(sudo) with NOPASSWD) works.
options:
  remote_addr:
    description:
      - The container, as lxpy names it; C(REMOTE:NAME) for one on a remote host.
      - The P(lxpy.lxpy.lxpy#inventory) inventory sets C(ansible_host) to it.
    type: string
    default: inventory_hostname
    vars:
      - name: inventory_hostname
      - name: ansible_host
      - name: ansible_lxpy_host
  remote_user:
    description:
      - The user inside the container that runs the tasks (C(lxpy attach --user)).
      - Files put into the container (a module without pipelining, C(copy)'s source) then
        belong to this user.
    type: string
    default: root
    vars:
      - name: ansible_user
      - name: ansible_lxpy_user
    keyword:
      - name: remote_user
  executable:
    description:
      - The shell inside the container that runs each command.
    type: string
    default: /bin/sh
    vars:
      - name: ansible_executable
      - name: ansible_lxpy_executable
  lxpy_root:
    description:
      - The lxpy state root (C(lxpy --root DIR)).
      - The default is lxpy's own (C(LXPY_ROOT), else C(/var/lib/lxpy) and its kin).
    type: string
    vars:
      - name: ansible_lxpy_root
    env:
      - name: ANSIBLE_LXPY_ROOT
  lxpy_command:
    description:
      - How to run lxpy, split into words as a shell would (C(sudo lxpy),
        C(/opt/lxpy/bin/lxpy)).
    type: string
    default: lxpy
    vars:
      - name: ansible_lxpy_command
    env:
      - name: ANSIBLE_LXPY_COMMAND
"""

EXAMPLES = r"""
# An inventory of your own (the lxpy.lxpy.lxpy inventory sets all of this by itself):
# [boxes]
# web  ansible_connection=lxpy.lxpy.lxpy
# ci   ansible_connection=lxpy.lxpy.lxpy ansible_host=build1:ci
# lab  ansible_connection=lxpy.lxpy.lxpy ansible_lxpy_root=/srv/lab

- name: Configure a container without sshd
  hosts: web
  tasks:
    - name: Python first, for the modules (raw needs none)
      ansible.builtin.raw: command -v python3 || (apt-get update && apt-get install -y python3)
      changed_when: false
    - name: A package
      ansible.builtin.apt:
        name: nginx
        update_cache: true
"""

display = Display()


class Connection(ConnectionBase):  # type: ignore[misc]  # ansible-core has no type hints
    """Commands through `lxpy attach`, files through `lxpy file push` and `pull`."""

    _connected: bool

    transport = "lxpy.lxpy.lxpy"
    has_pipelining = True
    # Commands run on pipes: a become plugin that needs a terminal cannot prompt here.
    has_tty = False
    default_user = "root"

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._ids: tuple[int, int] | None = None  # the remote user's uid and gid inside

    def _container(self) -> str:
        return str(self.get_option("remote_addr"))

    def _user(self) -> str:
        return str(self.get_option("remote_user") or "root")

    def _lxpy(self, *args: str) -> list[str]:
        """The lxpy command line that runs `args`: the configured command, its root."""
        argv = shlex.split(self.get_option("lxpy_command") or "lxpy")
        if not argv:
            raise AnsibleError("lxpy_command is empty")
        root = self.get_option("lxpy_root")
        return [*argv, *(["--root", str(root)] if root else []), *args]

    def _attach(self, user: str, script: str) -> list[str]:
        """The command line that has the shell inside run `script` as `user`."""
        shell = str(self.get_option("executable") or "/bin/sh")
        name = self._container()
        return self._lxpy("attach", name, "--user", user, "--", shell, "-c", script)

    def _run(self, argv: list[str], in_data: bytes | None = None) -> tuple[int, bytes, bytes]:
        display.vvvvv(f"LXPY {shlex.join(argv)}", host=self._container())
        try:
            proc = subprocess.run(
                [to_bytes(word, errors="surrogate_or_strict") for word in argv],
                input=in_data,
                stdin=subprocess.DEVNULL if in_data is None else None,
                capture_output=True,
                check=False,
            )
        except OSError as e:
            raise AnsibleConnectionFailure(f"cannot run {argv[0]}: {e}") from e
        return proc.returncode, proc.stdout, proc.stderr

    def _connect(self) -> Connection:
        """Check that the container runs: a stopped, frozen or missing one is unreachable
        (attaching to a frozen one would wait until it thaws)."""
        super()._connect()
        if not self._connected:
            name = self._container()
            display.vvv(f"ESTABLISH LXPY CONNECTION FOR USER: {self._user()}", host=name)
            code, _, err = self._run(self._lxpy("wait", name, "--state", "RUNNING", "-t", "0"))
            if code != 0:
                raise AnsibleConnectionFailure(_said(err) or f"{name} does not run")
            self._connected = True
        return self

    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = True
    ) -> tuple[int, bytes, bytes]:
        """`cmd` run by the shell inside, as the remote user, `in_data` on its stdin."""
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        name = self._container()
        display.vvv(f"EXEC {cmd}", host=name)
        return self._run(self._attach(self._user(), cmd), in_data)

    def put_file(self, in_path: str, out_path: str) -> None:
        super().put_file(in_path, out_path)
        name = self._container()
        display.vvv(f"PUT {in_path} TO {out_path}", host=name)
        if not os.path.isfile(to_bytes(in_path, errors="surrogate_or_strict")):
            raise AnsibleFileNotFound(f"input path is not a file: {in_path}")
        uid, gid = self._owner()
        argv = self._lxpy("file", "push", "--uid", str(uid), "--gid", str(gid), name)
        code, _, err = self._run([*argv, in_path, out_path])
        if code != 0:
            raise AnsibleError(f"lxpy file push {name} {in_path} {out_path}: {_said(err)}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        super().fetch_file(in_path, out_path)
        name = self._container()
        display.vvv(f"FETCH {in_path} TO {out_path}", host=name)
        code, _, err = self._run(self._lxpy("file", "pull", name, in_path, out_path))
        if code != 0:
            raise AnsibleError(f"lxpy file pull {name} {in_path} {out_path}: {_said(err)}")

    def _owner(self) -> tuple[int, int]:
        """The uid and gid inside of the remote user, asked once (root's are 0 and 0)."""
        if self._ids is None:
            user = self._user()
            if user in ("root", "0"):
                self._ids = (0, 0)
            else:
                code, out, err = self._run(self._attach(user, "id -u && id -g"))
                ids = out.split()
                if code != 0 or len(ids) != 2 or not all(i.isdigit() for i in ids):
                    raise AnsibleConnectionFailure(
                        f"no ids of user {user} in {self._container()}: {_said(err)}"
                    )
                self._ids = (int(ids[0]), int(ids[1]))
        return self._ids

    def reset(self) -> None:
        """Nothing is kept open between commands: a reset is a close."""
        self.close()

    def close(self) -> None:
        super().close()
        self._connected = False


def _said(err: bytes) -> str:
    """What lxpy (or the command) wrote on stderr, as one text."""
    return str(to_text(err, errors="surrogate_or_replace")).strip()
