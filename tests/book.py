"""The book's own code, used only to explain its printed numbers.

Some of the book's printed values are artifacts of its code (a lost step, an integer
array); the transcription in fixtures/book_chapter4.py (the slides' code, which
the conformance tests also check) reproduces them, so the tests can show where each number
comes from while refnet itself refuses to produce it.  Nothing here is refnet.
"""

from .fixtures.book_chapter4 import gradient_descent, numerical_gradient

__all__ = ["gradient_descent", "numerical_diff_bad", "numerical_gradient"]


def numerical_diff_bad(f, x):
    """Section 4.3.1's "bad example": a forward difference with h = 1e-50."""
    h = 1e-50
    return (f(x + h) - f(x)) / h
