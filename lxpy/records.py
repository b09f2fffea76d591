"""Frozen typed records for the short commands' path (ls, info, start, stop, attach).

What `@dataclass(frozen=True)` gives — an `__init__` by field with defaults, `==`, a hash, a
repr, `replace` — without importing dataclasses (18 ms at every start: it pulls in inspect,
ast and dis) and without compiling generated methods for each class at import (~0.6 ms a
class). Every record has `__slots__`. mypy checks them as dataclasses (dataclass_transform).

    class Nic(Record):
        network: str
        ipv4: str = ""

Defaults are shared, not copied: give an immutable one (a tuple, a record,
`types.MappingProxyType`).
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: importing typing costs every command ~9 ms.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self, TypeVar, dataclass_transform

    R = TypeVar("R", bound="Record")
else:

    def dataclass_transform(**_: object) -> object:
        return lambda cls: cls


_MISSING = object()


class _RecordType(type):
    """Turns the class body's annotations into slots, in order, after the bases' fields."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> _RecordType:
        own = [
            f
            for f, hint in namespace.get("__annotations__", {}).items()
            if not str(hint).startswith(("ClassVar", "typing.ClassVar"))
        ]
        inherited: tuple[str, ...] = ()
        defaults: dict[str, Any] = {}
        for base in bases:
            inherited += getattr(base, "_fields", ())
            defaults.update(getattr(base, "_defaults", {}))
        for f in own:
            if f in namespace:
                defaults[f] = namespace.pop(f)
        fields = inherited + tuple(own)
        required = [f for f in fields if f not in defaults]
        if any(fields.index(r) > fields.index(d) for r in required for d in defaults):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        namespace["__slots__"] = tuple(own)
        namespace["_fields"] = fields
        namespace["_defaults"] = defaults
        namespace["__match_args__"] = fields
        return super().__new__(mcs, name, bases, namespace)


@dataclass_transform(frozen_default=True)
class Record(metaclass=_RecordType):
    __slots__ = ()
    if TYPE_CHECKING:  # set by the metaclass, and not fields
        _fields: tuple[str, ...]
        _defaults: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}: {len(args)} values for {len(fields)} fields")
        for f, value in zip(fields, args, strict=False):
            if f in kwargs:
                raise TypeError(f"{type(self).__name__}: {f} given twice")
            object.__setattr__(self, f, value)
        for f in fields[len(args) :]:
            value = kwargs.pop(f, _MISSING)
            if value is _MISSING:
                value = self._defaults.get(f, _MISSING)
                if value is _MISSING:
                    raise TypeError(f"{type(self).__name__}: {f} is missing")
            object.__setattr__(self, f, value)
        if kwargs:
            raise TypeError(f"{type(self).__name__}: no field {', '.join(kwargs)}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((self.__class__, self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({shown})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())

    def __copy__(self) -> Self:
        return self


def replace(record: R, **changes: Any) -> R:
    """A copy of `record` with `changes` (dataclasses.replace for records)."""
    values = as_dict(record)
    unknown = changes.keys() - values.keys()
    if unknown:
        raise TypeError(f"{type(record).__name__}: no field {', '.join(sorted(unknown))}")
    values.update(changes)
    return type(record)(**values)


def as_dict(record: Record) -> dict[str, Any]:
    """The fields by name, in order (dataclasses.asdict, one level)."""
    return {f: getattr(record, f) for f in record._fields}


def values(record: Record) -> tuple[Any, ...]:
    """The fields' values in order (dataclasses.astuple, one level)."""
    return record._values()
