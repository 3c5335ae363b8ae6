"""Generative stories: the Pyro model programs (installed as `ppl_ssl.models`)."""
from ppl_ssl.models.crvae import CRVAEModel, crvae_model
from ppl_ssl.models.infovae import InfoMaxModel, InfoVAEModel, infomax_model, infovae_model
from ppl_ssl.models.selfvae import SelfVAEModel, selfvae_model
from ppl_ssl.models.ssl import SSLModel, ssl_model

__all__ = ["CRVAEModel", "InfoMaxModel", "InfoVAEModel", "SSLModel", "SelfVAEModel", "crvae_model", "infomax_model",
           "infovae_model", "selfvae_model", "ssl_model"]
