"""A container's resource limits: ONE table, LIMITS, says what each limit is. Everything else
comes from it: config.toml's [limits] (type, default, check), the typed `Limits`, a limit
typed as text (`--memory 2G`, a form field), the kernel units the cgroup layer writes, the
CLI's flags, the TUI's fields and the man page's list (checked by tests/test_limits_table.py).

Adding a limit: one entry in LIMITS, and its cgroup files in lxpy.linux.cgroups.LIMITS.
"""

from __future__ import annotations

import os
import re

from lxpy import units
from lxpy.config.tomlfile import parsable
from lxpy.errors import UsageError

# Not typing.TYPE_CHECKING: every command loads configs through here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping
    from typing import Any

    # As config.toml holds a limit: "2G" stays "2G" (the kernel's units are `Limit.kernel`).
    Value = int | float | str

DEFAULT_PIDS_MAX = 4096


class Limit:
    """One limit: its key in [limits] (and its flag, `--io-weight` for io_weight), the
    TOML type(s) it takes, its default (None: no limit), what is wrong with a value, how
    text as a person types it becomes a value, how a value becomes the kernel's units (None:
    as it is), a warning worth giving about a valid value, and its words for the CLI's help
    (with the default), the TUI's form and the man page."""

    __slots__ = (
        "check",
        "default",
        "example",
        "help",
        "kernel",
        "key",
        "kind",
        "label",
        "man",
        "metavar",
        "parse",
        "storage",
        "warn",
    )

    def __init__(
        self,
        key: str,
        kind: type | tuple[type, ...],
        check: Callable[[Any], str | None],
        parse: Callable[[str], Value],
        *,
        metavar: str,
        help: str,
        label: str,
        example: str,
        man: str,
        default: Value | None = None,
        kernel: Callable[[Any], Value] | None = None,
        warn: Callable[[Any], str | None] | None = None,
        storage: bool = False,
    ) -> None:
        self.key = key
        self.storage = storage  # set on the container's storage, not on its cgroups
        self.kind = kind
        self.check = check
        self.parse = parse
        self.default = default
        self.kernel = kernel
        self.warn = warn
        self.metavar = metavar
        self.help = help
        self.label = label
        self.example = example
        self.man = man

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")

    @property
    def placeholder(self) -> str:
        """The form field's placeholder, like "memory (e.g. 2G)"."""
        return f"{self.label} (e.g. {self.example})"

    def problem(self, value: object) -> str | None:
        """What is wrong with `value` (as config.toml holds it) for this limit, or None."""
        if not isinstance(value, self.kind) or isinstance(value, bool):
            return "not a valid value"
        return self.check(value)

    def from_text(self, text: str) -> Value:
        """`text` as typed (a flag's argument, a form field) as a value, checked; ValueError
        says what is wrong."""
        try:
            value = self.parse(text)
        except ValueError:
            raise ValueError("not a valid value") from None
        problem = self.problem(value)
        if problem:
            raise ValueError(problem)
        return value

    def in_kernel_units(self, value: Value | None) -> Value | None:
        return value if value is None or self.kernel is None else self.kernel(value)


def host_cpus() -> int:
    return os.cpu_count() or 1


def host_memory() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def parse_cpuset(text: str, cpus: int) -> list[int]:
    """'0-1,3' to [0, 1, 3]; every CPU must exist on this host."""
    found: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)(?:-(\d+))?\s*", part)
        if not m:
            raise ValueError(f"{text!r} is not a CPU list (like 0-1,3)")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first or last >= cpus:
            raise ValueError(f"{text!r}: this host has CPUs 0-{cpus - 1}")
        found += range(first, last + 1)
    return found


def _positive(value: int) -> str | None:
    return None if value > 0 else "must be a positive number"


def _cpus(value: float) -> str | None:
    cpus = host_cpus()
    return None if 0.01 <= value <= cpus else f"must be between 0.01 and {cpus} (this host's CPUs)"


def _io_weight(value: int) -> str | None:
    return None if 1 <= value <= 10000 else "must be between 1 and 10000"


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def _cpu_list(value: str) -> str:
    return ",".join(str(c) for c in parse_cpuset(value, host_cpus()))


def _above_memory(value: str) -> str | None:
    memory = host_memory()
    if units.parse_size(value) <= memory:
        return None
    return f"more than this host's {units.size(memory)} of memory: it holds nothing back"


