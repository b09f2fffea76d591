"""Container names (DNS labels) and user names inside, checked before anything touches the
filesystem."""

from __future__ import annotations

import os
import re

from lxpy.errors import InvalidName

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
# Debian's adduser default (NAME_REGEX), shorter than useradd's 32.
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


def is_user_name(text: str) -> bool:
    return bool(_USER.fullmatch(text))


_ADJECTIVES = (
    "amber",
    "brave",
    "calm",
    "deft",
    "eager",
    "fair",
    "glad",
    "hazel",
    "ivory",
    "jolly",
    "keen",
    "lucid",
    "mellow",
    "noble",
    "olive",
    "proud",
    "quiet",
    "rapid",
    "sunny",
    "tidy",
    "urban",
    "vivid",
    "witty",
    "young",
    "zesty",
)
_NOUNS = (
    "otter",
    "heron",
    "lynx",
    "finch",
    "panda",
    "badger",
    "koala",
    "raven",
    "tapir",
    "gecko",
    "falcon",
    "marmot",
    "newt",
    "okapi",
    "puffin",
    "quail",
    "robin",
    "stoat",
    "toucan",
    "vole",
    "walrus",
    "yak",
    "zebra",
    "bison",
    "crane",
)


def validate(name: str) -> str:
    """Return `name` if it is a DNS label (a-z, 0-9, '-', 1-63 chars), else raise InvalidName."""
    if not is_valid(name):
        raise InvalidName(
            f"invalid container name {name!r}",
            hint="use 1-63 characters a-z, 0-9 and '-', not starting or ending with '-'",
        )
    return name


def is_valid(name: str) -> bool:
    return isinstance(name, str) and bool(_LABEL.fullmatch(name))


def generate(taken: set[str]) -> str:
    """A readable name not in `taken`, like `brave-otter`."""
    for _ in range(200):
        rand = int.from_bytes(os.urandom(2), "big")
        candidate = f"{_ADJECTIVES[rand % len(_ADJECTIVES)]}-{_NOUNS[(rand >> 8) % len(_NOUNS)]}"
        if candidate not in taken:
            return candidate
    return f"c-{os.urandom(4).hex()}"
