"""An sshd of the tests' own on a loopback port, with a host key and a user key made for
it: never the system's sshd, config or keys. `lxpy` reaches it through LXPY_SSH_COMMAND
(`ssh -F` its own client config), as a user's ~/.ssh/config would."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"


@dataclass(frozen=True)
class Sshd:
    port: int
    client_config: str

    @property
    def ssh_command(self) -> str:
        return f"ssh -F {self.client_config}"

    @property
    def address(self) -> str:
        return f"root@127.0.0.1:{self.port}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path, "-C", "lxpy-test"],
        check=True,
    )


@contextlib.contextmanager
def running_sshd(directory: str) -> Iterator[Sshd]:
    """sshd on 127.0.0.1 letting root in with a key made here; stopped at the end."""
    _keygen(f"{directory}/host_key")
    _keygen(f"{directory}/user_key")
    os.rename(f"{directory}/user_key.pub", f"{directory}/authorized_keys")
    port = _free_port()
    with open(f"{directory}/sshd_config", "w") as f:
        f.write(
            f"ListenAddress 127.0.0.1:{port}\n"
            f"HostKey {directory}/host_key\n"
            f"AuthorizedKeysFile {directory}/authorized_keys\n"
            f"PidFile {directory}/sshd.pid\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        )
    with open(f"{directory}/host_key.pub") as f:
        host_key = f.read().split()
    with open(f"{directory}/known_hosts", "w") as f:
        f.write(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    with open(f"{directory}/ssh_config", "w") as f:
        f.write(
            "Host *\n"
            f"  IdentityFile {directory}/user_key\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {directory}/known_hosts\n  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
        )
    # sshd's privilege separation directory, which its package's service would make.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    # -D: it stays our child, so it is stopped however the tests end.
    proc = subprocess.Popen(
        [SSHD, "-D", "-f", f"{directory}/sshd_config", "-E", f"{directory}/sshd.log"]
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert proc.poll() is None, Path(f"{directory}/sshd.log").read_text()
            time.sleep(0.05)
        yield Sshd(port, f"{directory}/ssh_config")
    finally:
        proc.terminate()
        proc.wait(10)
