"""The image cache: bootstrapped trees, one directory per plan key, kept as builds.

    <lib>/images/KEY/BUILD/rootfs       the tree, the lower layer of overlay containers
    <lib>/images/KEY/BUILD/image.toml   the plan it came from and how long it took
    <lib>/images/KEY/.partial-XXXX      a build in progress (removed if interrupted)

A refresh adds a new build instead of replacing the old one: containers whose overlay sits
on the old build keep it until the last of them is gone. Nothing here deletes a build that a
container still uses.
"""

from __future__ import annotations

import datetime
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from lxpy import store
from lxpy.config.tomlfile import TomlFile, parse, read_text
from lxpy.errors import Busy, ConfigError, LxpyError, NotFound, StateError
from lxpy.images import apt, bootstrap
from lxpy.images.plan import Plan
from lxpy.images.progress import Progress
from lxpy.linux import safefs
from lxpy.linux.atomic import write_atomic
from lxpy.linux.locks import locked_file
from lxpy.paths import Paths
from lxpy.storage.secrets import remove_from_tree
from lxpy.storage.trees import tree_size

if TYPE_CHECKING:
    from lxpy.images.package_layers import Layer

_BUILD = re.compile(r"\d{8}T\d{6}Z(\.\d+)?")
IMAGE_KEYS = ("built", "tool", "seconds", "download_seconds", "size", "plan")


@dataclass(frozen=True)
class Image:
    key: str
    build: str
    path: str
    plan: dict[str, object]
    built: str
    seconds: float
    download_seconds: float
    size: int

    @property
    def ref(self) -> str:
        """How a container's config names this image: "KEY/BUILD"."""
        return f"{self.key}/{self.build}"

    @property
    def rootfs(self) -> str:
        return f"{self.path}/rootfs"

    @property
    def lowers(self) -> tuple[str, ...]:
        """The overlay lower layers a container on it stands on, top first."""
        return (self.rootfs,)


def read(path: str, key: str, build: str) -> Image:
    """The build at `path`, from its image.toml; ConfigError names what is wrong with it."""
    toml = f"{path}/image.toml"
    try:
        text = read_text(toml)
    except FileNotFoundError:
        raise ConfigError(f"{toml}: missing") from None
    top = TomlFile(toml, text).top(parse(toml, text), IMAGE_KEYS)
    return Image(
        key=key,
        build=build,
        path=path,
        plan=top.get("plan", dict),
        built=top.get("built", str),
        seconds=float(top.get("seconds", (int, float))),
        download_seconds=float(top.get("download_seconds", (int, float))),
        size=top.get("size", int),
    )


def images(paths: Paths, key: str | None = None) -> list[Image]:
    """Complete builds, oldest first within each key."""
    found: list[Image] = []
    try:
        keys = sorted(os.listdir(paths.images)) if key is None else [key]
    except FileNotFoundError:
        return []
    for k in keys:
        try:
            builds = sorted(b for b in os.listdir(f"{paths.images}/{k}") if _BUILD.fullmatch(b))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for b in builds:
            try:
                found.append(read(f"{paths.images}/{k}/{b}", k, b))
            except ConfigError:
                continue  # unreadable metadata: not offered for new containers, never deleted
    return found


def get(paths: Paths, ref: str) -> Image:
    key, _, build = ref.partition("/")
    for image in images(paths, key):
        if image.build == build:
            return image
    raise NotFound(f"image {ref} is missing from the cache", hint="see `lxpy cache ls`")


def containers_by_image(paths: Paths) -> dict[str, list[str]]:
    """Image ref -> the containers whose overlay stands on it."""
    found: dict[str, list[str]] = {}
    for name in store.names_on_disk(paths):
        try:
            cfg = store.load(paths, name)
        except LxpyError:
            continue
        if cfg.storage.image:
            found.setdefault(cfg.storage.image, []).append(name)
    return found


def lock(paths: Paths, key: str) -> AbstractContextManager[None]:
    """The lock of an image key: its builds and their package layers are made and removed
    under it."""
    return locked_file(
        paths.image_lock(key),
        Busy(f"image {key} is being built by another lxpy command", hint="wait and try again"),
        timeout=3600,
    )


@contextmanager
def held(paths: Paths, image: Image | Layer) -> Iterator[None]:
    """Keep `image` (a build or a package layer) from being removed meanwhile; NotFound if it
    went before the lock."""
    with lock(paths, image.key):
        if not all(os.path.isdir(lower) for lower in image.lowers):
            raise NotFound(f"image {image.ref} was removed meanwhile", hint="create again")
        yield


