"""Handwritten digits, returned as the book's ``load_mnist`` returns MNIST.

``((x_train, t_train), (x_test, t_test))`` from two sources:

* [`load_digits`][refnet.datasets.digits.load_digits] ([`refnet.datasets.digits`][refnet.datasets.digits]): scikit-learn's 1,797 8x8 digits,
  offline, split by [`stratified_split`][refnet.datasets.digits.stratified_split];
* [`load_mnist`][refnet.datasets.mnist.load_mnist] ([`refnet.datasets.mnist`][refnet.datasets.mnist]): the original 28x28 MNIST from its
  four IDX files ([`read_idx`][refnet.datasets.idx.read_idx], [`refnet.datasets.idx`][refnet.datasets.idx]), verified, cached and,
  when asked, downloaded.
"""

from .digits import load_digits, stratified_split
from .idx import read_idx
from .mnist import (
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SHA256,
    DownloadError,
    default_mnist_root,
    load_mnist,
)

__all__ = [
    "load_digits",
    "load_mnist",
    "read_idx",
    "stratified_split",
    "default_mnist_root",
    "DownloadError",
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SHA256",
]
