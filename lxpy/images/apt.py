"""apt in a cached image: packages installed into an overlay layer over it, and apt's own
directories as a Debian install has them.

`install` runs this module as a helper (`python -m lxpy.images.apt`) that, in a mount
namespace of its own, mounts the overlay (the new layer as its upper) and a minimal /dev and
/proc in it, copies in the host's resolv.conf and a policy-rc.d that starts no service, and
runs apt-get chrooted there: on the host's network, the way the bootstrap reached the
archive, never through a container's. The namespace, and every mount in it, goes when the
helper exits, however it exits; the copied files are then taken out of the layer.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time

from lxpy.errors import TemplateError, UnsafePath
from lxpy.images import bootstrap
from lxpy.images.progress import Progress
from lxpy.linux import rootfs, safefs, syscalls
from lxpy.storage import overlay

# apt's download directories as debootstrap and Debian's installer leave them: _apt (which
# downloads, sandboxed) may enter the first and owns the second. (mmdebstrap's sync-in of
# the shared .deb cache gave the first the cache's 0700.)
APT_DIRS = (
    ("var/cache/apt/archives", 0o755, False),
    ("var/cache/apt/archives/partial", 0o700, True),
    ("var/lib/apt/lists", 0o755, False),
    ("var/lib/apt/lists/partial", 0o700, True),
)
POLICY_RC = "usr/sbin/policy-rc.d"
RESOLV_CONF = "etc/resolv.conf"
# apt's output, in the steps shown: the first line starting so begins each.
_STEPS = {"Get:": "downloading", "Unpacking ": "unpacking", "Setting up ": "configuring"}


def install(lowers: tuple[str, ...], partial: str, packages: tuple[str, ...], p: Progress) -> float:
    """Install `packages` (checked Debian names) with apt over the image `lowers`, into
    `partial`/upper (with `partial`/work and the mount point `partial`/merged, both empty).
    Returns the seconds it took; TemplateError with apt's reason when it fails."""
    started = time.monotonic()
    p.step(f"installing {', '.join(packages)} with apt")

    shown: set[str] = set()

    def step(line: str) -> None:
        for prefix, what in _STEPS.items():
            if line.startswith(prefix) and what not in shown:
                shown.add(what)
                p.step(what)

    argv = [sys.executable, "-m", "lxpy.images.apt", partial, *lowers, "--", *packages]
    code, tail = bootstrap.follow(argv, p, step)
    _remove_scaffolding(f"{partial}/upper")
    if code != 0:
        raise TemplateError(
            f"apt-get failed (exit status {code}): {bootstrap.why_failed(tail)}",
            hint="check the package names (`apt-cache policy NAME` on a Debian host)",
        )
    return time.monotonic() - started


def normalize_dirs(rootfd: int) -> None:
    """apt's download directories in the tree `rootfd` with the modes and owners of a Debian
    install, so apt inside downloads as _apt rather than warning "unsandboxed"."""
    apt_uid = _uid_of(rootfd, "_apt")
    for rel, mode, owned in APT_DIRS:
        try:
            fd = safefs.open_in(rootfd, rel, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        try:
            if owned and apt_uid is not None:
                os.fchown(fd, apt_uid, 0)
            os.fchmod(fd, mode)
        finally:
            os.close(fd)


def _uid_of(rootfd: int, user: str) -> int | None:
    try:
        passwd = safefs.read_file(rootfd, "etc/passwd").decode(errors="replace")
    except FileNotFoundError:
        return None
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0] == user and fields[2].isdigit():
            return int(fields[2])
    return None


def _script(packages: tuple[str, ...]) -> str:
    # No recommends, as the bootstrap: a layer holds what was asked and what that needs.
    # Then apt's downloads and package lists go: a layer holds the installed system only.
    return " && ".join(
        (
            "apt-get update -q",
            f"apt-get install -y -q --no-install-recommends {shlex.join(packages)}",
            "apt-get clean",
            "find /var/lib/apt/lists -mindepth 1 -maxdepth 1 -type f ! -name lock -delete",
        )
    )


def _helper(partial: str, lowers: tuple[str, ...], packages: tuple[str, ...]) -> int:
    """The helper's whole job; its mount namespace is its own from the first line."""
    syscalls.unshare(syscalls.CLONE_NEWNS)
    syscalls.mount(None, "/", None, syscalls.MS_REC | syscalls.MS_SLAVE)
    merged = f"{partial}/merged"
    mounted = overlay.mount_detached((lowers, f"{partial}/upper", f"{partial}/work"))
    target = safefs.open_tree(merged)
    try:
        syscalls.move_mount_to(mounted, target)
    finally:
        os.close(target)
        os.close(mounted)
    # Its own PID namespace too, the install run by its PID 1: whatever a package's script
    # leaves running (a daemon that detached) dies with it, and writes nothing into the
    # layer once it is sealed; its /proc shows the build's processes only.
    syscalls.unshare(syscalls.CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _install(merged, packages)
        except BaseException as e:
            print(f"lxpy: {e}", file=sys.stderr)
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _install(merged: str, packages: tuple[str, ...]) -> int:
    root = safefs.open_tree(merged)
    try:
        rootfs.setup_build_root(root)  # its /proc: this PID namespace's
        for rel, (data, mode) in _scaffolding().items():
            safefs.write_file(root, rel, data, mode)
        code = subprocess.run(
            ["chroot", merged, "/bin/sh", "-c", _script(packages)], env=bootstrap.ENV
        ).returncode
        normalize_dirs(root)
    finally:
        os.close(root)
    return code


def _scaffolding() -> dict[str, tuple[bytes, int]]:
    """Files the run needs and the layer must not keep: the host's resolver (apt resolves
    the mirror as the bootstrap did) and a policy-rc.d that lets no service start."""
    with open("/etc/resolv.conf", "rb") as f:
        resolv = f.read(1 << 16)
    return {
        RESOLV_CONF: (resolv, 0o644),
        POLICY_RC: (
            b"#!/bin/sh\n# lxpy: no service starts while packages install\nexit 101\n",
            0o755,
        ),
    }


def _remove_scaffolding(upper: str) -> None:
    # From the upper layer itself, the overlay unmounted: the image's own file (if it has
    # one) shows through again, and no whiteout hides it. Only while it is still ours: a
    # package that ships one (resolvconf, a policy-rc.d of its own) keeps it.
    fd = safefs.open_tree(upper)
    try:
        for rel, (data, _) in _scaffolding().items():
            with contextlib.suppress(FileNotFoundError, UnsafePath):
                if safefs.read_regular(fd, rel, len(data)) == data:
                    safefs.remove_in(fd, rel)
    finally:
        os.close(fd)


if __name__ == "__main__":
    _partial, *_rest = sys.argv[1:]
    _split = _rest.index("--")
    sys.exit(_helper(_partial, tuple(_rest[:_split]), tuple(_rest[_split + 1 :])))
