"""Typed option fields with value checks: the vocabulary of every component's options dataclass and of the config schema.

A field's metadata carries its check and the requirement a user reads when the check fails; `ppl_ssl.config`
applies them when a config is loaded. Kept apart from the schema so components can declare options without
importing it.
"""
from __future__ import annotations

from dataclasses import field
from typing import Any, Callable


def checked(predicate: Callable[[Any], bool], requirement: str) -> dict:
    """Field metadata: the value must satisfy `predicate`; `requirement` says so in words ("positive")."""
    return {"check": predicate, "requirement": requirement}


def option(default: Any, check: Callable[[Any], bool] | None = None, requirement: str = "") -> Any:
    """A typed option field with a value check, for components' options dataclasses."""
    metadata = checked(check, requirement) if check else {}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)
