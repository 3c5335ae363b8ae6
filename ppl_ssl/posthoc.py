"""A post-hoc decoder for any frozen encoder: the SimVAE paper's protocol (Appendix, "Ad-hoc decoder training")
for looking at what a representation keeps, discriminative ones included.

The decoder has the run's own decoder architecture (`nets.kind`) and output link; it is trained on the frozen
representations of the un-augmented training images with the mean squared error, Adam (lr 1e-4), and stopped
early on the validation MSE (stopped after `patience` epochs without improvement). The best decoder is kept in
RUN/posthoc_decoder.pt (`ppl_ssl.runs.PosthocDecoder`; a loaded run decodes with it), written atomically after every epoch with the training state, so a killed fit resumes.
"""
from __future__ import annotations

import copy
import math
import time

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ppl_ssl import figures
from ppl_ssl.data import DataSplits, as_float
from ppl_ssl.evaluation import embed
from ppl_ssl.storage import atomic_torch_save, atomic_write_json, load_checkpoint
from ppl_ssl.runs import PosthocDecoder, Run, posthoc_path


@torch.no_grad()
def _mse(decoder: PosthocDecoder, codes: torch.Tensor, images: torch.Tensor, batch_size: int = 2048) -> float:
    decoder.eval()
    total = sum(float(F.mse_loss(decoder(codes[i : i + batch_size]), as_float(images[i : i + batch_size]), reduction="sum"))
                for i in range(0, len(codes), batch_size))
    return total / images.numel()


def fit_posthoc_decoder(run: Run, data: DataSplits, max_epochs: int = 100, patience: int = 5, lr: float = 1e-4,
                        batch_size: int = 128, seed: int = 0, refit: bool = False, progress: bool = True) -> tuple[PosthocDecoder, dict]:
    """Train (or load the kept) post-hoc decoder of a run; returns it and its summary (MSE per pixel, epochs).

    The training state is saved after every epoch, so a killed fit resumes where it stopped."""
    device = run.device
    torch.manual_seed(seed)
    decoder = PosthocDecoder(run.config, data.spec.image_shape).to(device)
    optimiser = torch.optim.Adam(decoder.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    path = posthoc_path(run.root)
    best, best_state, best_epoch, done, seconds = math.inf, None, 0, 0, 0.0
    if path.exists() and not refit:
        state = load_checkpoint(path, required=("summary",))
        if state["summary"] is not None:
            decoder.load_state_dict(state["best_decoder"])
            return decoder, state["summary"]
        decoder.load_state_dict(state["decoder"])
        optimiser.load_state_dict(state["optimiser"])
        generator.set_state(state["generator"])
        best, best_state, best_epoch, done, seconds = (state["best"], state["best_decoder"], state["best_epoch"],
                                                       state["epoch"], state["seconds"])
    codes = {split: embed(run.system.encode, data.split(split)[0]).to(device) for split in ("train", "val", "test")}
    n, trained = len(codes["train"]), done
    for epoch in range(done + 1, max_epochs + 1):
        if epoch - best_epoch > patience:
            break  # `patience` epochs without a better validation MSE
        started = time.perf_counter()
        decoder.train()
        order = torch.randperm(n, generator=generator).to(device)
        for i in range(0, n, batch_size):
            index = order[i : i + batch_size]
            loss = F.mse_loss(decoder(codes["train"][index]), as_float(data.train_x[index]))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        val = _mse(decoder, codes["val"], data.val_x)
        if val < best:
            best, best_epoch, best_state = val, epoch, copy.deepcopy(decoder.state_dict())
        seconds, trained = seconds + time.perf_counter() - started, epoch
        atomic_torch_save(path, {"decoder": decoder.state_dict(), "optimiser": optimiser.state_dict(),
                                 "generator": generator.get_state(), "epoch": epoch, "best": best, "best_epoch": best_epoch,
                                 "best_decoder": best_state, "seconds": seconds, "summary": None})
        if progress:
            tqdm.write(f"post-hoc decoder epoch {epoch}: validation MSE {val:.5f} (best {best:.5f} at epoch {best_epoch})")
    decoder.load_state_dict(best_state)
    summary = {"posthoc_val_mse": best, "posthoc_best_epoch": best_epoch, "posthoc_epochs": trained,
               "posthoc_reconstruction_mse": _mse(decoder, codes["test"], data.test_x), "posthoc_seconds": seconds}
    atomic_torch_save(path, {"best_decoder": best_state, "summary": summary})
    return decoder, summary


def decode_run(run: Run, data: DataSplits, **options) -> dict:
    """Fit the post-hoc decoder, add its test MSE to metrics.json, draw test images over their reconstructions."""
    decoder, summary = fit_posthoc_decoder(run, data, **options)
    images = as_float(data.test_x[:16]).to(run.device)
    with torch.no_grad():
        decoder.eval()
        reconstructions = decoder(run.system.encode(images))
    figure = run.paths.figures / "posthoc_reconstructions.png"
    figures.comparison_grid([images, reconstructions], ["test", "post-hoc"], figure,
                            f"{run.config.name}: test images and reconstructions by a decoder fitted to the frozen encoder")
    metrics = {**run.metrics, **summary}
    atomic_write_json(run.paths.metrics, metrics)
    run.metrics = metrics
    return {**summary, "figure": str(figure)}
