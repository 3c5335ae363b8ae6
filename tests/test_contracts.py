"""Every registered entry of every registry implements its contract (ppl_ssl.contracts), and registration refuses
one that does not."""
from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from ppl_ssl.components import REGISTRIES
from ppl_ssl.contracts import BuildContext, Prior
from ppl_ssl.registry import Registry, declared_capabilities

ENTRIES = [(registry, entry) for registry in REGISTRIES for entry in registry.entries()]


def test_every_registry_has_entries_and_a_contract():
    assert len(REGISTRIES) == 13 and all(registry.names() for registry in REGISTRIES)


@pytest.mark.parametrize("registry, entry", ENTRIES, ids=[f"{r.kind}:{e.name}" for r, e in ENTRIES])
def test_each_entry_implements_its_contract(registry, entry):
    cls = entry.component if isinstance(entry.component, type) else type(entry.component)
    assert issubclass(cls, registry.contract) and not inspect.isabstract(cls)
    for capability in declared_capabilities(registry.contract):
        value = inspect.getattr_static(cls, capability)
        assert isinstance(value, (bool, property)), f"{cls.__name__}.{capability} = {value!r}"
    assert callable(cls.build)
    if entry.options is not None:
        assert dataclasses.is_dataclass(entry.options)
        entry.options()  # every option has a default: a config may name the kind alone
    assert entry.summary


def test_registration_refuses_what_breaks_the_contract():
    priors = Registry("prior", Prior)

    class NotAPrior(torch.nn.Module):
        pass

    with pytest.raises(TypeError, match="must subclass ppl_ssl.contracts.Prior"):
        priors.register("wrong")(NotAPrior)

    class HalfAPrior(Prior):  # forward left out
        pass

    with pytest.raises(TypeError, match="leaves forward of its contract undefined"):
        priors.register("half")(HalfAPrior)

    class Prior2(Prior):
        def forward(self, views):
            return None

    priors.register("fine")(Prior2)
    with pytest.raises(ValueError, match="registered twice"):
        priors.register("fine")(Prior2)


def test_a_declared_capability_must_be_a_bool():
    from ppl_ssl.contracts import Guide

    guides = Registry("guide", Guide)

    class Vague(Guide):
        has_density = "maybe"

        def forward(self, views):
            return None

        def posterior_mean(self, images):
            return images

    with pytest.raises(TypeError, match="has_density must be a bool"):
        guides.register("vague")(Vague)


def test_every_builder_has_one_shape():
    for registry in REGISTRIES:
        for entry in registry.entries():
            parameters = list(inspect.signature(entry.component.build).parameters)
            assert parameters[-2:] == ["options", "context"], f"{registry.kind} '{entry.name}': build{tuple(parameters)}"


def test_build_context_adds_parts_without_changing_the_old_one():
    context = BuildContext(None, (1, 4, 4), 3)
    more = context.with_parts(encoder=torch.nn.Identity())
    assert context.encoder is None and isinstance(more.encoder, torch.nn.Identity) and more.latent_dim == 3
