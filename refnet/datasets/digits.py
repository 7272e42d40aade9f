"""Scikit-learn's 8x8 handwritten digits, split like the book's MNIST.

[`load_digits`][refnet.datasets.digits.load_digits] returns the 1,797 digits that ship inside the scikit-learn wheel (no
network, no files) the way the book's ``load_mnist`` returns MNIST,
``((x_train, t_train), (x_test, t_test))``, split by [`stratified_split`][refnet.datasets.digits.stratified_split], which is
implemented here so that the split does not change when scikit-learn does.

scikit-learn is imported inside [`load_digits`][refnet.datasets.digits.load_digits] (install it with
``pip install -e '.[train]'``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from .._checks import as_generator, flag, install_hint, one_hot, open_fraction

__all__ = ["load_digits", "stratified_split"]

#: ``((x_train, t_train), (x_test, t_test))``
Split = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def stratified_split(
    labels: ArrayLike,
    *,
    test_size: float = 0.25,
    rng: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into train and test sets, class by class.

    For every class (in sorted order) the indices of its examples are permuted
    with the generator ``rng`` gives and the first
    ``floor(test_size * n_class + 0.5)`` of them (``test_size * n_class``
    rounded, halves up) go to the test set, the rest to the training set.
    Both index arrays are then sorted, so each side keeps the original order of
    the examples; shuffle minibatches yourself.

    Parameters
    ----------
    labels : array_like, shape (N,)
        Class label of each example (any values ``np.unique`` can sort).
    test_size : float, default 0.25
        Fraction of each class that goes to the test set, strictly between 0
        and 1, and such that every class keeps at least one example on each
        side.
    rng : numpy.random.Generator, int or None, default 0
        The generator that draws the split (its state advances), or a
        non-negative seed for one; None draws fresh entropy.

    Returns
    -------
    train_idx, test_idx : ndarray of intp
        Disjoint, sorted indices that together cover ``range(N)``.

    Raises
    ------
    TypeError
        If `test_size` is not a real number or `rng` is neither a Generator,
        an int nor None.
    ValueError
        If `labels` is not 1-D and non-empty, `test_size` is outside (0, 1),
        `rng` is a negative seed, or some class would end up with no example on
        one side.

    Examples
    --------
    >>> train_idx, test_idx = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], test_size=0.5)
    >>> len(train_idx), len(test_idx)
    (4, 4)
    >>> sorted(np.asarray([0, 0, 0, 0, 1, 1, 1, 1])[test_idx].tolist())
    [0, 0, 1, 1]
    """
    y = np.asarray(labels)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {y.shape}")
    size = open_fraction("test_size", test_size)
    return _split_indices(y, size, as_generator(rng))


def _split_indices(
    labels: np.ndarray, test_size: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    classes, class_of = np.unique(labels, return_inverse=True)
    class_of = class_of.reshape(-1)  # NumPy 2.0.x returned the input's shape here
    counts = np.bincount(class_of, minlength=classes.size)
    # Round half up rather than Python's round-half-to-even, so the rule is easy to state.
    n_test = np.floor(test_size * counts + 0.5).astype(np.intp)
    for cls, n, k in zip(classes.tolist(), counts.tolist(), n_test.tolist(), strict=True):
        if k < 1:
            raise ValueError(
                f"test_size={test_size} leaves no test example of class {cls!r} "
                f"({n} examples); use a larger test_size"
            )
        if k > n - 1:
            raise ValueError(
                f"test_size={test_size} leaves no training example of class {cls!r} "
                f"({n} examples); use a smaller test_size"
            )
    # A stable sort groups the indices by class while keeping each group in original order,
    # so the permutation drawn for a class depends only on rng and the class members.
    by_class = np.argsort(class_of, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(counts)))
    test_parts = [
        rng.permutation(by_class[bounds[c] : bounds[c + 1]])[: n_test[c]]
        for c in range(classes.size)
    ]
    test_idx = np.sort(np.concatenate(test_parts))
    in_test = np.zeros(labels.shape[0], dtype=bool)
    in_test[test_idx] = True
    return np.flatnonzero(~in_test), test_idx


