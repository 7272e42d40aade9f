"""``refnet check``: TwoLayerNet's backprop gradient against its numerical gradient, explained.

The network's ``gradient`` (backpropagation, the book's fast version) is the gradient of
the cross-entropy *without* the book's ``delta=1e-7`` inside the log, because ``y - t``
is that gradient.  So it is compared with the numerical gradient of ``loss(x, t,
delta=0)``; ``--delta 1e-7`` compares with the book's loss instead and shows the bias
delta puts there (about delta / y_t, relative).
"""

from __future__ import annotations

import argparse

from refnet._command_line import CommandError, Integer, Real, UsageError
from refnet.differentiation import COMPLEX_STEP, SCHEMES

#: The schemes ``--scheme`` offers: the library's real ones.  The complex step is not among
#: them (the help says why): offering it only to refuse it would be a trap.
SCHEME_CHOICES = SCHEMES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch-size",
        type=Integer(minimum=1),
        default=20,
        metavar="N",
        help="digits in the batch (default 20; at most the digits' training split: a larger "
        "batch is refused, with the split's size, as refnet train refuses it)",
    )
    parser.add_argument(
        "--hidden-size",
        type=Integer(minimum=1),
        default=10,
        metavar="N",
        help="hidden units (default 10)",
    )
    parser.add_argument(
        "--weight-init-std",
        type=Real(low=0),
        default=0.1,
        metavar="X",
        help="standard deviation of the initial weights (default 0.1)",
    )
    parser.add_argument(
        "--seed",
        type=Integer(minimum=0),
        default=0,
        metavar="N",
        help="seed of the weights and the batch (default 0)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="precision of x and params",
    )
    parser.add_argument(
        "--delta",
        type=Real(low=0),
        default=0.0,
        metavar="X",
        help="delta of the loss the numerical gradient differentiates (default 0, which is "
        "what backprop differentiates; the book's loss uses 1e-7)",
    )
    parser.add_argument(
        "--scheme",
        choices=SCHEME_CHOICES,
        default="central",
        help="difference scheme of the numerical gradient (default central). Not "
        f"{COMPLEX_STEP}: the check tells a kink from a wrong gradient by one-sided "
        "differences, which the complex step does not have",
    )
    parser.add_argument(
        "--worst",
        type=Integer(minimum=0),
        default=5,
        metavar="N",
        help="elements listed in the report (default 5)",
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from refnet.datasets import load_digits
    from refnet.gradcheck import check_gradient
    from refnet.two_layer_net import TwoLayerNet

    try:
        (x_train, t_train), _ = load_digits()
    except ImportError as exc:  # scikit-learn, which ships the digits, is not installed
        raise CommandError(str(exc)) from None
    if args.batch_size > x_train.shape[0]:
        raise UsageError(
            f"--batch-size {args.batch_size} is larger than the training set "
            f"({x_train.shape[0]} examples)"
        )
    rng = np.random.default_rng(args.seed)
    batch = rng.choice(x_train.shape[0], size=args.batch_size, replace=False)
    dtype = np.dtype(args.dtype)
    x, t = x_train[batch].astype(dtype), t_train[batch]
    net = TwoLayerNet(
        x.shape[1], args.hidden_size, 10, weight_init_std=args.weight_init_std, rng=rng
    )
    for name in net.params:
        net.params[name] = net.params[name].astype(dtype)
    backprop = net.gradient(x, t)
    print(
        f"TwoLayerNet({x.shape[1]}, {args.hidden_size}, 10), {dtype} weights, on {x.shape[0]} "
        f"digits (seed {args.seed}):\nbackprop (net.gradient) against the numerical gradient of "
        f"net.loss(x, t, delta={args.delta:g})"
    )
    report = check_gradient(
        lambda params: net.loss(x, t, delta=args.delta),
        net.params,
        backprop,
        scheme=args.scheme,
        worst=args.worst,
    )
    print(report)
    return 0 if report.passed else 1
