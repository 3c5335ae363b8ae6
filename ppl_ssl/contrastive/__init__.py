"""Pieces of contrastive and non-contrastive SSL, each small and tested alone (as in lightly): losses, projection
heads, the FIFO key queue and the momentum (EMA) update. The discriminative baselines (`ppl_ssl.baselines`) and
CR-VAE's contrastive term (`models/crvae_contrastive.py`) are assembled from them."""
from ppl_ssl.contrastive.heads import ProjectionHead
from ppl_ssl.contrastive.losses import info_nce, nt_xent, vicreg_terms
from ppl_ssl.contrastive.momentum import KeyQueue, MomentumContrast, frozen_copy, momentum_update

__all__ = ["KeyQueue", "MomentumContrast", "ProjectionHead", "frozen_copy", "info_nce", "momentum_update", "nt_xent",
           "vicreg_terms"]
