"""Datasets (Fashion-MNIST, MNIST, scikit-learn digits, CIFAR-10, CelebA) read from local files."""
from ppl_ssl.data.datasets import Attributes, DatasetSpec, DataSplits, as_float, load_dataset

__all__ = ["Attributes", "DatasetSpec", "DataSplits", "as_float", "load_dataset"]
