"""What an option may hold, declared once beside the option: the vocabulary of the config schema and of every
component's options dataclass.

A field's metadata carries one *constraint*: a number's range (`at_least`, `positive`, `between`, ...), a choice
(`one_of`), a list's length, order and items (`widths`, `ordered_pair`, `list_of`), a path's kind (`path`). The
constraint checks a value and says in words what it must be; `ppl_ssl.config` applies it when a config is loaded and
builds the one-line error from it, so no option is checked by hand where it is used. The constraints are plain data
(bounds, choices, lengths): the property tests generate valid and invalid values from them. Kept apart from the
schema so that components can declare options without importing it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

SEED_MAX = 2**32 - 1  # numpy's and torch's generators take seeds in 0 … 2³² − 1


def _number_text(v: float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


@dataclass(frozen=True)
class Number:
    """A finite number in a range; `zero` names what 0 means when 0 is allowed outside the range ("off", "all")."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    zero: str = ""
    prefix: str = ""  # "a probability", "a seed": what the number is, before its range
    note: str = ""  # a unit or meaning, after the range in brackets

    def admits(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.zero and value == 0:
            return True
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None and (value > self.high or (self.high_open and value == self.high)))

    def range_text(self) -> str:
        low, high = self.low, self.high
        if low is not None and high is not None:
            return f"in {'(' if self.low_open else '['}{_number_text(low)}, {_number_text(high)}{')' if self.high_open else ']'}"
        if low is not None:
            if low == 0:
                return "positive" if self.low_open else "non-negative"
            return f"greater than {_number_text(low)}" if self.low_open else f"at least {_number_text(low)}"
        if high is not None:
            if high == 0:
                return "negative" if self.high_open else "at most 0"
            return f"less than {_number_text(high)}" if self.high_open else f"at most {_number_text(high)}"
        return "a finite number"

    @property
    def requirement(self) -> str:
        text = self.range_text()
        if self.prefix:
            text = f"{self.prefix} {text}"
        if self.zero:
            text = f"0 ({self.zero}) or {text}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class OneOf:
    """One of a set of strings (`pattern`: also any string matching it, e.g. cuda:N). The set may be a function giving
    the names (a registry's `names`), called when a value is checked: components register on import, after the option
    is declared."""

    source: tuple[str, ...] | Callable[[], Iterable[str]]
    pattern: str = ""  # a prefix followed by digits, e.g. "cuda:"
    note: str = ""

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(self.source()) if callable(self.source) else tuple(self.source)

    def admits(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if value in self.choices:
            return True
        return bool(self.pattern) and value.startswith(self.pattern) and value[len(self.pattern):].isdigit()

    @property
    def requirement(self) -> str:
        names = [*self.choices, *([f"{self.pattern}N"] if self.pattern else [])]
        text = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True)
class Sequence:
    """A list: its length (exact, or at least `min_length`), its items' constraint, and whether it ascends."""

    item: Number | OneOf
    length: int | None = None
    min_length: int = 0
    ascending: bool = False
    text: str = ""  # how the list is described ("[smallest, largest] area fractions"); generated if empty

    def admits(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)):
            return False
        if self.length is not None and len(value) != self.length:
            return False
        if len(value) < self.min_length or not all(self.item.admits(v) for v in value):
            return False
        return not (self.ascending and any(a > b for a, b in zip(value, value[1:])))

    @property
    def requirement(self) -> str:
        if self.text:
            return self.text
        count = {1: "one value", 2: "two values", 3: "three values", 4: "four values"}.get(self.length, f"{self.length} values")
        size = "a non-empty list" if self.length is None and self.min_length else \
            "a list" if self.length is None else f"a list of {count}"
        return f"{size}, each {self.item.requirement}{', in ascending order' if self.ascending else ''}"


@dataclass(frozen=True)
class PathOption:
    """A path to a file or a folder; empty is allowed when `empty` says what it means. Existence is not checked when
    a config loads (a run folder's config must load on another machine): the reader that opens the path names it."""

    kinds: tuple[str, ...] = ("file", "folder")
    empty: str = ""

    def admits(self, value: Any) -> bool:
        return isinstance(value, str) and (bool(value) or bool(self.empty)) and "\0" not in value

    @property
    def requirement(self) -> str:
        text = f"a path to a {' or a '.join(self.kinds)}"
        return f"{text}, or empty ({self.empty})" if self.empty else text


Constraint = Number | OneOf | Sequence | PathOption


# ------------------------------------------------------------------------------------------------ vocabulary


def at_least(low: int | float, note: str = "", zero: str = "") -> Number:
    return Number(low=low, note=note, zero=zero)


def positive(note: str = "", zero: str = "") -> Number:
    return Number(low=0, low_open=True, note=note, zero=zero)


def non_negative(note: str = "") -> Number:
    return Number(low=0, note=note)


def negative(note: str = "") -> Number:
    return Number(high=0, high_open=True, note=note)


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False, note: str = "",
            prefix: str = "") -> Number:
    return Number(low=low, high=high, low_open=low_open, high_open=high_open, note=note, prefix=prefix)


def probability(note: str = "") -> Number:
    return between(0, 1, prefix="a probability", note=note)


def random_seed(note: str = "") -> Number:
    return Number(low=0, high=SEED_MAX, prefix="a seed", note=note)


def one_of(choices: Iterable[str] | Callable[[], Iterable[str]], pattern: str = "", note: str = "") -> OneOf:
    return OneOf(choices if callable(choices) else tuple(choices), pattern, note)


def widths(length: int | None = None, may_be_empty: bool = False, note: str = "") -> Sequence:
    """Layer widths: positive integers."""
    size = "" if length is None else {4: "four "}.get(length, f"{length} ")
    text = (f"a list of {size}positive widths" if length or may_be_empty else "a non-empty list of positive widths") \
        + (f" ({note})" if note else "")
    return Sequence(Number(low=1), length=length, min_length=0 if may_be_empty else 1, text=text)


def list_of(item: Number | OneOf, min_length: int = 1, text: str = "") -> Sequence:
    return Sequence(item, min_length=min_length, text=text)


def ordered_pair(item: Number, text: str) -> Sequence:
    """[smallest, largest]: two values, the first no larger than the second."""
    return Sequence(item, length=2, ascending=True, text=text)


def path(*kinds: str, empty: str = "") -> PathOption:
    return PathOption(tuple(kinds) or ("file", "folder"), empty)


def constrained(constraint: Constraint | None) -> dict:
    """Field metadata carrying a constraint (read by `constraint_of`)."""
    return {"constraint": constraint} if constraint is not None else {}


def constraint_of(f) -> Constraint | None:
    """The constraint a dataclass field declares, or None."""
    return f.metadata.get("constraint")


def option(default: Any, constraint: Constraint | None = None, **metadata: Any) -> Any:
    """A typed option field with its constraint, for the schema's sections and components' options dataclasses."""
    metadata = {**constrained(constraint), **metadata}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)
