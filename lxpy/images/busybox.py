"""The busybox bootstrap: a rootfs built offline from the host's static busybox binary."""

from __future__ import annotations

import os
import subprocess

from lxpy.errors import TemplateError
from lxpy.linux import hostbin, safefs

DIRECTORIES = {
    "bin": 0o755,
    "sbin": 0o755,
    "usr/bin": 0o755,
    "usr/sbin": 0o755,
    "etc/init.d": 0o755,
    "root": 0o700,
    "home": 0o755,
    "tmp": 0o1777,
    "var/log": 0o755,
    "var/tmp": 0o1777,
    "run": 0o755,
    "proc": 0o555,
    "sys": 0o555,
    "dev": 0o755,
    "mnt": 0o755,
}


def find_busybox() -> str:
    found = hostbin.static_busybox()
    if found is None:
        raise TemplateError(
            "no static busybox found on the host",
            hint="install it: apt-get install busybox-static",
        )
    return found


def bootstrap(rootfd: int) -> None:
    binary = find_busybox()
    for rel, mode in DIRECTORIES.items():
        os.close(safefs.makedirs(rootfd, rel, mode))
        real = safefs.open_in(rootfd, rel, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fchmod(real, mode)
        finally:
            os.close(real)
    with open(binary, "rb") as f:
        safefs.write_file(rootfd, "bin/busybox", f.read(), 0o755)
    applets = subprocess.run(
        [binary, "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet == "bin/busybox" or "/" not in applet or ".." in applet:
            continue
        safefs.symlink(rootfd, applet, "/bin/busybox")
