"""Loss functions: mean squared error (eq. 4.1) and cross-entropy error (eqs. 4.2 and 4.3).

Shapes follow the book.  ``y`` is one sample of K outputs, shape ``(K,)``, or a batch,
shape ``(N, K)``.  The target ``t`` is either

* **one-hot** (or any probability row): the same shape as ``y``; or
* **labels**: integer class indices, shape ``()`` for one sample or ``(N,)`` for a batch.

Both forms give the same number for the same data, to the last bit: the one-hot form
sums each row first (a one-hot row has one non-zero term, so its sum is exact), then
both forms average the per-sample losses the same way.

Batch convention: a batch's loss is the **mean over samples** of the one-sample loss.
For cross-entropy this is eq. 4.3; for the squared error we apply the same rule, so that
``mean_squared_error(y[None], t[None]) == mean_squared_error(y, t)`` and the value does not
grow with the batch size (the book's ``0.5 * np.sum((y - t)**2)`` sums over the batch).
"""

from __future__ import annotations

import os
import sys
import types
import warnings
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

from ._checks import finite, one_hot, positive_finite_scalar, real_float_array

__all__ = [
    "mean_squared_error",
    "cross_entropy_error",
    "DEFAULT_DELTA",
    "TargetWarning",
    "checked_targets",
    "cross_entropy_unchecked",
]


class TargetWarning(UserWarning):
    r"""Cross-entropy targets whose rows are not probability distributions.

    $-∑_k t_k \log(y_k + δ)$ is defined for any non-negative ``t``, and the book itself
    passes dummy targets ``np.random.rand(100, 10)`` (section 4.5.1) to show the shapes
    of the gradients, so such rows are accepted and the loss is computed as written.  It
    is then a weighted sum of log-probabilities, not a cross-entropy between
    distributions (its minimum is not at ``y = t``), which with real data is usually a
    mistake: hence a warning, not silence.
    """


TargetWarning.__module__ = "refnet"

#: The book's guard against log(0) in cross_entropy_error.
DEFAULT_DELTA = 1e-7


def checked_targets(
    y_shape: tuple, t: ArrayLike, *, need_distribution: bool
) -> tuple[np.ndarray, bool]:
    """``t`` checked against outputs of shape ``y_shape``: ``(t, whether it holds labels)``.

    Labels (integers, shape ``y_shape[:-1]``) come back as ``intp``; rows (shape
    ``y_shape``) as a real array, and with ``need_distribution`` negative or empty rows are
    refused and rows not summing to 1 get a `TargetWarning`, as in `cross_entropy_error`.

    Examples
    --------
    >>> checked_targets((2, 3), [2, 0], need_distribution=True)
    (array([2, 0]), True)
    >>> checked_targets((2, 3), [[0, 0, 1], [1, 0, 0]], need_distribution=True)[1]
    False
    """
    t_arr = np.asarray(t)
    if t_arr.dtype.kind == "c":
        raise TypeError(f"t must be real, got complex dtype {t_arr.dtype}")
    if t_arr.shape == y_shape:
        t_arr = real_float_array("t", t_arr)
        finite("t", t_arr)
        if need_distribution:
            _check_target_rows(t_arr)
        return t_arr, False
    if t_arr.shape == y_shape[:-1]:
        if t_arr.dtype.kind not in "iu":
            if (
                t_arr.dtype.kind == "f"
                and np.all(np.isfinite(t_arr))
                and np.all(t_arr == np.round(t_arr))
            ):
                raise TypeError(
                    f"t has shape {t_arr.shape} (labels for y of shape {y_shape}) but dtype "
                    f"{t_arr.dtype}: labels must be integers; pass t.astype(int)"
                )
            raise TypeError(
                f"t has shape {t_arr.shape} (labels for y of shape {y_shape}) but dtype "
                f"{t_arr.dtype}: labels must be integers"
            )
        classes = y_shape[-1]
        if t_arr.size and (t_arr.min() < 0 or t_arr.max() >= classes):
            low, high = int(t_arr.min()), int(t_arr.max())
            raise ValueError(
                f"t has labels from {low} to {high} but y has {classes} classes "
                f"(labels must be in 0..{classes - 1})"
            )
        return t_arr.astype(np.intp, copy=False), True
    raise ValueError(
        f"t has shape {t_arr.shape}, which fits y of shape {y_shape} neither as one-hot "
        f"targets (shape {y_shape}) nor as labels (shape {y_shape[:-1]})"
    )


def _check_target_rows(t: np.ndarray) -> None:
    """Refuse negative or empty target rows; warn (TargetWarning) on rows not summing to 1."""
    if np.any(t < 0):
        index = tuple(int(i) for i in np.argwhere(t < 0)[0])
        raise ValueError(
            f"t (one-hot or probability targets) must be non-negative, found {t[index]} "
            f"at index {index}"
        )
    sums = np.atleast_1d(np.sum(t, axis=-1, dtype=np.float64))
    if np.any(sums == 0):
        row = int(np.argmax(sums == 0))
        raise ValueError(
            f"t (one-hot targets) must put weight on some class: row {row} sums to 0.0 "
            "(a one-hot row needs its 1)"
        )
    off = np.abs(sums - 1) > 1e-6
    if np.any(off):
        row = int(np.argmax(off))
        warnings.warn(
            f"t's rows are not probability distributions (row {row} sums to "
            f"{float(sums[row]):.4g}, not 1): the loss is computed as written, "
            "-sum(t * log(y + delta)), a weighted sum of log-probabilities rather than a "
            "cross-entropy. Fine for dummy targets such as the book's np.random.rand(100, 10) "
            "(section 4.5.1); with real data, normalise the rows or pass labels",
            TargetWarning,
            stacklevel=_caller_outside_refnet(),
        )