# In the order the cgroup layer applies them (swap after memory).
LIMITS: dict[str, Limit] = {
    limit.key: limit
    for limit in (
        Limit(
            "pids",
            int,
            _positive,
            int,
            default=DEFAULT_PIDS_MAX,
            metavar="N",
            help=f"most processes at once (default: {DEFAULT_PIDS_MAX})",
            label="pids",
            example="2000",
            man=f"The most processes at once (default {DEFAULT_PIDS_MAX}: a fork bomb inside "
            "cannot take the host down).",
        ),
        Limit(
            "memory",
            str,
            parsable(units.parse_size),
            str,
            kernel=units.parse_size,
            warn=_above_memory,
            metavar="SIZE",
            help="memory limit, like 512M or 2G (default: none)",
            label="memory",
            example="2G",
            man="The most memory it may use, like 512M or 2G; past it, the OOM killer acts "
            "inside only.",
        ),
        Limit(
            "swap",
            str,
            parsable(units.parse_size),
            str,
            kernel=units.parse_size,
            metavar="SIZE",
            help="swap on top of the memory limit (default: none)",
            label="swap",
            example="1G",
            man="The swap it may use on top of its memory limit (the host needs swap accounting).",
        ),
        Limit(
            "cpus",
            (int, float),
            _cpus,
            _number,
            metavar="N",
            help="CPU time, in CPUs: 1.5 is one and a half (default: no limit)",
            label="cpus",
            example="1.5",
            man="CPU time, in CPUs: 1.5 is one and a half, at most this host's count.",
        ),
        Limit(
            "cpuset",
            str,
            parsable(lambda text: parse_cpuset(text, host_cpus())),
            str,
            kernel=_cpu_list,
            metavar="LIST",
            help="the CPUs it may run on, like 0-1 (default: all)",
            label="cpuset",
            example="0-1",
            man="The CPUs it may run on, like 0-1,3.",
        ),
        Limit(
            "io_weight",
            int,
            _io_weight,
            int,
            metavar="N",
            help="block I/O weight, 1-10000 (default: 100)",
            label="io weight",
            example="500",
            man="Its block I/O weight against the other containers', 1-10000 (the kernel's "
            "default: 100).",
        ),
        Limit(
            "disk",
            str,
            parsable(units.parse_size),
            str,
            kernel=units.parse_size,
            storage=True,
            metavar="SIZE",
            help="disk it may fill, like 20G, in a btrfs pool (default: no limit)",
            label="disk",
            example="20G",
            man="The disk it may fill, like 20G: a quota on its subvolume, so only in a btrfs "
            "pool; past it, writes inside fail (EDQUOT) and the host keeps its room.",
        ),
    )
}
# The limits the cgroup layer sets, in the order it applies them.
CGROUP_LIMITS = tuple(key for key, limit in LIMITS.items() if not limit.storage)


class Limits:
    """A container's limits as config.toml holds them ("2G" stays "2G"), one attribute per
    key of LIMITS: its value, or its default where none is given (None: no limit)."""

    if TYPE_CHECKING:

        def __getattr__(self, key: str) -> Value | None: ...

    def __init__(self, **given: Value | None) -> None:
        unknown = set(given) - set(LIMITS)
        if unknown:
            raise TypeError(f"no limit named {sorted(unknown)[0]!r}")
        for key, limit in LIMITS.items():
            object.__setattr__(self, key, given.get(key, limit.default))

    def __setattr__(self, key: str, value: object) -> None:
        raise AttributeError("Limits are immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Limits) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).items()))

    def __repr__(self) -> str:
        return f"Limits({', '.join(f'{k}={v!r}' for k, v in self.to_dict().items())})"

    def items(self) -> Iterator[tuple[str, Value | None]]:
        """(key, value) of every limit, None where there is none."""
        return iter(vars(self).items())

    def to_dict(self) -> dict[str, Value]:
        """The limits that are set, as config.toml writes them."""
        return {k: v for k, v in vars(self).items() if v is not None}


def limits_from_text(given: Mapping[str, str], option: Callable[[str], str]) -> dict[str, Any]:
    """Limits typed as text (`--memory 2G`, a form's field) as config values, each checked
    like config.toml's; `option` names a key the way the user gave it, for the error."""
    found = {}
    for key, text in given.items():
        try:
            found[key] = LIMITS[key].from_text(text)
        except ValueError as e:
            raise UsageError(f"{option(key)} {text}: {e}") from None
    return found


def warnings(limits: Mapping[str, object]) -> list[str]:
    """What a person should hear about limits that are valid (config values, as
    `limits_from_text` returns them or [limits] holds them), like a memory limit above what
    this host has."""
    found = []
    for key, value in limits.items():
        warn = LIMITS[key].warn if key in LIMITS and value is not None else None
        said = warn(value) if warn is not None and not LIMITS[key].problem(value) else None
        if said:
            found.append(f"limits.{key} {value}: {said}")
    return found
