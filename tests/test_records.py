"""lxpy.records behaves as @dataclass(frozen=True) does where lxpy relies on it."""

from __future__ import annotations

import pickle

import pytest

from lxpy.records import Record, as_dict, replace, values


class Point(Record):
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


class Labelled(Point):
    label: str = ""


def test_fields_by_position_keyword_and_default() -> None:
    assert as_dict(Point(1)) == {"x": 1, "y": 0, "tags": ()}
    assert values(Point(1, 2, ("a",))) == (1, 2, ("a",))
    assert Point(y=3, x=1) == Point(1, 3)
    assert Labelled(1, label="l").label == "l"
    assert values(Labelled(1, 2)) == (1, 2, (), "")


@pytest.mark.parametrize(
    "make",
    [
        # mypy refuses each as it would for a dataclass (dataclass_transform)
        lambda: Point(),  # type: ignore[call-arg]
        lambda: Point(1, x=2),  # type: ignore[misc]
        lambda: Point(1, z=2),  # type: ignore[call-arg]
        lambda: Point(1, 2, (), 4),  # type: ignore[call-arg]
    ],
)
def test_wrong_arguments_are_refused(make: object) -> None:
    with pytest.raises(TypeError):
        make()  # type: ignore[operator]


def test_frozen_slotted_and_hashable() -> None:
    p = Point(1)
    with pytest.raises(AttributeError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.x
    assert not hasattr(p, "__dict__")
    assert {Point(1): "a"}[Point(1)] == "a"
    assert Point(1) != Labelled(1)  # another class is another value, as with dataclasses
    assert repr(Point(1)) == "Point(x=1, y=0, tags=())"


def test_replace_copies_with_changes_only_to_fields() -> None:
    p = Point(1, 2)
    assert replace(p, y=5) == Point(1, 5) and p == Point(1, 2)
    with pytest.raises(TypeError):
        replace(p, z=1)


def test_pickled_and_matched() -> None:
    assert pickle.loads(pickle.dumps(Labelled(1, label="x"))) == Labelled(1, label="x")
    match Point(1, 2):
        case Point(x, y):
            assert (x, y) == (1, 2)


def test_a_field_without_a_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError):

        class Bad(Record):
            a: int = 0
            b: int  # type: ignore[misc]
