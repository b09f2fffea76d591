"""`lxpy check`: what this host offers and what lxpy needs (like `lxc-checkconfig`), each
missing piece with the one line that fixes it.

Every fact is read through a `Host`, whose root and PATH a test moves onto a fake tree: the
report must name what is missing, and only a tree with something missing shows that here.
"""

from __future__ import annotations

import os
import shutil

from lxpy.linux import cgroups, hostbin
from lxpy.linux.safefs import fstype

# The kernel that has every interface lxpy calls: openat2 (5.6), pidfd_open (5.3), the new
# mount API (5.2) and mount_setattr (5.12, read-only shared folders).
MIN_KERNEL = (5, 12)
NAMESPACES = ("mnt", "pid", "uts", "ipc", "net", "cgroup")
CONTROLLERS = ("memory", "cpu", "pids", "cpuset")


class Finding:
    """One fact: `needed` ones stop lxpy from running containers when missing; the others
    stop only the feature that `needed_for` names."""

    __slots__ = ("area", "detail", "fix", "item", "needed_for", "ok")

    def __init__(
        self, area: str, item: str, ok: bool, detail: str, fix: str = "", needed_for: str = ""
    ) -> None:
        self.area = area
        self.item = item
        self.ok = ok
        self.detail = detail
        self.fix = "" if ok else fix
        self.needed_for = needed_for

    @property
    def needed(self) -> bool:
        return not self.needed_for

    def to_json(self) -> dict[str, object]:
        return {
            "area": self.area,
            "item": self.item,
            "ok": self.ok,
            "needed": self.needed,
            "needed_for": self.needed_for or None,
            "detail": self.detail,
            "fix": self.fix or None,
        }


