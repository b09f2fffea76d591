"""The remotes a root knows, in `remotes.toml` of its settings dir (/etc/lxpy, or ROOT/etc),
written by `lxpy remote add|rm|default` and read strictly like every lxpy file:

    default = "build1"          # where a command naming no host goes; default local

    [remotes.build1]
    host = "build1.example"     # what ssh is given: a name of ~/.ssh/config works
    user = "root"               # optional: ssh's own default
    port = 2222                 # optional: ssh's own default
    root = "/srv/lxpy"          # optional: the remote lxpy's --root
    command = "lxpy"            # the lxpy to run there (a shell word or two: `sudo -n lxpy`)

Read through the parsed-config cache: a command naming a remote imports no tomllib.
"""

from __future__ import annotations

import os

from lxpy.config import cache as parsed
from lxpy.config.tomlfile import TomlFile, read_text
from lxpy.errors import NotFound, UsageError
from lxpy.names import is_valid
from lxpy.paths import Paths
from lxpy.records import Record, as_dict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Names a remote cannot take: the local root, and every host at once (`ls --remote all`).
LOCAL, ALL = "local", "all"
DEFAULT_COMMAND = "lxpy"
_KEYS = ("host", "user", "port", "root", "command")


class Remote(Record):
    name: str
    host: str
    user: str | None = None
    port: int | None = None
    root: str | None = None
    command: str = DEFAULT_COMMAND

    @property
    def address(self) -> str:
        """user@host:port as it was given."""
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{user}{host}" + (f":{self.port}" if self.port else "")


class Remotes(Record):
    remotes: dict[str, Remote]
    default: str = LOCAL

    def get(self, name: str) -> Remote:
        remote = self.remotes.get(name)
        if remote is None:
            raise NotFound(f"no remote named {name!r}", hint="`lxpy remote ls` lists them")
        return remote


def paths_of(root: str | None) -> Paths:
    """The state dirs of `--root` (else LXPY_ROOT, else the default places): where a
    command's remotes are read, before it is known to run here."""
    return Paths.from_env(root)


def check_name(name: str) -> str | None:
    if name in (LOCAL, ALL):
        return f"{name!r} stands for {'this root' if name == LOCAL else 'every host'}"
    if not is_valid(name):
        return "expected 1-63 characters a-z, 0-9 and '-', not starting or ending with '-'"
    return None


def split_ref(ref: str) -> tuple[str, str]:
    """(host, container) of `HOST:NAME`; the container must be a name, never an option or
    another `HOST:` (no chains of hosts)."""
    host, _, name = ref.partition(":")
    if not is_valid(name):
        raise UsageError(
            f"{ref!r}: {name!r} is no container name",
            hint="HOST:NAME, NAME of a-z, 0-9 and '-'",
        )
    return host, name


def parse_address(text: str) -> tuple[str | None, str, int | None]:
    """(user, host, port) of `[user@]host[:port]`; an IPv6 host in brackets."""
    user, at, rest = text.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):
        host, _, after = rest[1:].partition("]")
        if after and not after.startswith(":"):
            host = ""
        port_text = after[1:] if after else None
    else:
        host, colon, port_text = rest.partition(":")
        port_text = port_text if colon else None
    if port_text is not None:
        port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else -1
    # A word starting with "-" would be an option to ssh.
    if (
        not host
        or port == -1
        or (at and not user)
        or text.startswith("-")
        or host.startswith("-")
        or any(c.isspace() for c in text)
    ):
        raise UsageError(
            f"{text!r} is no SSH address", hint="give [USER@]HOST[:PORT], like root@build1:22"
        )
    return (user or None), host, port


def load(paths: Paths) -> Remotes:
    """The remotes of this root (none when the file is missing)."""
    file = paths.remotes_file
    try:
        doc = parsed.load(file, f"{paths.cache}/config/remotes")
    except FileNotFoundError:
        return Remotes({})
    top = TomlFile(file, lambda: read_text(file)).top(doc, ("default", "remotes"))
    table = top.table("remotes", None)
    remotes = {}
    for name in table.doc:
        problem = check_name(name)
        if problem is not None:
            raise table.fail(name, problem)
        one = table.table(name, _KEYS)
        remotes[name] = Remote(
            name,
            one.get("host", str),
            one.get("user", str, None),
            one.get("port", int, None, lambda p: None if 0 < p < 65536 else "expected 1-65535"),
            one.get("root", str, None),
            one.get("command", str, DEFAULT_COMMAND),
        )
    default = top.get(
        "default", str, LOCAL, lambda d: None if d in remotes or d == LOCAL else "no such remote"
    )
    return Remotes(remotes, default)


def save(paths: Paths, remotes: Remotes) -> None:
    import tomli_w

    from lxpy.linux.atomic import write_atomic

    doc: dict[str, Any] = {} if remotes.default == LOCAL else {"default": remotes.default}
    doc["remotes"] = {
        name: {k: v for k, v in as_dict(r).items() if k != "name" and v is not None}
        for name, r in sorted(remotes.remotes.items())
    }
    os.makedirs(paths.etc, mode=0o755, exist_ok=True)
    write_atomic(paths.remotes_file, tomli_w.dumps(doc).encode(), mode=0o644)
