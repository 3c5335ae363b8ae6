"""SVI step of SimVAE (Pyro model/guide, Trace_ELBO as an nn.Module) against a hand-written plain-torch step
of the same loss on the same nets.  python experiments/bench_svi_step.py [--batch 128 --views 10 --device cpu]

Both steps compute −ELBO with the same reparameterised sample, the collapsed group prior and the Gaussian
likelihood, then backward and Adam. They are timed interleaved in one process, so the ratio is robust to the
machine's drift; the script first checks that both give the same loss on the same random draw.
"""
from __future__ import annotations

import argparse
import math

import pyro
import torch

import ppl_ssl
from ppl_ssl.reporting import round_robin_medians
from ppl_ssl.system import build_system


def plain_torch_loss(encoder, decoder, views, sigma2, gamma, variance):
    n, j = views.shape[:2]
    x = views.flatten(0, 1)
    loc, scale = encoder(x)
    z = loc + scale * torch.randn_like(loc)
    mean = torch.sigmoid(decoder(z))
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
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    config = ppl_ssl.build_config("simvae", {"model.views": args.views})
    system = build_system(config, (1, 28, 28)).to(device)
    encoder, decoder = system.guide.encoder, system.model.decoder
    prior = config.model.prior.options
    variance = config.model.likelihood.options.variance
    views = torch.rand(args.batch, args.views, 1, 28, 28, device=device)

    pyro.set_rng_seed(0)
    pyro_loss = float(system.training_loss(views)[0].detach())
    pyro.set_rng_seed(0)
    torch_loss = float(plain_torch_loss(encoder, decoder, views, prior.sigma2, prior.gamma, variance))
    assert abs(pyro_loss - torch_loss) <= 1e-4 * abs(torch_loss), (pyro_loss, torch_loss)

    optimiser = torch.optim.Adam(system.parameters(), lr=1e-4, eps=1e-4)

    def pyro_step():
        loss, _ = system.training_loss(views)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    def torch_step():
        loss = plain_torch_loss(encoder, decoder, views, prior.sigma2, prior.gamma, variance)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    median = round_robin_medians({"pyro": pyro_step, "torch": torch_step}, args.steps, device, warmup_rounds=3)
    ratio = median["pyro"] / median["torch"]
    print(f"device {device}, B={args.batch} images x J={args.views} views, MLP nets, {args.steps} steps each (median)")
    print(f"  pyro SVI step (Trace_ELBO module): {1e3 * median['pyro']:.1f} ms")
    print(f"  plain torch step, same loss:       {1e3 * median['torch']:.1f} ms")
    print(f"  ratio pyro / torch: {ratio:.3f} (target <= 1.10)")
    return ratio


if __name__ == "__main__":
    main()
