"""Where lxpy keeps state. One setting (`--root` or LXPY_ROOT) moves all of it."""

from __future__ import annotations

import os
import zlib

from lxpy.errors import PermissionDenied
from lxpy.names import validate
from lxpy.records import Record

DEFAULT_INSTANCE = "lxpy"


class Paths(Record):
    lib: str
    run: str
    cache: str
    # Prefix for host-global names (cgroups, interfaces) so two roots never collide.
    instance: str
    etc: str  # settings people edit (the TUI's keys and shell)

    @classmethod
    def for_root(cls, root: str | None) -> Paths:
        if not root:
            return cls(
                "/var/lib/lxpy", "/run/lxpy", "/var/cache/lxpy", DEFAULT_INSTANCE, "/etc/lxpy"
            )
        root = os.path.abspath(root)
        # A short id keeps derived names (interfaces: 15 chars) short; crc32 and not hashlib
        # because loading OpenSSL is measurable in every command.
        digest = f"{zlib.crc32(root.encode()):08x}"
        return cls(f"{root}/lib", f"{root}/run", f"{root}/cache", f"lxpy-{digest}", f"{root}/etc")

    @classmethod
    def from_env(cls, root: str | None = None) -> Paths:
        return cls.for_root(root or os.environ.get("LXPY_ROOT"))

    @property
    def root(self) -> str | None:
        """The --root these paths are under (None: the default places)."""
        return None if self.instance == DEFAULT_INSTANCE else os.path.dirname(self.lib)

    @property
    def remotes_file(self) -> str:
        """The remote hosts this root knows (lxpy/remote/registry.py)."""
        return f"{self.etc}/remotes.toml"

    @property
    def containers(self) -> str:
        return f"{self.lib}/containers"

    def container_dir(self, name: str) -> str:
        return f"{self.containers}/{validate(name)}"

    def config_file(self, name: str) -> str:
        return f"{self.container_dir(name)}/config.toml"

    def rootfs(self, name: str) -> str:
        return f"{self.container_dir(name)}/rootfs"

    def console_log(self, name: str) -> str:
        return f"{self.container_dir(name)}/console.log"

    def config_cache(self, name: str) -> str:
        return f"{self.cache}/config/{validate(name)}"

    def run_dir(self, name: str) -> str:
        return f"{self.run}/containers/{validate(name)}"

    def lock_file(self, name: str) -> str:
        return f"{self.run}/locks/{validate(name)}.lock"

    @property
    def pools_lock(self) -> str:
        """Held while a storage pool is made, mounted or removed."""
        return f"{self.run}/locks/.pools.lock"

    @property
    def idmaps_lock(self) -> str:
        """Held while a container's host ids are chosen ("." is in no container name)."""
        return f"{self.run}/locks/.idmaps.lock"

    @property
    def images(self) -> str:
        # In lib, not cache: overlay containers keep using an image as their lower layer.
        return f"{self.lib}/images"

    @property
    def debs(self) -> str:
        """Downloaded packages, kept between bootstraps (safe to delete)."""
        return f"{self.cache}/debs"

    def image_lock(self, key: str) -> str:
        # "image." cannot begin a container name, so the two kinds of lock never meet.
        return f"{self.run}/locks/image.{key}.lock"

    def ensure(self) -> None:
        """Create the state dirs root-only. The run dir itself is 0711: dnsmasq, which drops
        to an unprivileged user, must reach its network's files in run/networks (0755);
        sockets and locks stay in 0700 directories below it."""
        if os.geteuid() != 0:
            raise PermissionDenied("lxpy needs root", hint="run it with sudo")
        for path, mode in (
            (self.containers, 0o700),
            (self.images, 0o700),
            (self.cache, 0o700),
            (f"{self.cache}/config", 0o700),
            (f"{self.run}/containers", 0o700),
            (f"{self.run}/locks", 0o700),
            (f"{self.run}/networks", 0o755),
        ):
            os.makedirs(path, mode=0o700, exist_ok=True)
            _check_private(path, mode)
        _check_private(self.run, 0o711)


def _check_private(path: str, mode: int) -> None:
    """Refuse a state dir that is a symlink or that others may write (LXC CVE-2015-1331)."""
    st = os.lstat(path)
    if os.path.islink(path) or st.st_uid != 0:
        raise PermissionDenied(f"{path} is not a root-owned directory")
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)