def load_digits(
    *,
    test_size: float = 0.25,
    rng: int | np.random.Generator | None = 0,
    one_hot_label: bool = False,
    normalize: bool = True,
    flatten: bool = True,
) -> Split:
    """Load scikit-learn's 8x8 handwritten digits, split like the book's MNIST.

    The 1,797 images ship inside the scikit-learn wheel, so nothing is
    downloaded. The train/test split is [`stratified_split`][refnet.datasets.digits.stratified_split] (per class,
    ``floor(test_size * n_class + 0.5)`` examples drawn with ``rng`` go to the
    test set; both sides stay in the original order), implemented here so it
    does not change with the scikit-learn version.

    Parameters
    ----------
    test_size : float, default 0.25
        Fraction of each class held out for testing, in (0, 1).
    rng : numpy.random.Generator, int or None, default 0
        The generator that draws the split (its state advances), or a
        non-negative seed for one; None draws fresh entropy.
    one_hot_label : bool, default False
        Return labels as one-hot float64 rows of length 10 instead of int64.
    normalize : bool, default True
        Divide the pixels (integers 0..16) by 16 to get values in [0, 1];
        otherwise keep 0..16. Pixels are float64 either way.
    flatten : bool, default True
        Return images as rows of 64 pixels; otherwise shape ``(N, 1, 8, 8)``.

    Returns
    -------
    (x_train, t_train), (x_test, t_test) : tuple of tuple of ndarray
        Fresh, writable, C-contiguous arrays. ``x`` has shape ``(N, 64)`` or
        ``(N, 1, 8, 8)``; ``t`` has shape ``(N,)`` (int64) or ``(N, 10)``.

    Raises
    ------
    ImportError
        If scikit-learn is not installed.
    TypeError, ValueError
        For invalid arguments (see [`stratified_split`][refnet.datasets.digits.stratified_split]).

    Examples
    --------
    >>> (x_train, t_train), (x_test, t_test) = load_digits()
    >>> x_train.shape, x_test.shape
    ((1346, 64), (451, 64))
    >>> x_train.dtype, t_train.dtype, float(x_train.max())
    (dtype('float64'), dtype('int64'), 1.0)
    """
    size = open_fraction("test_size", test_size)
    generator = as_generator(rng)
    one_hot_label = flag("one_hot_label", one_hot_label)
    normalize = flag("normalize", normalize)
    flatten = flag("flatten", flatten)
    pixels, labels = digits_arrays()
    train_idx, test_idx = _split_indices(labels, size, generator)
    return (
        _side(pixels, labels, train_idx, normalize, flatten, one_hot_label),
        _side(pixels, labels, test_idx, normalize, flatten, one_hot_label),
    )


def _side(pixels, labels, idx, normalize: bool, flatten: bool, one_hot_label: bool):
    x = pixels[idx]  # fancy indexing copies: the cached arrays are never handed out
    if normalize:
        x /= 16.0
    if not flatten:
        x = x.reshape(-1, 1, 8, 8)
    t = labels[idx]
    return x, (one_hot(t, 10) if one_hot_label else t)


@lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """Scikit-learn's digits as read-only (float64 pixels 0..16, int64 labels)."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, whose wheel ships the 8x8 digits; "
            f"install it with: {install_hint('train')}"
        ) from exc
    images, labels = sklearn_load_digits(return_X_y=True)
    pixels = np.array(images, dtype=np.float64, order="C")
    targets = np.array(labels, dtype=np.int64)
    # Guard the assumptions the rest of this module makes about the bundled data.
    if (
        pixels.ndim != 2
        or pixels.shape[1] != 64
        or targets.shape != (pixels.shape[0],)
        or pixels.min() < 0
        or pixels.max() > 16
        or not np.array_equal(pixels, np.round(pixels))
        or targets.min() < 0
        or targets.max() > 9
    ):
        raise RuntimeError(
            "scikit-learn's load_digits returned unexpected data "
            f"(pixels {pixels.shape}, labels {targets.shape}); expected 8x8 images "
            "with integer pixels 0..16 and labels 0..9"
        )
    pixels.setflags(write=False)
    targets.setflags(write=False)
    return pixels, targets
