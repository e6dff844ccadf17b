"""Options: every field of a config dataclass converted to its annotated type and checked against its range.

The one parsing path for options, whatever they come from: keywords (``adapt(lr_g=1e-4)``), the command line
(``--set lr_g=1e-4`` arrives as the text or JSON value), a ``config.json``. A dataclass calls :func:`check_fields`
first thing in ``__post_init__``; it converts text to the field's type (``"1e-4"`` → 0.0001, ``"none"`` → None,
``"0,0.999"`` → a tuple), refuses what does not convert or lies outside the field's :class:`Range` (declared in
the class's ``RANGES``, inherited and extended by subclasses) and names the option, the value and what it takes.
Floats must be finite. Imports nothing of the library.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import operator
import os
import types
import typing
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a numeric option (each element of a tuple option): ``lo`` ≤ value ≤ ``hi``, ends open or closed."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, value: float) -> bool:
        above = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        below = self.hi is None or (value < self.hi if self.hi_open else value <= self.hi)
        return above and below

    def __str__(self) -> str:
        if self.hi is None:
            return f"{'>' if self.lo_open else '≥'} {self.lo:g}"
        if self.lo is None:
            return f"{'<' if self.hi_open else '≤'} {self.hi:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


POSITIVE = Range(0, lo_open=True)
NON_NEGATIVE = Range(0)
AT_LEAST_ONE = Range(1)
PROBABILITY = Range(0, 1)
MOMENTUM = Range(0, 1, hi_open=True)  # Adam betas, EMA decay

_NONE_WORDS = {"none", "null"}
_BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False, "0": False}


class OptionError(ValueError):
    """An option's value has the wrong type or lies outside its range."""


def ranges_of(cls: type) -> dict[str, Range]:
    """Every ``RANGES`` entry along the class's MRO, subclasses overriding their bases."""
    merged: dict[str, Range] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("RANGES", {}))
    return merged


def check_fields(obj: Any) -> None:
    """Convert each field of the dataclass ``obj`` to its annotated type and check its range, in place."""
    cls = type(obj)
    hints = typing.get_type_hints(cls)
    ranges = ranges_of(cls)
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        converted = convert(f.name, value, hints.get(f.name, Any))
        bound = ranges.get(f.name)
        if bound is not None:
            for item in converted if isinstance(converted, tuple) else (converted,):
                if item is not None and not bound.holds(item):
                    raise OptionError(f"Option {f.name}={_show(value)} is out of range; use a value {bound}.")
        if converted is not value:
            object.__setattr__(obj, f.name, converted)


def convert(name: str, value: Any, hint: Any) -> Any:
    """``value`` as the type ``hint`` names (int, float, bool, str, tuples, ``X | None``, mappings), or an error."""
    try:
        return _convert(value, hint)
    except (TypeError, ValueError, OverflowError):
        raise OptionError(f"Option {name}={_show(value)} is not {_describe(hint)}; give {_describe(hint)}.") from None


def _convert(value: Any, hint: Any) -> Any:
    if hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (isinstance(value, str) and value.lower() in _NONE_WORDS)):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg)
            except (TypeError, ValueError, OverflowError):
                continue
        raise ValueError
    if origin is typing.Literal:
        if value in args:
            return value
        raise ValueError
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise TypeError
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v.strip() if isinstance(v, str) else v, args[0]) for v in items)
        if len(items) != len(args):
            raise ValueError
        return tuple(_convert(v.strip() if isinstance(v, str) else v, a) for v, a in zip(items, args, strict=True))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise TypeError
        return value
    if origin is list or hint is list:
        if not isinstance(value, (list, tuple)):
            raise TypeError
        return list(value)
    if hint is bool:
        if isinstance(value, (bool, numbers.Integral)) and int(value) in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _BOOL_WORDS:
            return _BOOL_WORDS[value.strip().lower()]
        raise TypeError
    if hint is int:
        if isinstance(value, bool):
            raise TypeError
        if isinstance(value, numbers.Integral) or (hasattr(value, "__index__") and not isinstance(value, str)):
            return operator.index(value)  # ints, NumPy ints, one-element integer tensors
        number = float(value.strip()) if isinstance(value, str) else float(value)
        if math.isfinite(number) and number.is_integer():
            return int(number)  # 1e3 or "2000" are whole numbers; 2.5 is not
        raise ValueError
    if hint is float:
        if isinstance(value, bool):
            raise TypeError
        number = float(value.strip()) if isinstance(value, str) else float(value)  # NumPy floats, 0-d tensors
        if not math.isfinite(number):
            raise ValueError
        return number
    if hint is str:
        if isinstance(value, os.PathLike):
            return os.fspath(value)  # output_dir=Path("run")
        if not isinstance(value, str):
            raise TypeError
        return value
    return value  # a type this module does not police (a nested config, a tensor)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in args if a is not type(None)]
        return " or ".join(parts + (["none"] if type(None) in args else []))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a comma-separated list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
        return f"{len(args)} comma-separated numbers" if all(a in (int, float) for a in args) else f"{len(args)} values"
    return {bool: "true or false", int: "a whole number", float: "a finite number", str: "a text"}.get(
        hint, f"a {getattr(hint, '__name__', hint)}"
    )


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)
