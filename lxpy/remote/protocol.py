"""The machine interface between a client lxpy and the lxpy of a remote host: the remote
runs the same commands, told which interface its caller speaks (`lxpy --api N ...`), with
`--format json` where the client reads the result (ls, events) and plain output where a
person does. `lxpy --api N --version` answers the handshake with one JSON object.

The number changes whenever a command, an option or a JSON field the client relies on
changes meaning: a client refuses a host whose range does not hold its own, in one line.
Standard library only: the forwarding path of every remote command loads it.
"""

from __future__ import annotations

from lxpy import __version__
from lxpy.errors import LxpyError

# The interface this lxpy speaks, and the oldest one it still answers.
API = 1
MIN_API = 1


class RemoteError(LxpyError):
    """A remote host cannot be reached, or its lxpy cannot serve this one."""


def hello() -> str:
    """The handshake's answer: this lxpy's version and the interfaces it answers."""
    return f'{{"lxpy": "{__version__}", "api": {API}, "min_api": {MIN_API}}}'


def check_requested(text: str) -> None:
    """Refuse a caller speaking an interface this lxpy does not answer."""
    if not (text.isascii() and text.isdigit()) or not MIN_API <= int(text) <= API:
        raise RemoteError(
            f"this host's lxpy {__version__} answers remote interface {_range()}, not {text}",
            hint="install the same lxpy on both hosts",
        )


def check_hello(host: str, answer: dict[str, object]) -> None:
    """Refuse a host whose lxpy cannot serve this one, naming both versions."""
    version, api, least = answer.get("lxpy"), answer.get("api"), answer.get("min_api")
    if not (isinstance(api, int) and isinstance(least, int)):
        raise RemoteError(f"{host}: its lxpy gave no interface version: {answer}")
    if least <= API <= api:
        return
    older = "older" if api < API else "newer"
    raise RemoteError(
        f"{host} runs lxpy {version} (remote interface {least}-{api}), {older} than this "
        f"lxpy {__version__} (interface {API})",
        hint=f"install lxpy {__version__} on {host}",
    )


def _range() -> str:
    return str(API) if MIN_API == API else f"{MIN_API}-{API}"


def quote(word: str) -> str:
    """`word` as the remote user's shell reads it back (ssh joins its words with spaces):
    a POSIX shell's quoting (sh, bash, zsh, dash; not fish, whose single quotes take
    escapes). Not shlex: shlex imports re, a cost every remote command would pay."""
    if word and all((c.isascii() and c.isalnum()) or c in "@%+=:,./_-" for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"
