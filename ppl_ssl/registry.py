"""Named registries: components are looked up by the name a config gives, never by if/elif chains.

Each registry holds one kind of component and its contract (`ppl_ssl.contracts`). Registering an entry checks it
against the contract; every entry is built the same way, ``registry.build(kind, options, context)``. The
registries fill as the component modules are imported; `ppl_ssl.components` imports them all.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Generic, TypeVar, get_type_hints

from ppl_ssl import contracts
from ppl_ssl.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    component: T          # the class (a dataset: the instance) that implements the contract
    options: type | None  # dataclass of the component's own typed options, or None if it takes none
    summary: str

    def build(self, options: Any, context: contracts.BuildContext) -> Any:
        return self.component.build(options, context)


def declared_capabilities(contract: type) -> dict[str, type]:
    """The capabilities a contract declares: its ClassVar[bool] attributes, with their types."""
    hints = get_type_hints(contract, include_extras=False, localns=vars(contracts))
    return {name: bool for name, hint in hints.items() if getattr(hint, "__origin__", None) is ClassVar}


class Registry(Generic[T]):
    """A name -> component table for one kind of component, each entry checked against the kind's contract."""

    def __init__(self, kind: str, contract: type):
        self.kind = kind
        self.contract = contract
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, options: type | None = None, summary: str = "") -> Callable[[T], T]:
        def decorate(component: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self.check_contract(name, component)
            first_doc_line = ((component.__doc__ or "").strip().splitlines() or [""])[0]
            self._entries[name] = Entry(name, component, options, summary or first_doc_line)
            return component

        return decorate

    def check_contract(self, name: str, component: Any) -> None:
        """Refuse an entry that does not implement this registry's contract (a programming error: TypeError)."""
        cls = component if isinstance(component, type) else type(component)
        if not issubclass(cls, self.contract):
            raise TypeError(f"{self.kind} '{name}': {cls.__name__} must subclass ppl_ssl.contracts.{self.contract.__name__}")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(cls.__abstractmethods__))
            raise TypeError(f"{self.kind} '{name}': {cls.__name__} leaves {missing} of its contract undefined")
        for capability, kind in declared_capabilities(self.contract).items():
            value = inspect.getattr_static(cls, capability)
            if not isinstance(value, (kind, property)):
                raise TypeError(f"{self.kind} '{name}': {cls.__name__}.{capability} must be a {kind.__name__}, got {value!r}")

    def __getitem__(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(f"unknown {self.kind} '{name}'; choose one of: {', '.join(self.names())}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        return [self._entries[name] for name in self.names()]

    def describe(self) -> str:
        return "\n".join(f"  {e.name:<18} {e.summary}" for e in self.entries())

    def build(self, name: str, options: Any, context: contracts.BuildContext) -> Any:
        """The one builder shape: the entry `name` built from its options in this context."""
        return self[name].build(options, context)


# The project's registries, each with the contract its entries implement.
DATASETS: Registry = Registry("dataset", contracts.Dataset)
NETS: Registry = Registry("nets", contracts.Nets)
PRIORS: Registry = Registry("prior", contracts.Prior)
LIKELIHOODS: Registry = Registry("likelihood", contracts.Likelihood)
GUIDES: Registry = Registry("guide", contracts.Guide)
MODELS: Registry = Registry("model program", contracts.ModelProgram)
OBJECTIVES: Registry = Registry("objective", contracts.Objective)
SAMPLERS: Registry = Registry("ex-post sampler", contracts.Sampler)
METHODS: Registry = Registry("training method", contracts.Method)
TRANSFORMS: Registry = Registry("self-supervised transform", contracts.Transform)
OPTIMISERS: Registry = Registry("optimiser", contracts.Optimiser)
SCHEDULES: Registry = Registry("learning-rate schedule", contracts.Schedule)

ALL: tuple[Registry, ...] = (DATASETS, NETS, PRIORS, LIKELIHOODS, GUIDES, MODELS, OBJECTIVES, SAMPLERS, METHODS, TRANSFORMS,
                             OPTIMISERS, SCHEDULES)