def ensure(paths: Paths, plan: Plan, progress: Progress, refresh: bool = False) -> Image:
    """The newest build for `plan`, bootstrapped now if there is none (or if `refresh`)."""
    key = plan.key
    paths.ensure()
    with lock(paths, key):
        existing = images(paths, key)
        if existing and not refresh:
            progress.step(f"using cached image {existing[-1].ref}")
            return existing[-1]
        directory = f"{paths.images}/{key}"
        os.makedirs(directory, mode=0o700, exist_ok=True)
        clean_partials(directory)
        partial = f"{directory}/.partial-{secrets.token_hex(4)}"
        os.mkdir(partial, 0o700)
        try:
            os.mkdir(f"{partial}/rootfs", 0o755)
            timing = bootstrap.run(plan, f"{partial}/rootfs", paths.debs, progress)
            remove_from_tree(f"{partial}/rootfs", plan.secrets)
            rootfd = safefs.open_tree(f"{partial}/rootfs")
            try:
                apt.normalize_dirs(rootfd)
            finally:
                os.close(rootfd)
            now = datetime.datetime.now(datetime.UTC)
            build = now.strftime("%Y%m%dT%H%M%SZ")
            while os.path.exists(f"{directory}/{build}"):
                build = f"{now.strftime('%Y%m%dT%H%M%SZ')}.{secrets.randbelow(10**6)}"
            doc = {
                "built": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tool": timing.tool,
                "seconds": round(timing.seconds, 3),
                "download_seconds": round(timing.download_seconds, 3),
                "size": tree_size(f"{partial}/rootfs"),
                "plan": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in asdict(plan).items()
                },
            }
            import tomli_w

            image_toml = tomli_w.dumps(doc).encode()
            write_atomic(f"{partial}/image.toml", image_toml, 0o644, fsync=True)
            os.rename(partial, f"{directory}/{build}")
        except BaseException:
            safefs.remove_tree(partial)
            raise
        progress.step(
            f"cached image {key}/{build} in {timing.seconds:.1f} s "
            f"({timing.download_seconds:.1f} s downloading)"
        )
        return read(f"{directory}/{build}", key, build)


def remove(paths: Paths, selector: str) -> list[Image | Layer]:
    """Remove what `selector` names: KEY (its builds), KEY/BUILD, or KEY/BUILD/LAYER (one
    package layer). A build goes with its package layers. Refuses, naming them, while
    containers stand on any of it."""
    from lxpy.images import package_layers

    key, _, rest = selector.partition("/")
    build, _, layer = rest.partition("/")
    builds = [i for i in images(paths, key) if not build or i.build == build]
    chosen: list[Image | Layer] = list(builds)
    if layer and builds:
        chosen = [found for found in package_layers.layers(builds[0]) if found.name == layer]
    if not chosen:
        raise NotFound(f"no cached image {selector}", hint="see `lxpy cache ls`")
    with lock(paths, key):
        used = containers_by_image(paths)
        for item in chosen:
            users = users_of(used, item.ref)
            if users:
                raise StateError(
                    f"image {item.ref} is used by {', '.join(users)}",
                    hint="destroy those containers first (or give them a full copy)",
                )
        gone: list[Image | Layer] = []
        for item in chosen:
            if isinstance(item, Image):
                gone.extend(package_layers.layers(item))
            gone.append(item)
            safefs.remove_tree(item.path)
        try:
            os.rmdir(f"{paths.images}/{key}")
        except OSError:
            pass  # other builds (or an unreadable one) remain
    return gone


def users_of(used: dict[str, list[str]], ref: str) -> list[str]:
    """The containers standing on `ref` or on a package layer over it, from
    `containers_by_image`."""
    return sorted(
        n for r, names in used.items() if r == ref or r.startswith(f"{ref}/") for n in names
    )


def prune(paths: Paths, key: str) -> list[Image]:
    """Remove the builds of `key` (with their package layers) that are neither the newest
    nor used by any container."""
    with lock(paths, key):
        builds = images(paths, key)
        used = containers_by_image(paths)
        gone = [i for i in builds[:-1] if not users_of(used, i.ref)]
        for image in gone:
            safefs.remove_tree(image.path)
    return gone


def clean_partials(directory: str) -> None:
    for entry in os.listdir(directory):
        if entry.startswith(".partial-"):
            safefs.remove_tree(f"{directory}/{entry}")


def refresh(paths: Paths, keys: list[str], progress: Progress) -> list[Image | Layer]:
    """A new build of each key from the plan its newest build recorded (all keys when none
    are given), and over it a new build of each package layer the newest build had (each
    made because a create asked for it); then the older builds that no container uses go."""
    from lxpy.images import package_layers

    newest: dict[str, Image] = {}
    for image in images(paths):
        newest[image.key] = image
    chosen = keys or sorted(newest)
    for key in chosen:
        if key not in newest:
            raise NotFound(f"no cached image {key}", hint="see `lxpy cache ls`")
    built: list[Image | Layer] = []
    for key in chosen:
        wanted = package_layers.layers(newest[key])
        plan = _plan_of(newest[key])
        image = ensure(paths, plan, progress, refresh=True)
        built.append(image)
        for layer in wanted:
            built.append(package_layers.ensure(paths, image, plan, layer.packages, progress))
        prune(paths, key)
    return built


def _plan_of(image: Image) -> Plan:
    doc = dict(image.plan)
    try:
        return Plan(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in doc.items()}  # type: ignore[arg-type]
        )
    except TypeError as e:
        raise LxpyError(f"image {image.ref}: its recorded plan is unreadable ({e})") from None
