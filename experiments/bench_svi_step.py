"""SVI step of SimVAE (Pyro model/guide, Trace_ELBO as an nn.Module) against a hand-written plain-torch step
of the same loss on the same nets, in fp32 and in bf16.
    python experiments/bench_svi_step.py [--batch 128 --views 10 --device cpu --precisions fp32 bf16]

Both steps are fit's own (`ppl_ssl.train.step.TrainStep`: augmented views, loss, backward, gradient norm,
fused Adam); only the loss differs. Both compute −ELBO with the same reparameterised sample, the collapsed group
prior and the Gaussian likelihood. They are timed interleaved in one process, so the ratio is robust to the
machine's drift; the script first checks that both give the same loss on the same random draw. In bf16 both run
their nets under autocast and everything after the nets in fp32 (the plain step casts the nets' outputs by hand,
as `ppl_ssl.precision` does for the Pyro step).
"""
from __future__ import annotations

import argparse
import math

import pyro
import torch

import ppl_ssl
from ppl_ssl.nets import MIN_SCALE
from ppl_ssl.precision import apply_precision, resolve_precision
from ppl_ssl.reporting import round_robin_medians
from ppl_ssl.runtime import keep_freed_memory
from ppl_ssl.train.setup import build_train_step
from ppl_ssl.train.step import TrainStep


def plain_torch_loss(encoder, decoder, views, sigma2, gamma, variance, dtype=torch.float32):
    n, j = views.shape[:2]
    x = views.flatten(0, 1)
    with torch.autocast(views.device.type, dtype=dtype, enabled=dtype != torch.float32):
        h = encoder.trunk(x)
        loc, raw_scale = encoder.head.linear(h).float().chunk(2, dim=-1)
    scale = torch.nn.functional.softplus(raw_scale) + MIN_SCALE
    z = loc + scale * torch.randn_like(loc)
    with torch.autocast(views.device.type, dtype=dtype, enabled=dtype != torch.float32):
        raw = decoder.body(z).float()
    mean = torch.sigmoid(raw)
    reconstruction = -((x - mean) ** 2).sum() / (2 * variance) - 0.5 * x.numel() * math.log(2 * math.pi * variance)
    entropy = (torch.log(scale) + 0.5 * math.log(2 * math.pi) + 0.5 * ((z - loc) / scale) ** 2).sum()
    zz = z.unflatten(0, (n, j))
    quad = ((zz**2).sum(1) - zz.sum(1) ** 2 / (j + sigma2 / gamma**2)) / sigma2
    log_prior = -0.5 * (quad + j * math.log(2 * math.pi * sigma2) + math.log1p(j * gamma**2 / sigma2)).sum()
    return -(reconstruction + log_prior + entropy)


def main(argv=None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--default-malloc", action="store_true", help="leave glibc's malloc settings alone "
                        "(fit keeps freed memory: ppl_ssl.runtime.keep_freed_memory)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if not args.default_malloc:
        keep_freed_memory()  # as fit does
    config = ppl_ssl.build_config("simvae", {"model.views": args.views, "train.precision": "fp32"})
    fit_step = build_train_step(config, (1, 28, 28), device)
    system = fit_step.system
    encoder, decoder = system.guide.encoder, system.model.decoder
    prior = config.model.prior.options
    variance = config.model.likelihood.options.variance
    views = torch.rand(args.batch, args.views, 1, 28, 28, device=device)  # for the check that both losses agree
    images = torch.randint(0, 256, (args.batch, 1, 28, 28), dtype=torch.uint8, device=device)
    calls, ratios = {}, {}
    for name in args.precisions:
        dtype = resolve_precision(name, device)

        def pyro_loss(dtype=dtype):
            apply_precision(system, dtype)
            return system.training_loss(views)[0]

        def torch_loss(dtype=dtype):
            apply_precision(system, torch.float32)  # the plain step enters autocast itself
            return plain_torch_loss(encoder, decoder, views, prior.sigma2, prior.gamma, variance, dtype)

        pyro.set_rng_seed(0)
        with torch.no_grad():
            pyro_value = float(pyro_loss())
        pyro.set_rng_seed(0)
        with torch.no_grad():
            torch_value = float(torch_loss())
        assert abs(pyro_value - torch_value) <= 1e-4 * abs(torch_value), (name, pyro_value, torch_value)

        def pyro_trainable(batch, kl_weight=1.0, dtype=dtype):
            apply_precision(system, dtype)
            return system.training_loss(batch, kl_weight)

        def torch_trainable(batch, kl_weight=1.0, dtype=dtype):
            apply_precision(system, torch.float32)
            return plain_torch_loss(encoder, decoder, batch, prior.sigma2, prior.gamma, variance, dtype), {}

        def step(trainable):
            train_step = TrainStep(system, fit_step.optimiser, fit_step.augmenter, args.views, trainable=trainable)
            return lambda: train_step(images)

        calls[f"pyro {name}"], calls[f"torch {name}"] = step(pyro_trainable), step(torch_trainable)
    with pyro.validation_enabled(False):  # as in training: argument checks would wait for the device
        median = round_robin_medians(calls, args.steps, device, warmup_rounds=3)
    print(f"device {device}, B={args.batch} images x J={args.views} views, MLP nets, {args.steps} steps each (median, round-robin)")
    for name in args.precisions:
        ratios[name] = median[f"pyro {name}"] / median[f"torch {name}"]
        print(f"  {name}: pyro SVI step (Trace_ELBO module) {1e3 * median[f'pyro {name}']:.1f} ms, plain torch step of the same "
              f"loss {1e3 * median[f'torch {name}']:.1f} ms: ratio {ratios[name]:.3f} (target <= 1.05)")
    return ratios


if __name__ == "__main__":
    main()
