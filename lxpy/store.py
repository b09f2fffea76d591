"""Containers on disk: which exist, their per-container lock, creation and removal."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from lxpy import config, names
from lxpy.config import ContainerConfig
from lxpy.errors import AlreadyExists, Busy, NotFound
from lxpy.linux.locks import locked_file
from lxpy.paths import Paths

# A create builds in a hidden directory and renames it into place when it is complete, so a
# create killed midway never shows up as a container.
PARTIAL_PREFIX = ".partial-"


def names_on_disk(paths: Paths) -> list[str]:
    try:
        entries = os.listdir(paths.containers)
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        try:
            names.validate(entry)
        except Exception:
            continue
        if os.path.isfile(f"{paths.containers}/{entry}/config.toml"):
            found.append(entry)
    return sorted(found)


def exists(paths: Paths, name: str) -> bool:
    return os.path.isfile(paths.config_file(name))


def require(paths: Paths, name: str) -> None:
    if not exists(paths, name):
        raise NotFound(f"no container named {name!r}", hint="`lxpy ls` lists them")


def load(paths: Paths, name: str) -> ContainerConfig:
    require(paths, name)
    return config.load(paths.config_file(name), cache=paths.config_cache(name))


def save(paths: Paths, name: str, cfg: ContainerConfig) -> None:
    config.save(paths.config_file(name), cfg, cache=paths.config_cache(name))


@contextlib.contextmanager
def locked(paths: Paths, name: str, timeout: float = 10.0) -> Iterator[None]:
    """Hold the container's lock: one lxpy command at a time changes one container."""
    with locked_file(
        paths.lock_file(name),
        Busy(
            f"container {name!r} is busy: another lxpy command holds its lock",
            hint="wait for it to finish and try again",
        ),
        timeout,
    ):
        yield


def clean_partials(paths: Paths, name: str) -> None:
    """Remove what an interrupted create of `name` left (caller holds the lock)."""
    from lxpy.linux import safefs

    prefix = f"{PARTIAL_PREFIX}{name}."
    try:
        entries = os.listdir(paths.containers)
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.startswith(prefix):
            safefs.remove_tree(f"{paths.containers}/{entry}")


def new_partial(paths: Paths, name: str) -> str:
    if exists(paths, name):
        raise AlreadyExists(f"container {name!r} already exists", hint="pick another name")
    clean_partials(paths, name)
    path = f"{paths.containers}/{PARTIAL_PREFIX}{name}.{os.urandom(4).hex()}"
    os.mkdir(path, 0o700)
    return path


def commit_partial(paths: Paths, partial: str, name: str) -> None:
    target = paths.container_dir(name)
    if os.path.lexists(target):
        raise AlreadyExists(f"container {name!r} already exists")
    os.rename(partial, target)
