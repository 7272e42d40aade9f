"""Argument checks shared by the public functions.

Every check names the argument it looks at, so a caller reads
``ValueError: t has labels up to 12 but y has 10 classes`` rather than a NumPy
broadcasting error three frames down.  None of these helpers changes the array
it is given.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

# What this private module offers the rest of refnet (no reference page renders it).
__all__ = [
    "ArrayFunction",
    "PARAM_NAMES",
    "PrecisionWarning",
    "RngLike",
    "StepLostError",
    "as_generator",
    "describe",
    "finite",
    "flag",
    "install_hint",
    "no_nan",
    "non_negative_int",
    "one_hot",
    "one_of",
    "open_fraction",
    "perturbable",
    "positive_finite_scalar",
    "positive_int",
    "real_float_array",
    "warn_low_precision",
]

#: What every ``rng=`` of refnet accepts (see `as_generator`).
RngLike: TypeAlias = "np.random.Generator | np.random.SeedSequence | int | None"

#: A function of an array that returns a real scalar (its value is checked when called:
#: a Python float, a NumPy scalar or a 0-d array all pass).
ArrayFunction: TypeAlias = Callable[[np.ndarray], Any]


class StepLostError(ValueError):
    """The difference step vanished in rounding: ``x + h == x`` for some element.

    Every difference quotient there would be exactly 0, whatever the function: the
    book's ``h = 1e-50`` example, and, less visibly, its ``lr=10.0`` descent, whose
    iterate grows until ``h = 1e-4`` is lost and the gradient silently becomes 0.
    """


class PrecisionWarning(RuntimeWarning):
    """A result is computed, but in a precision that limits its accuracy.

    Raised as a warning (not an error) where refnet can still answer, for example
    a numerical gradient of a float32 array: the round-off of float32 limits the
    central difference to about three significant digits at the book's step.
    """


# Shown as refnet.X in tracebacks: the public place, not this private module.
PrecisionWarning.__module__ = StepLostError.__module__ = "refnet"


def describe(value) -> str:
    """A short description of a value for error messages (never a whole array)."""
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:80]


def real_float_array(name: str, value, *, allow_low_precision: bool = True) -> np.ndarray:
    """Return ``value`` as a real floating array without copying a float ndarray.

    Integers, booleans, lists and Python scalars become float64 (a new array, so a
    caller's integer array is never touched).  Complex input is refused: the chapter's
    functions are real.  float16/float32 pass through when ``allow_low_precision``.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        if not allow_low_precision and value.dtype != np.float64:
            raise TypeError(f"{name} must be float64, got dtype {value.dtype}")
        return value
    try:
        array = np.asarray(value)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise TypeError(f"{name} must be array-like, got {describe(value)}") from exc
    kind = array.dtype.kind
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {array.dtype}")
    if kind == "f":
        return array
    if kind in "biu":
        return array.astype(np.float64)
    raise TypeError(f"{name} must hold real numbers, got {describe(value)}")


def finite(name: str, array: np.ndarray) -> np.ndarray:
    """Refuse NaN and infinity, naming the first offending index."""
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        index = tuple(int(i) for i in bad)
        value = array[index] if array.ndim else array[()]
        where = f" at index {index}" if array.ndim else ""
        raise ValueError(f"{name} must be finite, found {value}{where}")
    return array


def no_nan(name: str, array: np.ndarray) -> np.ndarray:
    """Refuse NaN (infinities pass: elementwise functions have correct limits there)."""
    if np.isnan(array).any():
        index = tuple(int(i) for i in np.argwhere(np.isnan(array))[0])
        where = f" at index {index}" if array.ndim else ""
        raise ValueError(f"{name} contains NaN{where}")
    return array


def positive_finite_scalar(name: str, value, *, allow_zero: bool = False) -> float:
    """A real, finite number greater than zero (or >= 0 with ``allow_zero``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        if not (isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "fiu"):
            raise TypeError(f"{name} must be a real number, got {describe(value)}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number}")
    if number < 0 or (number == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {number}")
    return number


def non_negative_int(name: str, value) -> int:
    """A whole number >= 0 (bool refused: ``True`` steps is a bug, not a count)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {describe(value)}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def positive_int(name: str, value) -> int:
    number = non_negative_int(name, value)
    if number == 0:
        raise ValueError(f"{name} must be >= 1, got 0")
    return number


def as_generator(rng, name: str = "rng") -> np.random.Generator:
    """A ``np.random.Generator`` from a Generator, an integer seed or None.

    The one rule for every ``rng=`` argument of refnet (networks, training, datasets):
    a Generator is used as it is (its state advances), a non-negative integer seeds
    ``np.random.default_rng``, and None gives fresh OS entropy; the global
    ``np.random`` state is never used.

    Examples
    --------
    >>> a, b = as_generator(7), as_generator(np.random.default_rng(7))
    >>> bool(a.random() == b.random())
    True
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        if rng is not None and rng < 0:
            raise ValueError(f"{name} seed must be >= 0, got {rng}")
        return np.random.default_rng(None if rng is None else int(rng))
    if isinstance(rng, np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise TypeError(
        f"{name} must be a numpy.random.Generator, an integer seed or None, got {describe(rng)}"
    )


def one_of(name: str, value, choices: tuple):
    """``value`` if it is one of ``choices``, else a ValueError listing them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def flag(name: str, value) -> bool:
    """True or False; truthy non-bools (0/1, "no") are more likely mistakes than intent."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def open_fraction(name: str, value) -> float:
    """A real number strictly between 0 and 1 (NaN refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a float in (0, 1), got {describe(value)}")
    number = float(value)
    if not 0.0 < number < 1.0:  # written this way so that NaN fails too
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return number


def one_hot(labels: np.ndarray, classes: int, dtype=np.float64) -> np.ndarray:
    """One-hot rows, shape ``labels.shape + (classes,)``: 1 at each label, 0 elsewhere.

    ``labels`` must already be integers in ``range(classes)``; the callers check that.

    Examples
    --------
    >>> one_hot(np.array([2, 0]), 3)
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    out = np.zeros(labels.shape + (classes,), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


def warn_low_precision(name: str, dtype: np.dtype, what: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{name} has dtype {dtype}: {what}. Use float64 for results accurate to "
        "the last digits the method allows.",
        PrecisionWarning,
        stacklevel=stacklevel,
    )


# -- shared by the functions that perturb x in place ---------------------------------------


def perturbable(x, *, in_place: bool = True) -> np.ndarray:
    """The array numerical_gradient will perturb in place (or only read), or a clear error."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "biu":
            raise TypeError(
                f"x has integer dtype {x.dtype}: numerical_gradient perturbs x in place, and "
                f"x[i] + h would be truncated to an integer (the book's loop returns [25000, 35000] "
                "for sum(x**2) at [3, 4] this way); pass x.astype(float)"
            )
        if x.dtype.kind == "c":
            raise TypeError(f"x must be real, got complex dtype {x.dtype}")
        if x.dtype.kind != "f":
            raise TypeError(f"x must be a floating array, got dtype {x.dtype}")
        if in_place and not x.flags.writeable:
            raise ValueError(
                "x is read-only: numerical_gradient perturbs x in place so that f sees it; "
                "pass a writable copy (x.copy())"
            )
        return x
    # Lists, tuples and Python numbers: nothing of the caller's can be perturbed, so a
    # new float64 array is both safe and what f receives.
    return real_float_array("x", x).astype(np.float64, copy=True)


#: The order of TwoLayerNet's parameters, in ``params`` and in every gradient dict.
PARAM_NAMES = ("W1", "b1", "W2", "b2")


def install_hint(extra: str) -> str:
    """How to install an optional extra, as docs/installation.md says: refnet is installed
    from its source folder (it is on no package index, so naming it as a package fails)."""
    return f"pip install -e '.[{extra}]' in refnet's source folder"
