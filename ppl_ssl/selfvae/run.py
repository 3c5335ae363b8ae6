"""selfVAE's modes on a fitted run: `ppl-ssl sample RUN --mode ...`."""
from __future__ import annotations

from pathlib import Path

import torch

from ppl_ssl.data import as_float
from ppl_ssl.errors import ConfigError
from ppl_ssl.selfvae import figures as selfvae_figures
from ppl_ssl.selfvae.modes import available_modes, check_modes, quality, run_mode
from ppl_ssl.storage import atomic_write_json
from ppl_ssl.runs import load_run
from ppl_ssl.train.setup import load_data_for


def selfvae_modes_run(run_dir: str | Path, modes: list[str] | None, n: int = 8, device: str = "auto", seed: int = 0,
                      quality_images: int = 1000) -> dict:
    """Run selfVAE's generation/reconstruction modes on test images: a grid of the first n images in every mode
    (RUN/figures/modes.png), quality against sent information over `quality_images` test images
    (RUN/figures/quality_vs_sent_information.png, RUN/modes.json). `modes` None: every mode the model has."""
    run = load_run(run_dir, device=device)
    if run.config.model.program.kind != "selfvae":
        raise ConfigError(f"--mode needs a selfVAE run (model.program = selfvae); {run_dir} has "
                          f"model.program = '{run.config.model.program.kind}'; use --sampler instead")
    data = load_data_for(run.config, run.device)
    model, guide = run.system.model, run.system.guide
    levels = len(model.levels.shapes)
    modes = list(modes or available_modes(levels))
    check_modes(modes, levels)  # before any work: one line naming the mode the run's model lacks
    torch.manual_seed(seed)
    shown = as_float(data.test_x[:n]).to(run.device)
    selfvae_figures.modes_grid(shown, [run_mode(model, guide, shown, m) for m in modes], run.paths.figures / "modes.png",
                          f"{run.config.name}: generation and reconstruction modes")
    scored = as_float(data.test_x[:quality_images]).to(run.device)
    original_bits = 8.0 * scored[0].numel()
    summary = []
    for mode in modes:
        result = run_mode(model, guide, scored, mode)
        summary.append({"mode": mode, "sent": list(result.sent), "sent_bits": float(result.sent_bits.mean()),
                        "sent_share": float(result.sent_bits.mean()) / original_bits, **quality(result.images, scored)})
    selfvae_figures.quality_vs_sent_information(summary, run.paths.figures / "quality_vs_sent_information.png", original_bits)
    atomic_write_json(run.paths.root / "modes.json", {"images": len(scored), "original_bits": original_bits, "modes": summary})
    return {"figure": str(run.paths.figures / "modes.png"), "modes": summary}
