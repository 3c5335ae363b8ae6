"""Generative stories: the Pyro model programs (installed as `ppl_ssl.models`)."""
from ppl_ssl.models.autoencoders import AAEModel, AutoencoderModel, VQVAEModel, aae_model, vq_vae_model, RAEModel, WAEModel, autoencoder_model, rae_model, wae_model
from ppl_ssl.models.beta_tc_vae import BetaTCVAEModel, beta_tc_vae_model
from ppl_ssl.models.factor_vae import FactorVAEModel, factor_vae_model
from ppl_ssl.models.crvae_consistency import ConsistencyCRVAEModel, consistency_crvae_model
from ppl_ssl.models.crvae_contrastive import ContrastiveCRVAEModel, contrastive_crvae_model
from ppl_ssl.models.hvae import HVAEModel, hvae_model
from ppl_ssl.models.rhvae import RHVAEModel, rhvae_model
from ppl_ssl.models.msssim_vae import MSSSIMVAEModel, msssim_vae_model
from ppl_ssl.models.infovae import InfoMaxModel, InfoVAEModel, infomax_model, infovae_model
from ppl_ssl.models.selfvae import SelfVAEModel, selfvae_model
from ppl_ssl.models.ssl import SSLModel, ssl_model
from ppl_ssl.models.vaegan import VAEGANModel, vaegan_model

__all__ = ["AAEModel", "aae_model", "VQVAEModel", "vq_vae_model", "AutoencoderModel", "BetaTCVAEModel", "beta_tc_vae_model", "RAEModel", "WAEModel", "autoencoder_model", "rae_model", "wae_model", "ConsistencyCRVAEModel", "FactorVAEModel", "factor_vae_model", "ContrastiveCRVAEModel", "InfoMaxModel", "InfoVAEModel", "SSLModel", "SelfVAEModel", "consistency_crvae_model", "contrastive_crvae_model", "infomax_model",
           "infovae_model", "MSSSIMVAEModel", "msssim_vae_model", "HVAEModel", "hvae_model", "RHVAEModel", "rhvae_model", "selfvae_model", "ssl_model", "VAEGANModel", "vaegan_model"]
