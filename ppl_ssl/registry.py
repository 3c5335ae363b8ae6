"""Named registries: components are looked up by the name a config gives, never by if/elif chains."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from ppl_ssl.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    build: T
    options: type | None  # dataclass of the component's own typed options, or None if it takes none
    summary: str


class Registry(Generic[T]):
    """A name -> builder table with a typed options dataclass per entry."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, options: type | None = None, summary: str = "") -> Callable[[T], T]:
        def decorate(build: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            first_doc_line = ((getattr(build, "__doc__", None) or "").strip().splitlines() or [""])[0]
            self._entries[name] = Entry(name, build, options, summary or first_doc_line)
            return build

        return decorate

    def __getitem__(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def describe(self) -> str:
        return "\n".join(f"  {e.name:<18} {e.summary}" for e in sorted(self._entries.values(), key=lambda e: e.name))

    def build(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self[name].build(*args, **kwargs)


# The project's registries. Each component module registers its entries on import; `import ppl_ssl` loads all.
DATASETS: Registry = Registry("dataset")
NETS: Registry = Registry("nets")
PRIORS: Registry = Registry("prior")
LIKELIHOODS: Registry = Registry("likelihood")
GUIDES: Registry = Registry("guide")
MODELS: Registry = Registry("model program")
OBJECTIVES: Registry = Registry("objective")
SAMPLERS: Registry = Registry("ex-post sampler")
METHODS: Registry = Registry("training method")
TRANSFORMS: Registry = Registry("self-supervised transform")
