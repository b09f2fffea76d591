"""ssh to a running container by its name: `lxpy ssh` and `lxpy ssh-config`.

The box's sshd holds the host user's own public keys (`create --user` copied them in), so
ssh runs as that person, with their keys, ssh config and known_hosts: lxpy makes no key.
NAME.DOMAIN resolves on the host while the container runs (lxpy.net.hostsfile).
"""

from __future__ import annotations

import os
import pwd

from lxpy.config import ContainerConfig
from lxpy.net import model
from lxpy.paths import Paths
from lxpy.runtime import guest
from lxpy.storage import overlay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

SSHD = "usr/sbin/sshd"


class SshTarget:
    """Where and as whom ssh reaches one container: its first NIC's NAME.DOMAIN."""

    __slots__ = ("address", "alias", "host", "name", "user")

    def __init__(self, name: str, user: str, host: str, address: str, alias: str) -> None:
        self.name, self.user, self.host, self.address, self.alias = name, user, host, address, alias

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}"

    def options(self) -> list[tuple[str, str]]:
        """What every connection to it sets (`ssh -o KEY=VALUE`, or ssh_config lines).

        A machine's host keys are its own (made at its first boot), not its name's: keyed
        by the machine's uuid, a box destroyed and made again under the same name meets no
        stale known_hosts line ("REMOTE HOST IDENTIFICATION HAS CHANGED"). accept-new
        trusts a new machine's keys on first use, when its address comes from lxpy's own
        records on one of the host's bridges; a changed key of a known machine is still
        refused."""
        return [("HostKeyAlias", self.alias), ("StrictHostKeyChecking", "accept-new")]

    def argv(self, user: str, cmd: list[str]) -> list[str]:
        options = [arg for key, value in self.options() for arg in ("-o", f"{key}={value}")]
        # "--": what follows the destination is the remote command, never ssh's options.
        return ["ssh", *options, "--", f"{user}@{self.host}", *cmd]


def target(paths: Paths, name: str, cfg: ContainerConfig) -> SshTarget | None:
    """How ssh reaches `name` (as its own user, else root); None without a NIC or sshd."""
    if not cfg.network or not guest.has_file(overlay.layer_roots(paths, name, cfg), SSHD):
        return None
    network = model.load(paths, cfg.network[0].network)
    address = model.kept_addresses(paths, network.name).get(name, "")
    host = f"{name}.{network.domain}"
    return SshTarget(name, cfg.user.name or "root", host, address, f"lxpy-{cfg.uuid}")


def exec_as_owner(argv: list[str], box_user: str) -> NoReturn:
    """Exec `argv` as the person whose keys the box holds, found as `create --user` found
    them: the host account named like the box's user, else the user who ran sudo; else as
    root, as we run."""
    account = _owner(box_user)
    if account is not None:
        os.initgroups(account.pw_name, account.pw_gid)
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)  # as root: real, effective and saved ids, for good
        os.environ.update(HOME=account.pw_dir, USER=account.pw_name, LOGNAME=account.pw_name)
    os.execvp(argv[0], argv)


def _owner(box_user: str) -> pwd.struct_passwd | None:
    if box_user and box_user != "root":
        try:
            return pwd.getpwnam(box_user)
        except KeyError:
            pass
    sudo_uid = os.environ.get("SUDO_UID", "")
    if sudo_uid.isdigit() and int(sudo_uid) != 0:
        try:
            return pwd.getpwuid(int(sudo_uid))
        except KeyError:
            pass
    return None