def _caller_outside_refnet() -> int:
    """The ``stacklevel`` that attributes a warning to the first caller outside refnet."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame: types.FrameType | None = sys._getframe(1)
    level = 1  # level 1: the function calling warnings.warn
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _outputs(y) -> np.ndarray:
    y = real_float_array("y", y)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be one sample (K,) or a batch (N, K), got shape {y.shape}")
    if y.shape[-1] == 0:
        raise ValueError("y must have at least one class, got 0 columns")
    if y.ndim == 2 and y.shape[0] == 0:
        raise ValueError("y is an empty batch (0 samples): the mean loss is undefined")
    return finite("y", y)


def mean_squared_error(y: ArrayLike, t: ArrayLike) -> float:
    r"""Squared error $E = \frac{1}{2} ∑_k (y_k - t_k)^2$ (eq. 4.1); for a batch, its mean over samples.

    Parameters
    ----------
    y : array_like, shape (K,) or (N, K)
        Network outputs.
    t : array_like
        One-hot targets of the same shape as ``y``, or integer labels of shape () or (N,).

    Examples
    --------
    The book's example: the network puts 0.6 on the right class, "2".

    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> float(mean_squared_error(y, t))  # 0.0975 in binary floating point
    0.09750000000000003
    >>> y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    >>> float(mean_squared_error(y, t))
    0.5975
    >>> float(mean_squared_error(y, 2))  # the same target as a label
    0.5975
    """
    y = _outputs(y)
    t_arr, labels = checked_targets(y.shape, t, need_distribution=False)
    if labels:
        t_arr = one_hot(t_arr, y.shape[-1], y.dtype)
    per_sample = 0.5 * np.sum((y - t_arr) ** 2, axis=-1)
    return _batch_mean(per_sample)


def cross_entropy_error(y: ArrayLike, t: ArrayLike, delta: float = DEFAULT_DELTA) -> float:
    r"""Cross-entropy error $E = -∑_k t_k \log(y_k + δ)$ (eq. 4.2); for a batch, its mean (eq. 4.3).

    Parameters
    ----------
    y : array_like, shape (K,) or (N, K)
        Predicted probabilities (softmax outputs), each in [0, 1].  Rows need not sum
        to 1 (the book's own examples do not): only the entries at the targets are read.
    t : array_like
        One-hot (or probability) targets shaped like ``y``, or integer labels of shape
        () or (N,).  Both forms give the same result.  Non-negative rows that do not
        sum to 1 (the book's dummy targets) are accepted with a ``TargetWarning``.
    delta : float, default 1e-7
        Added inside the log so that y_k = 0 gives a large finite loss instead of
        infinity.  It biases the loss by about $δ / y_t$ and its gradient by the same
        relative amount; pass 0 for the exact cross-entropy.

    Examples
    --------
    The book's two examples: 0.6 and 0.1 on the right class.

    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> float(cross_entropy_error(y, t))
    0.510825457099338
    >>> y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    >>> float(cross_entropy_error(y, t))
    2.302584092994546

    A minibatch of both, with labels instead of one-hot rows, is their mean:

    >>> y = np.array([[0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0],
    ...               [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]])
    >>> float(cross_entropy_error(y, np.array([2, 2]))) == (0.510825457099338 + 2.302584092994546) / 2
    True
    """
    y = _outputs(y)
    delta = positive_finite_scalar("delta", delta, allow_zero=True)
    if np.any(y < 0) or np.any(y > 1):
        bad = np.argwhere((y < 0) | (y > 1))[0]
        index = tuple(int(i) for i in bad)
        raise ValueError(
            f"y must hold probabilities in [0, 1] (softmax outputs), found {y[index]} at index {index}"
        )
    t_arr, labels = checked_targets(y.shape, t, need_distribution=True)
    return cross_entropy_unchecked(y, t_arr, labels, delta)


def cross_entropy_unchecked(y: np.ndarray, t: np.ndarray, labels: bool, delta: float) -> float:
    """[`cross_entropy_error`][refnet.losses.cross_entropy_error] of checked arrays, without the checks.

    Examples
    --------
    >>> float(cross_entropy_unchecked(np.array([0.1, 0.6, 0.3]), np.array(1), True, 0.0))
    0.5108256237659907
    """
    if labels:
        if y.ndim == 1:
            picked = y[t]
        else:
            picked = y[np.arange(y.shape[0]), t]
        with np.errstate(divide="ignore"):  # y_t + delta == 0 has loss +inf, truly
            per_sample = -np.log(picked + delta)
    else:
        # Terms with t == 0 are skipped, not multiplied: 0 * log(0 + 0) would be NaN
        # with delta=0, and the true term is 0.
        with np.errstate(divide="ignore"):
            logs = np.log(np.where(t > 0, y, 1.0) + np.where(t > 0, delta, 0.0))
        per_sample = -np.sum(t * logs, axis=-1)
    return _batch_mean(per_sample)


def _batch_mean(per_sample: np.ndarray) -> float:
    if per_sample.ndim == 0:
        return cast(float, per_sample[()])  # a NumPy scalar of y's dtype, as np.sum gives
    return np.sum(per_sample) / per_sample.shape[0]
