"""Model graphs: `pyro.render_model` of a run's model program and guide, as PNG (graphviz's `dot` draws them).

The SSL model is drawn with its content ψ explicit (`ssl_model_with_content`, the paper's Figure 1: a plate over
images holding ψ, and inside it a plate over the J views holding z^j and the observed x^j); fitting integrates ψ
out. Every other program (CR-VAE with its contrastive factor, InfoVAE, InfoMax-VAE, selfVAE's K levels) is drawn
as it runs. Observed sites are grey.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pyro
import pyro.poutine as poutine
import torch

from ppl_ssl.models.ssl import SSLModel, ssl_model_with_content
from ppl_ssl.priors import SSLGroupPrior
from ppl_ssl.storage import atomic_write_bytes


def graphviz_available() -> bool:
    return shutil.which("dot") is not None


def _example(system, views: int, image_shape: tuple[int, int, int]) -> torch.Tensor:
    device = next(system.parameters()).device
    return torch.rand(2, views, *image_shape, device=device)


def model_graph(system, views: int, image_shape: tuple[int, int, int]):
    """The graphviz.Digraph of the system's model program on J = `views` views."""
    x = _example(system, views, image_shape)
    model = system.model
    with torch.no_grad():
        if type(model) is SSLModel and isinstance(model.prior, SSLGroupPrior):
            args = (x, model.decoder, model.likelihood, model.prior.latent_dim, float(model.prior.sigma),
                    float(model.prior.gamma))
            return pyro.render_model(ssl_model_with_content, model_args=args, render_distributions=True)
        try:
            return pyro.render_model(model, model_args=(x,), render_distributions=True)
        except NotImplementedError:  # a code without a density (the WAE's, the AAE's) cannot be drawn: the guide's
            codes = poutine.trace(system.guide).get_trace(x)
            return pyro.render_model(poutine.replay(model, trace=codes), model_args=(x,), render_distributions=True)


def guide_graph(system, views: int, image_shape: tuple[int, int, int]):
    with torch.no_grad():
        return pyro.render_model(system.guide, model_args=(_example(system, views, image_shape),), render_distributions=True)


def side_by_side(panels: list[tuple[bytes, str]]) -> bytes:
    """PNGs next to each other, each under its label (the model and its guide in one picture)."""
    import io

    from PIL import Image, ImageDraw

    images = [(Image.open(io.BytesIO(png)).convert("RGB"), label) for png, label in panels]
    width, height = sum(i.width for i, _ in images) + 40 * len(images), max(i.height for i, _ in images) + 30
    canvas = Image.new("RGB", (width, height), "white")
    x = 0
    for image, label in images:
        canvas.paste(image, (x, 30))
        ImageDraw.Draw(canvas).text((x + 10, 8), label, fill="black")
        x += image.width + 40
    out = io.BytesIO()
    canvas.save(out, format="PNG")
    return out.getvalue()


def write_graphs(system, views: int, image_shape: tuple[int, int, int], folder: Path) -> list[Path]:
    """folder/model_graph.png (the model program) and folder/model_and_guide.png; nothing without `dot` or a Pyro
    program (the discriminative methods have none)."""
    if not graphviz_available() or not system.can_decode:
        return []
    model = model_graph(system, views, image_shape).pipe(format="png")
    atomic_write_bytes(folder / "model_graph.png", model)
    try:
        guide = guide_graph(system, views, image_shape).pipe(format="png")
    except (KeyError, RuntimeError, NotImplementedError) as err:
        # Pyro's tracer cannot follow every guide: flows whose transforms cache their input (the planar/radial
        # flows) fail its provenance tracking; the model graph stands alone then
        panels = [(model, f"model (guide not drawn: Pyro's tracer raised {type(err).__name__})")]
        atomic_write_bytes(folder / "model_and_guide.png", side_by_side(panels))
        return [folder / "model_graph.png", folder / "model_and_guide.png"]
    atomic_write_bytes(folder / "model_and_guide.png", side_by_side([(model, "model"), (guide, "guide")]))
    return [folder / "model_graph.png", folder / "model_and_guide.png"]
