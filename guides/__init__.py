"""Inference programs: the Pyro guides (installed as `ppl_ssl.guides`)."""
from ppl_ssl.guides.mean_field import MeanFieldGuide, mean_field_guide

__all__ = ["MeanFieldGuide", "mean_field_guide"]
