"""Python literals that round-trip bit for bit: how inputs enter a Case's namespace, and
how the reproduction writes them (case.py)."""

from __future__ import annotations

import math

import numpy as np


def _float(value: float) -> str:
    if math.isnan(value):
        return "-np.nan" if math.copysign(1.0, value) < 0 else "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def _nested(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    if isinstance(value, float):
        return _float(value)
    return repr(value)


def literal(value) -> str:
    """Python source that evaluates (with ``import numpy as np``) to ``value``, bit for bit.

    Arrays become ``np.array([...], dtype=np.<dtype>)`` (the dtype left out for float64);
    floats use ``repr``, which round-trips, and ``np.nan``/``np.inf`` where needed.

    Examples
    --------
    >>> literal(np.array([1.5, -0.0, np.inf]))
    'np.array([1.5, -0.0, np.inf])'
    >>> literal(np.array([[3, 4]], dtype=np.int8))
    'np.array([[3, 4]], dtype=np.int8)'
    >>> literal((0.1, 2))
    '(0.1, 2)'
    """
    if isinstance(value, np.ndarray):
        dtype = "" if value.dtype == np.float64 else f", dtype=np.{value.dtype.name}"
        if value.size == 0:
            return f"np.zeros({value.shape!r}{dtype})"
        return f"np.array({_nested(value.tolist())}{dtype})"
    if isinstance(value, np.generic):
        return f"np.{value.dtype.name}({_nested(value.item())})"
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    raise TypeError(f"no literal for {type(value).__name__}")
