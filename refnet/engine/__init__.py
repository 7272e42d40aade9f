"""The engine: what the chapter's functions hand over to beyond the book's central loop.

Private to refnet (no reference page renders it); each module's ``__all__`` is what it
offers the rest of the package.

* `stencil`: a `Stencil` per difference scheme, the step as a checked value, the
  perturbed points, the one evaluation of difference quotients, combination and the
  error estimate;
* `stacked`: f evaluated on stacks of perturbed points (``vectorized=True``, executors);
* `fast_gradient`: TwoLayerNet's network-aware central differences, beside the reference
  loop they must agree with, and the short power series they are evaluated by.
"""
