"""Dev-VM mode (`--user NAME`): a user inside with the host user's ids, sudo and SSH key.

The ids follow the host so that files in a shared folder belong to the same person on
both sides. Every write goes through safefs, confined to the rootfs.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from lxpy import names
from lxpy.errors import TemplateError, UsageError
from lxpy.linux import safefs

KEY_FILES = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub", "id_ed25519_sk.pub", "id_ecdsa_sk.pub")
FIRST_UID = 1000
RESERVED = {"root", "daemon", "bin", "sys", "nobody", "sudo", "adm", "systemd-network"}


@dataclass(frozen=True)
class DevUser:
    name: str
    uid: int
    gid: int
    keys: tuple[str, ...]
    origin: str  # where the ids came from, for the create report


def resolve(name: str) -> DevUser:
    """The ids for `name`: the host account of that name; else the user who ran sudo; else
    the first uid from 1000 up that no host account uses."""
    if not names.is_user_name(name) or name in RESERVED:
        raise UsageError(f"{name!r} cannot be the dev user's name", hint="e.g. --user alice")
    try:
        account = pwd.getpwnam(name)
        return DevUser(name, account.pw_uid, account.pw_gid, _keys(account.pw_dir), "host user")
    except KeyError:
        pass
    sudo_uid, sudo_gid = os.environ.get("SUDO_UID", ""), os.environ.get("SUDO_GID", "")
    if sudo_uid.isdigit() and sudo_gid.isdigit() and int(sudo_uid) != 0:
        try:
            home = pwd.getpwuid(int(sudo_uid)).pw_dir
        except KeyError:
            home = ""
        return DevUser(name, int(sudo_uid), int(sudo_gid), _keys(home), "sudo user")
    taken = {p.pw_uid for p in pwd.getpwall()}
    uid = next(u for u in range(FIRST_UID, 60000) if u not in taken)
    return DevUser(name, uid, uid, (), "free host uid")


def _keys(home: str) -> tuple[str, ...]:
    found = []
    for filename in KEY_FILES:
        try:
            text = (Path(home) / ".ssh" / filename).read_text()
        except (OSError, UnicodeDecodeError):
            continue
        found += [line.strip() for line in text.splitlines() if line.strip()]
    return tuple(found)


def _entries(rootfd: int, rel: str) -> list[list[str]]:
    try:
        text = safefs.read_file(rootfd, rel).decode()
    except FileNotFoundError:
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def _append(rootfd: int, rel: str, line: str, mode: int) -> None:
    try:
        old = safefs.read_file(rootfd, rel)
    except FileNotFoundError:
        old = b""
    if old and not old.endswith(b"\n"):
        old += b"\n"
    safefs.write_file(rootfd, rel, old + line.encode() + b"\n", mode)


def install(rootfd: int, user: DevUser, shell: str = "/bin/bash") -> None:
    passwd = _entries(rootfd, "etc/passwd")
    if any(e[0] == user.name for e in passwd):
        raise TemplateError(f"the image already has a user {user.name!r}")
    clash = next((e[0] for e in passwd if len(e) > 2 and e[2] == str(user.uid)), None)
    if clash:
        raise TemplateError(
            f"uid {user.uid} of {user.name!r} is taken in the image by {clash!r}",
            hint="pick another name, or a host user whose uid is free",
        )
    if not safefs.exists(rootfd, shell.lstrip("/")):
        shell = "/bin/sh"
    home = f"home/{user.name}"
    if not any(len(e) > 2 and e[2] == str(user.gid) for e in _entries(rootfd, "etc/group")):
        _append(rootfd, "etc/group", f"{user.name}:x:{user.gid}:", 0o644)
        _append(rootfd, "etc/gshadow", f"{user.name}:!::", 0o640)
    _append(
        rootfd,
        "etc/passwd",
        f"{user.name}:x:{user.uid}:{user.gid}:{user.name}:/{home}:{shell}",
        0o644,
    )
    # "*": no password, yet not locked, so SSH keys still work (sshd refuses locked accounts).
    _append(rootfd, "etc/shadow", f"{user.name}:*:20000:0:99999:7:::", 0o640)
    safefs.write_file(
        rootfd,
        f"etc/sudoers.d/lxpy-{user.name}",
        f"# written by lxpy create --user\n{user.name} ALL=(ALL:ALL) NOPASSWD: ALL\n".encode(),
        0o440,
    )
    _make_home(rootfd, home, user)


def _make_home(rootfd: int, home: str, user: DevUser) -> None:
    os.close(safefs.makedirs(rootfd, "home", 0o755))
    os.close(safefs.makedirs(rootfd, home, 0o750))
    fd = safefs.open_in(rootfd, home, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fchown(fd, user.uid, user.gid)
        os.fchmod(fd, 0o750)
    finally:
        os.close(fd)
    try:
        skel = safefs.open_in(rootfd, "etc/skel", os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        skel = -1
    if skel >= 0:
        try:
            names = os.listdir(skel)
        finally:
            os.close(skel)
        for name in names:
            try:
                data = safefs.read_file(rootfd, f"etc/skel/{name}", resolve=safefs.NO_LINKS)
            except OSError:
                continue  # a directory or a link: the dotfiles are what matters
            safefs.write_file(rootfd, f"{home}/{name}", data, 0o644, user.uid, user.gid)
    if user.keys:
        ssh = f"{home}/.ssh"
        os.close(safefs.makedirs(rootfd, ssh, 0o700))
        fd = safefs.open_in(rootfd, ssh, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fchown(fd, user.uid, user.gid)
        finally:
            os.close(fd)
        keys = "".join(f"{k}\n" for k in user.keys).encode()
        safefs.write_file(rootfd, f"{ssh}/authorized_keys", keys, 0o600, user.uid, user.gid)
