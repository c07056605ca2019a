"""``value``: a frozen dataclass whose instances cost what a plain class's do to build.

A frozen dataclass sets each field through ``object.__setattr__``, about five times the cost of a plain
class; the pipeline builds several such values (prompt, hints, answer, completion, quota) per request.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import TypeVar

T = TypeVar("T", bound=type)


def value(cls: T) -> T:
    """``@dataclass(frozen=True)``, with an ``__init__`` that fills the instance's ``__dict__`` at once
    (same parameters and defaults). Instances stay frozen: assigning a field still raises."""
    cls = dataclass(frozen=True)(cls)
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__}: value classes have no __post_init__")
    params, items, namespace = [], [], {}
    for field in fields(cls):
        if field.default_factory is not MISSING or not field.init:
            raise TypeError(f"{cls.__name__}.{field.name}: value classes take plain defaults only")
        if field.default is MISSING:
            params.append(field.name)
        else:
            namespace[f"_default_{field.name}"] = field.default
            params.append(f"{field.name}=_default_{field.name}")
        items.append(f"{field.name!r}: {field.name}")
    source = f"def __init__(self, {', '.join(params)}):\n    self.__dict__.update({{{', '.join(items)}}})\n"
    exec(source, namespace)  # as dataclasses itself builds __init__: from the fields' names only
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls
