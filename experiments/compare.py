"""Generative and discriminative SSL side by side: same data, encoder, augmentations, budget and evaluation.

    python experiments/compare.py --models vae beta-vae simvae crvae simclr vicreg mocov2 --epochs 10 --seeds 3

Trains (or reuses) one run per model and seed under --out (OUT/MODEL-eEPOCHS-sSEED, normal run folders; a
killed comparison resumes), fits post-hoc decoders to the encoders that have no decoder, and writes
    OUT/compare.md            mean ± standard error over seeds: kNN, LP, MP, GMM accuracy, NMI, ARI, style probes, MSE
    OUT/compare.json          the same numbers and every seed's metrics
    OUT/reconstructions.png   test images and each model's reconstructions (own decoder, or post-hoc)
"""
# The command lives in the package (ppl_ssl/commands/compare.py) so that the installed `ppl-ssl compare` runs the
# same code; this script keeps `python experiments/compare.py ...` working from a checkout.
from ppl_ssl.commands.compare import *  # noqa: F401,F403
from ppl_ssl.commands.compare import main

if __name__ == "__main__":
    main()
