"""`lxpy complete KIND [LINE]`: the values the shell completion scripts offer for the word
being typed, one a line. LINE is the command line up to the cursor: its --root, its -t and
the container of a snapshot line decide what is listed. The shell filters by what is typed,
and shows whatever this prints: so never an error, only nothing."""

from __future__ import annotations

import os

from lxpy.cli.arguments import DEFAULT_TEMPLATE, SNAPSHOT_ACTIONS
from lxpy.cli.cmdline import command_index
from lxpy.errors import LxpyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from collections.abc import Callable

    from lxpy.api import Api
    from lxpy.remote.registry import Remotes


def complete(api: Api, args: Namespace) -> int:
    words = typed_words(args.line)
    root = option_value(words, "--root")
    if root is not None:
        from lxpy.api import Api

        api = Api.for_root(root)
    try:
        values = _LISTERS[args.kind](api, words)
    except (LxpyError, OSError):
        return 0
    for value in values:
        print(value)
    return 0


def typed_words(line: str) -> list[str]:
    """The words of `line` after lxpy's own name (`sudo lxpy ...` too), without the one
    the cursor is in."""
    import shlex

    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: the word being typed
        words = line.split()
    if line and not line[-1].isspace():
        words = words[:-1]
    for index, word in enumerate(words):
        if os.path.basename(word) == "lxpy":
            return words[index + 1 :]
    return words[1:]


def option_value(words: list[str], *spellings: str) -> str | None:
    """The value last given to an option spelt one of `spellings` (`-t X`, `-tX`,
    `--template X`, `--template=X`), or None."""
    found = None
    for index, word in enumerate(words):
        for option in spellings:
            attached = f"{option}=" if option.startswith("--") else option
            if word == option and index + 1 < len(words):
                found = words[index + 1]
            elif word.startswith(attached) and len(word) > len(attached):
                found = word[len(attached) :]
    return found


def _releases(api: Api, words: list[str]) -> list[str]:
    template = option_value(words, "-t", "--template") or DEFAULT_TEMPLATE
    release = api.template(template).parameters.get("release")
    return [] if release is None else list(release.choices)


def _snapshot_line(api: Api, words: list[str]) -> list[str]:
    """What comes next on `snapshot [ls|rm|restore] NAME [SNAP]`: an action or a container,
    then for rm and restore that container's snapshots (a new SNAP is made up, not listed)."""
    start = command_index(words)
    typed = [] if start is None else [w for w in words[start + 1 :] if not w.startswith("-")]
    if not typed:
        return [*SNAPSHOT_ACTIONS, *api.names()]
    action, *rest = typed
    if action in ("rm", "restore") and len(rest) == 1:
        return [snap.name for snap in api.snapshots(rest[0])]
    if action in SNAPSHOT_ACTIONS and not rest:
        return api.names()
    return []


def _remotes(api: Api) -> Remotes:
    from lxpy.remote import registry

    return registry.load(api.paths)


_LISTERS: dict[str, Callable[[Api, list[str]], list[str]]] = {
    "containers": lambda api, _: api.names(),
    "templates": lambda api, _: [t.name for t in api.templates()],
    "releases": _releases,
    "networks": lambda api, _: [n.name for n in api.networks()],
    "pools": lambda api, _: [u.pool.name for u in api.pools()],
    "snapshots": _snapshot_line,
    "remotes": lambda api, _: sorted(_remotes(api).remotes),
}
