"""``@value`` classes build like plain classes and behave like ``dataclass(frozen=True)`` ones."""

from __future__ import annotations

import dataclasses

import pytest

from perceptron_mock.values import value


@value
class Point:
    x: int
    y: int = 0
    label: str | None = None


def test_fields_defaults_equality_hash_and_repr_are_the_dataclass_s():
    assert Point(1) == Point(x=1, y=0, label=None)
    assert Point(1, 2, "a") != Point(1, 2, "b")
    assert hash(Point(1, 2)) == hash(Point(1, 2))
    assert repr(Point(1, label="a")) == "Point(x=1, y=0, label='a')"
    assert dataclasses.replace(Point(1, 2), y=5) == Point(1, 5)
    assert dataclasses.asdict(Point(3)) == {"x": 3, "y": 0, "label": None}


def test_instances_stay_frozen():
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.z = 2


def test_a_missing_or_unknown_argument_is_refused_as_by_any_function():
    with pytest.raises(TypeError):
        Point()
    with pytest.raises(TypeError):
        Point(1, z=2)


def test_default_factories_and_post_init_are_refused_at_definition():
    with pytest.raises(TypeError):

        @value
        class WithFactory:
            items: list = dataclasses.field(default_factory=list)

    with pytest.raises(TypeError):

        @value
        class WithPostInit:
            x: int

            def __post_init__(self) -> None:
                pass
