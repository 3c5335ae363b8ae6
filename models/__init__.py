"""Generative stories: the Pyro model programs (installed as `ppl_ssl.models`)."""
from ppl_ssl.models.ssl import SSLModel, ssl_model

__all__ = ["SSLModel", "ssl_model"]