class Host:
    """Where the facts are read: "/" and the PATH, or a fake tree in tests; `probe`: the
    directories whose filesystems are tried for idmapped mounts (a kernel fact, so always
    tried for real), the state dir's among them."""

    def __init__(
        self, root: str = "/", path: str | None = None, probe: tuple[str, ...] = ("/dev/shm",)
    ) -> None:
        self.root = root
        self.probe = probe
        self.path = (
            os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin") if path is None else path
        )

    def file(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def read(self, path: str) -> str | None:
        try:
            with open(self.file(path)) as f:
                return f.read()
        except OSError:
            return None

    def which(self, *names: str) -> str | None:
        return next(filter(None, (shutil.which(n, path=self.path) for n in names)), None)


def _apt(package: str) -> str:
    return f"apt-get install {package}"


def kernel(host: Host) -> list[Finding]:
    release = (host.read("/proc/sys/kernel/osrelease") or "").strip()
    numbers = tuple(int(p) for p in release.split("-")[0].split(".")[:2] if p.isdigit())
    want = ".".join(map(str, MIN_KERNEL))
    return [
        Finding(
            "kernel",
            "version",
            numbers >= MIN_KERNEL,
            release or "unknown",
            f"boot a kernel of {want} or later",
        )
    ]


def namespaces(host: Host) -> list[Finding]:
    found = [
        Finding(
            "namespaces",
            ns,
            os.path.exists(host.file(f"/proc/self/ns/{ns}")),
            "",
            f"a kernel built with CONFIG_{ns.upper()}_NS",
        )
        for ns in NAMESPACES
    ]
    userns = (host.read("/proc/sys/user/max_user_namespaces") or "0").strip()
    found.append(
        Finding(
            "namespaces",
            "user",
            os.path.exists(host.file("/proc/self/ns/user")) and userns not in ("", "0"),
            f"max_user_namespaces {userns}",
            "sysctl -w user.max_user_namespaces=15000",
            needed_for="unprivileged containers",
        )
    )
    for kind in ("uid", "gid"):
        text = host.read(f"/etc/sub{kind}") or ""
        ranges = [line.split(":") for line in text.splitlines()]
        mine = [r for r in ranges if len(r) == 3 and r[0] == "root" and r[2].isdigit()]
        found.append(
            Finding(
                "namespaces",
                f"/etc/sub{kind}",
                any(int(r[2]) >= 65536 for r in mine),
                ", ".join(f"{r[1]}+{r[2]}" for r in mine) or "no range for root",
                f"usermod --add-sub{kind}s 1000000-1999999999 root",
                needed_for="unprivileged containers",
            )
        )
    return found


def control_groups(host: Host) -> list[Finding]:
    found = cgroups.hierarchies(host.read("/proc/self/mountinfo") or "")
    versions = {h.version for h in found}
    layout = {frozenset({1, 2}): "hybrid", frozenset({1}): "v1", frozenset({2}): "v2"}
    have = {c: h.version for h in reversed(found) for c in h.controllers}
    result = [
        Finding(
            "cgroups",
            "layout",
            bool(found),
            layout.get(frozenset(versions), "none mounted"),
            "mount cgroup2 on /sys/fs/cgroup",
        )
    ]
    for controller in CONTROLLERS:
        result.append(
            Finding(
                "cgroups",
                controller,
                controller in have,
                f"v{have[controller]}" if controller in have else "",
                f"enable the {controller} controller (cgroup_enable={controller} on the "
                "kernel command line)",
            )
        )
    # v2 has the freezer and device programs built in; v1 needs its controllers.
    for controller in ("freezer", "devices"):
        ok = controller in have or 2 in versions
        result.append(
            Finding(
                "cgroups",
                controller,
                ok,
                f"v{have.get(controller, 2)}" if ok else "",
                f"mount the v1 {controller} controller or cgroup2",
            )
        )
    io = "blkio" if have.get("blkio") == 1 else "io"
    result.append(
        Finding(
            "cgroups",
            io,
            io in have,
            f"v{have[io]}" if io in have else "",
            f"enable the {io} controller",
            needed_for="limits.io_weight",
        )
    )
    return result


def filesystems(host: Host) -> list[Finding]:
    known = {
        line.split()[-1] for line in (host.read("/proc/filesystems") or "").splitlines() if line
    }
    return [
        Finding("filesystems", "overlay", "overlay" in known, "", "modprobe overlay"),
        Finding(
            "filesystems",
            "btrfs",
            "btrfs" in known and host.which("btrfs") is not None,
            "in the kernel, no btrfs tool" if "btrfs" in known else "",
            _apt("btrfs-progs") if "btrfs" in known else "modprobe btrfs",
            needed_for="btrfs storage pools",
        ),
    ]


def idmapped_mounts(host: Host) -> list[Finding]:
    from lxpy.linux import syscalls, userns

    found = []
    try:
        ns = userns.mapped("0 1000000 65536", "0 1000000 65536")
    except OSError as e:
        return [
            Finding(
                "filesystems",
                "idmapped mounts",
                False,
                f"no user namespace: {e.strerror or e}",
                "enable user namespaces (see above)",
                needed_for="unprivileged containers",
            )
        ]
    try:
        for path in host.probe:
            existing = _existing(path)
            kind = fstype(existing)
            try:
                os.close(syscalls.clone_tree(existing, userns_fd=ns))
                ok, detail = True, f"{kind} ({existing})"
            except OSError as e:
                ok, detail = False, f"{kind} ({existing}): {e.strerror}"
            found.append(
                Finding(
                    "filesystems",
                    f"idmapped {kind}",
                    ok,
                    detail,
                    f"a kernel that idmaps {kind} (6.x), or state on ext4, btrfs or xfs",
                    needed_for="unprivileged containers",
                )
            )
    finally:
        os.close(ns)
    return found


def _existing(path: str) -> str:
    """`path`, or its nearest ancestor that exists (the state dir may not be made yet)."""
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def security(host: Host) -> list[Finding]:
    status = host.read("/proc/self/status") or ""
    return [
        Finding(
            "security",
            "seccomp",
            "Seccomp_filters:" in status,
            "",
            "a kernel built with CONFIG_SECCOMP_FILTER",
            needed_for="the seccomp filter",
        )
    ]


def programs(host: Host) -> list[Finding]:
    busybox = host.which("busybox")
    static = busybox is not None and hostbin.is_static(busybox)
    bootstrap = host.which("mmdebstrap", "debootstrap")
    return [
        Finding(
            "programs",
            "busybox (static)",
            static,
            busybox or "",
            _apt("busybox-static"),
        ),
        Finding("programs", "nft", bool(host.which("nft")), "", _apt("nftables"), "networks"),
        Finding(
            "programs", "dnsmasq", bool(host.which("dnsmasq")), "", _apt("dnsmasq-base"), "networks"
        ),
        Finding(
            "programs",
            "mmdebstrap",
            bootstrap is not None,
            bootstrap or "",
            _apt("mmdebstrap debian-archive-keyring"),
            "the debian template",
        ),
        Finding("programs", "zstd", bool(host.which("zstd")), "", _apt("zstd"), "export to .zst"),
    ]


CHECKS = (kernel, namespaces, control_groups, filesystems, idmapped_mounts, security, programs)


def run(host: Host | None = None) -> list[Finding]:
    host = host or Host()
    return [finding for check in CHECKS for finding in check(host)]
