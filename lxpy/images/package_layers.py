"""Package layers: extra packages (`--packages`) installed with apt once, over a cached image
build, and kept beside it as an overlayfs upper layer.

    <lib>/images/KEY/BUILD/layers/LAYER/upper       the layer, as overlayfs left it (whiteouts
                                                    and all): stacked over BUILD/rootfs
    <lib>/images/KEY/BUILD/layers/LAYER/layer.toml  its packages, mirror, build time and size
    <lib>/images/KEY/BUILD/layers/.partial-XXXX     one being built (removed if interrupted)

A layer is named by its image build, its sorted package list and the mirror apt fetched
from: "KEY/BUILD/LAYER" (its ref) is what a container's config names as its image. It is
built under the image key's lock, into a partial directory renamed into place when done, so
two creates of the same list build it once and an interrupted one leaves nothing.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass

from lxpy.config.tomlfile import TomlFile, parse, read_text
from lxpy.errors import ConfigError, NotFound
from lxpy.images import apt, cache
from lxpy.images.plan import Plan
from lxpy.images.progress import Progress
from lxpy.linux import safefs
from lxpy.linux.atomic import write_atomic
from lxpy.paths import Paths
from lxpy.storage.secrets import remove_from_tree
from lxpy.storage.trees import tree_size

LAYER_NAME = re.compile(r"pkg-[0-9a-f]{12}")
LAYER_KEYS = ("packages", "mirror", "built", "seconds", "size")


@dataclass(frozen=True)
class Layer:
    base: cache.Image
    name: str
    packages: tuple[str, ...]
    mirror: str
    built: str
    seconds: float
    size: int

    @property
    def key(self) -> str:
        """The image key whose lock guards it (its base's)."""
        return self.base.key

    @property
    def ref(self) -> str:
        """How a container's config names it: "KEY/BUILD/LAYER"."""
        return f"{self.base.ref}/{self.name}"

    @property
    def path(self) -> str:
        return f"{self.base.path}/layers/{self.name}"

    @property
    def lowers(self) -> tuple[str, ...]:
        return (f"{self.path}/upper", self.base.rootfs)


def name(base: cache.Image, packages: tuple[str, ...], mirror: str) -> str:
    """The layer's directory name: whatever decides its content, hashed."""
    content = {"base": base.ref, "packages": sorted(set(packages)), "mirror": mirror}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:12]
    return f"pkg-{digest}"


def layers(base: cache.Image) -> list[Layer]:
    """The complete layers over `base`, by name."""
    try:
        names = sorted(n for n in os.listdir(f"{base.path}/layers") if LAYER_NAME.fullmatch(n))
    except FileNotFoundError:
        return []
    found = []
    for n in names:
        try:
            found.append(_read(base, n))
        except ConfigError:
            continue  # unreadable metadata: not offered for new containers, never deleted
    return found


def get(paths: Paths, ref: str) -> Layer:
    base_ref, _, layer = ref.rpartition("/")
    for found in layers(cache.get(paths, base_ref)):
        if found.name == layer:
            return found
    raise NotFound(f"package layer {ref} is missing from the cache", hint="see `lxpy cache ls`")


def _read(base: cache.Image, layer: str) -> Layer:
    toml = f"{base.path}/layers/{layer}/layer.toml"
    try:
        text = read_text(toml)
    except FileNotFoundError:
        raise ConfigError(f"{toml}: missing") from None
    top = TomlFile(toml, text).top(parse(toml, text), LAYER_KEYS)
    return Layer(
        base=base,
        name=layer,
        packages=tuple(top.strings("packages")),
        mirror=top.get("mirror", str),
        built=top.get("built", str),
        seconds=float(top.get("seconds", (int, float))),
        size=top.get("size", int),
    )


def ensure(
    paths: Paths, base: cache.Image, plan: Plan, packages: tuple[str, ...], progress: Progress
) -> Layer:
    """The layer of `packages` over `base` (built from `plan`), installed now if it is not
    cached yet."""
    packages = tuple(sorted(set(packages)))
    mirror = plan.mirror
    layer = name(base, packages, mirror)
    with cache.lock(paths, base.key):
        existing = [found for found in layers(base) if found.name == layer]
        if existing:
            progress.step(f"using cached package layer {existing[0].ref}")
            return existing[0]
        directory = f"{base.path}/layers"
        os.makedirs(directory, mode=0o700, exist_ok=True)
        cache.clean_partials(directory)
        partial = f"{directory}/.partial-{secrets.token_hex(4)}"
        os.mkdir(partial, 0o700)
        try:
            os.mkdir(f"{partial}/upper", 0o755)
            os.mkdir(f"{partial}/work", 0o700)
            os.mkdir(f"{partial}/merged", 0o700)
            seconds = apt.install(base.lowers, partial, packages, progress)
            # What the packages made of the template's per-machine secrets (sshd's host keys
            # at its install): only ever in the upper layer, the image has none.
            remove_from_tree(f"{partial}/upper", plan.secrets)
            # overlayfs's scratch space and the mount point are no part of the layer.
            safefs.remove_tree(f"{partial}/work")
            os.rmdir(f"{partial}/merged")
            now = datetime.datetime.now(datetime.UTC)
            doc = {
                "packages": list(packages),
                "mirror": mirror,
                "built": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "seconds": round(seconds, 3),
                "size": tree_size(f"{partial}/upper"),
            }
            import tomli_w

            write_atomic(f"{partial}/layer.toml", tomli_w.dumps(doc).encode(), 0o644, fsync=True)
            os.rename(partial, f"{directory}/{layer}")
        except BaseException:
            safefs.remove_tree(partial)
            raise
        made = _read(base, layer)
        progress.step(f"cached package layer {made.ref} in {seconds:.1f} s")
        return made
