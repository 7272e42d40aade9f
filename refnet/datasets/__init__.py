"""Handwritten digits, returned as the book's ``load_mnist`` returns MNIST.

``((x_train, t_train), (x_test, t_test))`` from two sources:

* :func:`load_digits` (:mod:`refnet.datasets.digits`): scikit-learn's 1,797 8x8 digits,
  offline, split by :func:`stratified_split`;
* :func:`load_mnist` (:mod:`refnet.datasets.mnist`): the original 28x28 MNIST from its
  four IDX files (:func:`read_idx`, :mod:`refnet.datasets.idx`), verified, cached and,
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
