"""A container's rootfs storage: a plain directory, or an overlay on sealed layers and a
cached image.

Overlay layout in the container's directory:

    rootfs/          the mount point (empty on the host: the overlay is mounted only
                     inside the container's own mount namespace)
    overlay/upper    the container's own changes
    overlay/work     overlayfs's scratch space

Writes at create time go through a detached mount (fsopen/fsmount): no namespace ever sees
it, and closing the fd unmounts it, so an interrupted create cannot leak a mount.
Imported on the start path: standard library only.
"""

from __future__ import annotations

import os

from lxpy.config import ContainerConfig, StorageKind
from lxpy.errors import LxpyError, NotFound
from lxpy.linux import syscalls
from lxpy.paths import Paths

OverlayDirs = tuple[tuple[str, ...], str, str]  # (lower dirs, top first; upper; work)


def layer_dir(paths: Paths, ref: str) -> str:
    """Where the sealed layer "CONTAINER/ID" lives: in the directory of the container that
    made it (which therefore cannot go while another container stands on it)."""
    owner, _, layer = ref.partition("/")
    return f"{paths.container_dir(owner)}/layers/{layer}"


def image_lowers(paths: Paths, ref: str) -> list[str]:
    """The lower layers of the cached image `ref`, top first: "KEY/BUILD" is the build's tree,
    "KEY/BUILD/LAYER" a package layer stacked on it (see images.package_layers)."""
    key, build, *layer = ref.split("/")
    base = f"{paths.images}/{key}/{build}"
    return [*(f"{base}/layers/{name}/upper" for name in layer), f"{base}/rootfs"]


def overlay_dirs(paths: Paths, name: str, cfg: ContainerConfig) -> OverlayDirs | None:
    """The overlay's directories, None for a plain directory."""
    if cfg.storage.kind != StorageKind.OVERLAY:
        return None
    lowers = [layer_dir(paths, ref) for ref in cfg.storage.layers]
    if cfg.storage.image:
        image = image_lowers(paths, cfg.storage.image)
        if not all(os.path.isdir(lower) for lower in image):
            raise NotFound(
                f"container {name!r} stands on image {cfg.storage.image}, which is missing",
                hint="restore the image directory under the image store, or recreate it",
            )
        lowers.extend(image)
    for lower in lowers:
        if not os.path.isdir(lower):
            raise NotFound(f"container {name!r} stands on the layer {lower}, which is missing")
    overlay = f"{paths.container_dir(name)}/overlay"
    return tuple(lowers), f"{overlay}/upper", f"{overlay}/work"


def overlay_options(dirs: OverlayDirs) -> list[tuple[str, str | None]]:
    lowers, upper, work = dirs
    return [*(("lowerdir+", lower) for lower in lowers), ("upperdir", upper), ("workdir", work)]


def make_overlay_dirs(container_dir: str) -> None:
    os.mkdir(f"{container_dir}/rootfs", 0o755)
    os.mkdir(f"{container_dir}/overlay", 0o700)
    # The upper layer's top directory becomes the container's / : its mode shows inside.
    os.mkdir(f"{container_dir}/overlay/upper", 0o755)
    os.chmod(f"{container_dir}/overlay/upper", 0o755)
    os.mkdir(f"{container_dir}/overlay/work", 0o700)


def mount_detached(dirs: OverlayDirs) -> int:
    """The overlay as a detached mount: an fd to its root, usable with safefs."""
    try:
        return syscalls.fsmount_new("overlay", overlay_options(dirs))
    except OSError as e:
        raise LxpyError(
            f"cannot mount the overlay for {os.path.dirname(dirs[1])}: {e.strerror}",
            hint="the kernel needs overlayfs, and the container's directory a filesystem "
            "that supports it (not overlayfs itself on older kernels)",
        ) from None


def open_lowers(lowers: tuple[str, ...]) -> int:
    """An fd for the read-only tree of `lowers` stacked (a snapshot's layers): the one
    directory itself, or an overlay without an upper layer, mounted detached."""
    if len(lowers) == 1:
        return os.open(lowers[0], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        return syscalls.fsmount_new("overlay", [("lowerdir+", lower) for lower in lowers])
    except OSError as e:
        raise LxpyError(f"cannot mount the layers {', '.join(lowers)}: {e.strerror}") from None


def rootfs_dir(paths: Paths, name: str, cfg: ContainerConfig) -> str:
    """The directory its `/` is mounted on: the rootfs directory in the state root (an
    overlay's mount point), or its subvolume in a btrfs pool."""
    if cfg.storage.kind == StorageKind.BTRFS:
        from lxpy.storage import btrfs

        return btrfs.rootfs(paths, name, cfg)
    return paths.rootfs(name)


def layer_roots(paths: Paths, name: str, cfg: ContainerConfig) -> list[str]:
    """The directories whose files make the container's tree, bottom first: its rootfs
    directory, or an overlay's lower directories and then its upper one."""
    dirs = overlay_dirs(paths, name, cfg)
    return [rootfs_dir(paths, name, cfg)] if dirs is None else [*reversed(dirs[0]), dirs[1]]


def open_rootfs(paths: Paths, name: str, cfg: ContainerConfig) -> int:
    """An fd for the `/` of a stopped container: its overlay, mounted detached, or its rootfs
    directory. The caller holds its lock, so that it cannot start on the same overlay."""
    from lxpy.linux import safefs  # not at the top: `lxpy start` needs none

    dirs = overlay_dirs(paths, name, cfg)
    return mount_detached(dirs) if dirs else safefs.open_tree(rootfs_dir(paths, name, cfg))


def open_snapshot(paths: Paths, name: str, snap: str, cfg: ContainerConfig) -> int:
    """An fd for the tree of the container's snapshot `snap`, whose config is `cfg`: its
    read-only btrfs subvolume, or its layers stacked."""
    from lxpy.linux import safefs

    if cfg.storage.kind == StorageKind.BTRFS:
        from lxpy.storage import btrfs

        return safefs.open_tree(btrfs.snapshot(paths, name, cfg, snap))
    dirs = overlay_dirs(paths, name, cfg)
    assert dirs is not None  # a snapshot outside a pool always stands on layers
    return open_lowers(dirs[0])
