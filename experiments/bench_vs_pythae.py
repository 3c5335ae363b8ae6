"""ppl-ssl's VAE against Pythae's VAE on identical work: training images per second, alternated in one process.

    pip install pythae==0.1.2   (optional; with the CPU torch here: pip install -c constraints/cpu.txt pythae==0.1.2)
    python experiments/bench_vs_pythae.py [--rounds 2 --train-subset 0 --precision default]

The work: Fashion-MNIST's 55k training images as they are (no augmentation, one view), the SimVAE paper's MLP
nets (784-500-500-2000 encoder, 2000-500-500-784 decoder), latent 10, batch 128, Adam lr 1e-3, a Gaussian
(ppl-ssl: fixed variance) / MSE (Pythae) reconstruction term, one epoch. Each round trains one epoch of each
library, ppl-ssl first then Pythae, and the script prints each library's images/s per round and the median
ratio. Only the training loop is timed: ppl-ssl's epoch seconds (from its history) and Pythae's `train_step`
(its loop over its DataLoader), not model building, evaluation or saving. ppl-ssl runs in its default precision
(`train.precision`) unless --precision says otherwise. Pythae is never imported outside this script.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch
from torch import nn

import ppl_ssl
from ppl_ssl.data import as_float
from ppl_ssl.precision import precision_name, resolve_precision
from ppl_ssl.reporting import epoch_seconds, markdown_table
from ppl_ssl.train.setup import load_data_for

ENCODER_HIDDEN, DECODER_HIDDEN, LATENT = [500, 500, 2000], [2000, 500, 500], 10


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def pythae_vae(image_shape):
    from pythae.models import VAE, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    pixels = int(torch.tensor(image_shape).prod())

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.trunk = nn.Sequential(nn.Flatten(), mlp([pixels, *ENCODER_HIDDEN]), nn.ReLU())
            self.mu, self.log_var = nn.Linear(ENCODER_HIDDEN[-1], LATENT), nn.Linear(ENCODER_HIDDEN[-1], LATENT)

        def forward(self, x):
            h = self.trunk(x)
            return ModelOutput(embedding=self.mu(h), log_covariance=self.log_var(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.body = mlp([LATENT, *DECODER_HIDDEN, pixels])

        def forward(self, z):
            return ModelOutput(reconstruction=torch.sigmoid(self.body(z)).reshape(-1, *image_shape))

    config = VAEConfig(input_dim=tuple(image_shape), latent_dim=LATENT, reconstruction_loss="mse")
    return VAE(config, encoder=Encoder(), decoder=Decoder())


def pythae_epoch_seconds(images: torch.Tensor, out: str) -> float:
    from pythae.data.datasets import BaseDataset
    from pythae.trainers import BaseTrainer, BaseTrainerConfig

    config = BaseTrainerConfig(output_dir=out, num_epochs=1, learning_rate=1e-3, per_device_train_batch_size=128,
                               no_cuda=True, train_dataloader_num_workers=0)
    trainer = BaseTrainer(pythae_vae(images.shape[1:]), train_dataset=BaseDataset(images, torch.zeros(len(images))),
                          training_config=config)  # what Pythae's TrainingPipeline makes of an array
    trainer.prepare_training()  # what BaseTrainer.train does before its epochs: optimiser, output folder, callbacks
    trainer.callback_handler.callbacks = [c for c in trainer.callback_handler.callbacks  # no progress bar (ppl-ssl: none)
                                          if type(c).__name__ != "ProgressBarCallback"]
    started = time.perf_counter()
    trainer.train_step(epoch=1)
    return time.perf_counter() - started


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--train-subset", type=int, default=0, help="training images per epoch (0: all 55k)")
    parser.add_argument("--precision", default="default", choices=["default", "fp32", "bf16", "auto"],
                        help="ppl-ssl's train.precision (default: the library's default)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's malloc alone for both libraries (train.keep_freed_memory = false); by default "
                             "ppl-ssl's fit makes it keep freed memory, which then holds for Pythae's epochs too (one process)")
    args = parser.parse_args(argv)
    try:
        import pythae  # noqa: F401
    except ImportError:
        print("Pythae is not installed; this benchmark needs it: pip install pythae==0.1.2 "
              "(with the CPU torch of these machines: pip install -c constraints/cpu.txt pythae==0.1.2)")
        sys.exit(0)
    overrides = {"train.epochs": 1, "train.device": "cpu", "train.batch_size": 128, "train.lr": 1e-3,
                 "model.latent_dim": LATENT, "data.train_subset": args.train_subset}
    if args.precision != "default":
        overrides["train.precision"] = args.precision
    config = ppl_ssl.build_config("vae", overrides, ["augment.enabled=false", "nets.kind=mlp",
                                                     f"train.keep_freed_memory={str(not args.default_malloc).lower()}"])
    data = load_data_for(config, torch.device("cpu"))
    images = as_float(data.train_x).contiguous()  # the same images, as Pythae's trainer takes them (float, (N, 1, 28, 28))
    n = len(images)
    rows, ratios = [], []
    for round_ in range(args.rounds):
        (ours,), _ = epoch_seconds(config, data)
        with tempfile.TemporaryDirectory() as out:
            theirs = pythae_epoch_seconds(images, out)
        ratios.append(theirs / ours)
        rows.append([round_ + 1, f"{n / ours:,.0f}", f"{n / theirs:,.0f}", f"{theirs / ours:.2f}"])
        print(f"round {round_ + 1}: ppl-ssl {n / ours:,.0f} images/s, Pythae {n / theirs:,.0f} images/s", flush=True)
    ratio = sorted(ratios)[len(ratios) // 2]
    print(f"\n{n} images per epoch, batch 128, ppl-ssl precision {precision_name(resolve_precision(config.train.precision, 'cpu'))}, "
          f"glibc malloc {'default' if args.default_malloc else 'keeping freed memory'}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(markdown_table(["round", "ppl-ssl images/s", "Pythae images/s", "ppl-ssl / Pythae"], rows))
    print(f"median ratio ppl-ssl / Pythae: {ratio:.2f} (target >= 1.3)")
    return {"ratio": ratio, "rounds": rows}


if __name__ == "__main__":
    main()
