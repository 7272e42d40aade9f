"""Every documentation figure and every number the documentation quotes, from one command.

``refnet figures --out docs/figures`` (or `generate`) writes

* PNG figures: the chapter's figures 4-3 to 4-10 and the figures of the explanation
  "How numerical differentiation errs";
* ``numbers.json``: every number the pages quote, already formatted, keyed by name;
  the pages write ``{{ key }}`` and the documentation build substitutes it
  (``mkdocs_hooks.py``), failing on an unknown key, so no number is typed by hand;
* ``*.md`` fragments (tables, reports) that the pages include whole.

Exact derivatives are written by hand for the functions measured here, so JAX is not
needed.  Matplotlib is imported inside `generate` (``pip install -e '.[docs]'``).
Figures 4-11 and 4-12 (learning curves) are drawn from a committed training run.
"""
# Size: one module over 500 lines on purpose.  Every function draws the figures of one
# page and records the numbers that page quotes; they share the measured functions and the
# formatting, run as one command, and none depends on another.  Split by page, the same code
# would spread over several files without making any of them simpler to read.

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

import numpy as np

from refnet._checks import PrecisionWarning, StepLostError, install_hint
from refnet.activations import sigmoid, step_function
from refnet.descent import gradient_descent
from refnet.differentiation import (
    COMPLEX_STEP,
    SCHEMES,
    auto_step,
    naive_numerical_diff,
    numerical_diff,
    numerical_gradient,
    scheme_order,
)
from refnet.engine.stencil import stencil_of
from refnet.gradcheck import check_gradient

__all__ = ["generate"]


ALL_SCHEMES = (*SCHEMES, COMPLEX_STEP)
STYLE = {
    "forward": ("tab:orange", "-"),
    "backward": ("tab:brown", ":"),
    "central": ("tab:blue", "-"),
    "five_point": ("tab:green", "-"),
    "richardson": ("tab:purple", "-"),
    COMPLEX_STEP: ("tab:red", "--"),
}


# -- the measured functions, with their derivatives by hand ------------------------------------


def _exp(x):
    return np.exp(x)


def _sin(x):
    return np.sin(x)


def _function_1(x):
    return 0.01 * x**2 + 0.1 * x


#: name -> (f, x, f'(x), |f(x)|, |f^(n)(x)| as a function of n >= 2, label)
MEASURED = {
    "exp": (_exp, 1.0, math.e, math.e, lambda n: math.e, "exp(x) at x = 1"),
    "sin": (
        _sin,
        1.0,
        math.cos(1.0),
        math.sin(1.0),
        lambda n: abs(
            (math.sin, math.cos, lambda v: -math.sin(v), lambda v: -math.cos(v))[n % 4](1.0)
        ),
        "sin(x) at x = 1",
    ),
    "book": (
        _function_1,
        5.0,
        0.2,
        _function_1(5.0),
        lambda n: 0.02 if n == 2 else 0.0,
        "0.01x² + 0.1x at x = 5 (the book's)",
    ),
}

STEPS = np.logspace(-16, 0, 129)


def _derivative(f, x, h, scheme, dtype):
    """One difference quotient in ``dtype`` (NaN where the step is lost)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrecisionWarning)
            if dtype == np.float64:
                return numerical_diff(f, x, h, scheme=scheme)
            return float(numerical_gradient(f, np.array(x, dtype=dtype), h, scheme=scheme))
    except StepLostError:
        return math.nan


def _errors(name, scheme, dtype, steps=STEPS):
    f, x, exact, *_ = MEASURED[name]
    return np.array([abs(_derivative(f, x, float(h), scheme, dtype) - exact) for h in steps])


def _theory_best_step(name, scheme, dtype):
    """argmin of |c| h^p M + A ε |f| / h: h = (A ε |f| / (p |c| M))^(1/(p+1))."""
    _, _, _, size, derivative, _ = MEASURED[name]
    eps = float(np.finfo(dtype).eps)
    stencil = stencil_of(scheme)
    if stencil.complex_step:
        return None
    p = stencil.order
    m = derivative(p + 1)
    if m == 0:
        return None
    lead = abs(stencil.truncation_constant)
    return (stencil.weight_sum * eps * size / (p * lead * m)) ** (1 / (p + 1))


def _window(scheme, dtype, size, derivative):
    """h where truncation >= 100x round-off and the next Taylor term <= 2% (as in the tests)."""
    stencil = stencil_of(scheme)
    p = stencil.order
    eps = float(np.finfo(dtype).eps)
    lead = abs(stencil.truncation_constant)
    if stencil.complex_step:
        low = math.sqrt(2 * eps / (0.01 * lead))
        high = math.sqrt(0.02 * lead / (1 / 120))
        return low, high
    low = (2 * eps * 2 * size * stencil.weight_sum / (0.01 * lead * derivative(p + 1))) ** (
        1 / (p + 1)
    )
    q = 2 if stencil.moment(p + 2) == 0 else 1
    following = abs(stencil.moment(p + 1 + q)) / math.factorial(p + 1 + q)
    return low, (0.02 * lead / following) ** (1 / q)


def _slope(steps, errors, low, high):
    mask = (steps >= low) & (steps <= high) & np.isfinite(errors) & (errors > 0)
    if mask.sum() < 4 or high < 3 * low:
        return None
    return float(np.polyfit(np.log(steps[mask]), np.log(errors[mask]), 1)[0])


def _fmt(value, digits=2):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}g}"


# -- the figures ------------------------------------------------------------------------------------


#: Short names of the measured functions in the tables (the figures' titles say more).
SHORT = {"exp": "exp at 1", "sin": "sin at 1", "book": "0.01x² + 0.1x at 5"}


def _error_panel(plt, name, dtype, schemes=ALL_SCHEMES, figsize=(7.0, 4.6), book_label=True):
    """One function's error against h for each scheme: the V of truncation and round-off."""
    dname = np.dtype(dtype).name
    label = MEASURED[name][5]
    fig, ax = plt.subplots(figsize=figsize)
    curves = {}
    for scheme in schemes:
        errors = _errors(name, scheme, dtype)
        curves[scheme] = errors
        color, line = STYLE[scheme]
        ax.loglog(
            STEPS, np.where(errors > 0, errors, np.nan), line, color=color, label=scheme, lw=1.5
        )
    ax.axvline(1e-4, color="gray", lw=1, ls=":")
    if book_label:
        ax.text(
            1.4e-4,
            0.97,
            "the book's h = 1e-4",
            color="gray",
            fontsize=9,
            rotation=90,
            va="top",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_title(f"{label}, {dname}", fontsize=12)
    ax.set_xlabel("h", fontsize=11)
    ax.set_ylabel("|error of the derivative|", fontsize=11)
    ax.tick_params(labelsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=9, loc="lower left", ncol=2)
    fig.tight_layout()
    return fig, curves


def _error_figures(plt, out, numbers):
    rows = []
    for dtype in (np.float64, np.float32):
        dname = np.dtype(dtype).name
        for name in MEASURED:
            _, _, _, size, derivative, _ = MEASURED[name]
            fig, curves = _error_panel(plt, name, dtype)
            fig.savefig(out / f"error-vs-step-{dname}-{name}.png", dpi=100)
            plt.close(fig)
            if name == "book":
                continue
            for scheme, errors in curves.items():
                low, high = _window(scheme, dtype, size, derivative)
                slope = _slope(STEPS, errors, low, high)
                best = int(np.nanargmin(np.where(np.isfinite(errors), errors, np.inf)))
                theory = _theory_best_step(name, scheme, dtype)
                rows.append((dname, name, scheme, slope, STEPS[best], theory, errors[best]))
                if name == "exp":
                    key = f"{dname}_{scheme}"
                    numbers[f"slope_{key}"] = _fmt(slope, 3)
                    numbers[f"best_h_{key}"] = _fmt(STEPS[best])
                    numbers[f"best_h_theory_{key}"] = _fmt(theory)
                    numbers[f"best_error_{key}"] = _fmt(errors[best])
    # One table per dtype, five short columns, so that it fits the text column.
    for table in ("float64", "float32"):
        lines = [
            "| function | scheme | fitted slope (order) | best h (model's) | smallest error |",
            "|---|---|---|---|---|",
        ]
        for dname, name, scheme, slope, best, theory, error in rows:
            if dname == table:
                lines.append(
                    f"| {SHORT[name]} | {scheme} | {_fmt(slope, 3)} ({scheme_order(scheme)}) | "
                    f"{_fmt(best)} ({_fmt(theory)}) | {_fmt(error)} |"
                )
        (out / f"error-table-{table}.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _home_figure(plt, out, numbers):
    """The front page's figure: the V of the error against h for exp at 1, in float64."""
    fig, curves = _error_panel(
        plt,
        "exp",
        np.float64,
        schemes=("forward", "central", "five_point", COMPLEX_STEP),
        figsize=(5.6, 3.5),
        book_label=False,
    )
    ax = fig.axes[0]
    ax.set_title("Error of the derivative of exp at 1 against the step h", fontsize=10)
    ax.set_ylabel("|error|", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    ax.text(1e-16, 1e-13, "round-off ≈ ε |f| / h:\nslope −1", fontsize=9, color="0.25")
    ax.text(1.5e-4, 1e-16, "truncation ≈ c hᵖ:\nslope p", fontsize=9, color="0.25")
    ax.text(1.2e-4, 2e-11, "the book's h", fontsize=8, color="gray", rotation=90)
    fig.tight_layout()
    fig.savefig(out / "error-v.png", dpi=100)
    plt.close(fig)

    # Errors at the book's step and at h="auto", on the measured functions.
    for name in ("exp", "sin"):
        f, x, exact, *_ = MEASURED[name]
        for dtype in (np.float64, np.float32):
            dname = np.dtype(dtype).name
            numbers[f"error_{name}_{dname}_central_book"] = _fmt(
                abs(_derivative(f, x, 1e-4, "central", dtype) - exact)
            )
            for scheme in ALL_SCHEMES:
                h = float(auto_step(np.array(x, dtype=dtype), scheme))
                numbers[f"error_{name}_{dname}_{scheme}_auto"] = _fmt(
                    abs(_derivative(f, x, h, scheme, dtype) - exact)
                )
                numbers[f"auto_h_{dname}_{scheme}"] = _fmt(h)


def _book_numbers(numbers):
    numbers["book_diff_5"] = repr(numerical_diff(_function_1, 5))
    numbers["book_diff_10"] = repr(numerical_diff(_function_1, 10))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrecisionWarning)
        numbers["naive_diff_5"] = repr(naive_numerical_diff(_function_1, 5))
    numbers["spacing_5"] = _fmt(float(np.spacing(5.0)))
    numbers["spacing_1e12"] = _fmt(float(np.spacing(1.3e12)))
    numbers["eps64"] = _fmt(float(np.finfo(np.float64).eps))
    numbers["eps32"] = _fmt(float(np.finfo(np.float32).eps))
    numbers["eps32_cube_root"] = _fmt(float(np.finfo(np.float32).eps) ** (1 / 3))
    numbers["eps32_two_thirds"] = _fmt(float(np.finfo(np.float32).eps) ** (2 / 3))
    h = 1e-4
    numbers["central_truncation_coefficient"] = _fmt(h**2 / 6)
    numbers["central_roundoff_coefficient"] = _fmt(float(np.finfo(np.float64).eps) / h)
    numbers["central_roundoff_coefficient_32"] = _fmt(float(np.finfo(np.float32).eps) / h)


def _delta_figure(plt, out, numbers):
    """Relative bias of the gradient of -log(y_t + δ) against that of -log(y_t).

    For softmax outputs y and the logit a_t of the true class, ∂/∂a_t of -log(y_t + δ) is
    -y_t (1 - y_t) / (y_t + δ) and without δ it is -(1 - y_t): the relative bias is
    δ / (y_t + δ), about δ / y_t.  Measured with refnet's numerical gradient (Richardson,
    h="auto") of the book's loss; the exact gradient without δ is 1 - y_t by hand.
    """
    from refnet.activations import softmax
    from refnet.losses import cross_entropy_error

    delta = 1e-7
    targets = np.logspace(-12, -0.05, 40)
    measured = []
    for y_t in targets:
        # Two classes with logits (log y_t, log(1 - y_t)): softmax gives (y_t, 1 - y_t).
        logits = np.array([math.log(y_t), math.log1p(-y_t)])
        grad = numerical_gradient(
            lambda a: cross_entropy_error(softmax(a), 0, delta=delta),
            logits.copy(),
            "auto",
            scheme="richardson",
        )
        exact = -(1 - y_t)
        measured.append(abs(grad[0] - exact) / abs(exact))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(
        targets,
        np.array(measured),
        "o",
        ms=4,
        label="measured: numerical gradient of the book's loss",
    )
    ax.loglog(targets, delta / (targets + delta), "-", label="δ / (y_t + δ)")
    ax.set_xlabel("y_t, the probability of the true class")
    ax.set_ylabel("relative bias of ∂L/∂a_t")
    ax.set_title("The bias of δ = 1e-7 in cross-entropy", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "delta-bias.png", dpi=110)
    plt.close(fig)
    for y_t in (1e-1, 1e-3, 1e-7):
        index = int(np.argmin(np.abs(np.log(targets) - math.log(y_t))))
        numbers[f"delta_bias_at_{y_t:g}"] = _fmt(float(measured[index]))
        numbers[f"delta_bias_y_at_{y_t:g}"] = _fmt(float(targets[index]))


def _kink_figures(plt, out, numbers):
    # Figure 4-4 with the numerical derivatives under it.
    x = np.linspace(-6, 6, 601)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    top.plot(x, step_function(x), "--", label="step function")
    top.plot(x, sigmoid(x), label="sigmoid")
    top.set_title("Figure 4-4: step function and sigmoid", fontsize=11)
    top.legend(fontsize=8)
    top.grid(True, alpha=0.3)
    xs = np.linspace(-6, 6, 121) + 0.013  # off the grid point 0, where the step jumps
    step_grad = numerical_gradient(lambda v: float(np.sum(step_function(v))), xs.copy())
    sig_grad = numerical_gradient(lambda v: float(np.sum(sigmoid(v))), xs.copy())
    bottom.plot(xs, step_grad, "--", label="numerical derivative of the step function")
    bottom.plot(xs, sig_grad, label="numerical derivative of sigmoid")
    bottom.set_xlabel("x")
    bottom.legend(fontsize=8)
    bottom.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "fig-4-4-step-and-sigmoid.png", dpi=110)
    plt.close(fig)
    numbers["step_grad_nonzero"] = str(int(np.count_nonzero(step_grad)))
    numbers["step_grad_points"] = str(xs.size)

    relu = check_gradient(
        lambda v: float(np.sum(np.maximum(v, 0.0))),
        np.array([-1.0, 0.0, 1e-9, 2.0]),
        np.array([0.0, 0.0, 1.0, 1.0]),
        worst=4,
    )
    (out / "report-relu.md").write_text(f"```text\n{relu}\n```\n", encoding="utf-8")


def _descent_figures(plt, out, numbers):
    def function_2(x):
        return x[0] ** 2 + x[1] ** 2

    init = np.array([-3.0, 4.0])
    result, path = gradient_descent(function_2, init, lr=0.1, step_num=20, return_path=True)
    fig, ax = plt.subplots(figsize=(5, 5))
    grid = np.linspace(-4.5, 4.5, 200)
    X0, X1 = np.meshgrid(grid, grid)
    levels = [0.5, 2, 4.5, 8, 12.5, 18, 24.5]
    style = {"colors": "gray", "linestyles": "dashed", "linewidths": 0.8}
    ax.contour(X0, X1, X0**2 + X1**2, levels=levels, **style)
    ax.plot(path[:, 0], path[:, 1], "o", ms=4)
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("Figure 4-10: gradient descent, lr = 0.1, 20 steps", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / "fig-4-10-descent.png", dpi=110)
    plt.close(fig)

    numbers["descent_lr_0.1"] = np.array2string(
        gradient_descent(function_2, init, lr=0.1, step_num=100), precision=8
    )
    numbers["descent_lr_1e-10"] = np.array2string(
        gradient_descent(function_2, init, lr=1e-10, step_num=100), precision=8
    )
    try:
        gradient_descent(function_2, init, lr=10.0, step_num=100)
        numbers["descent_lr_10_error"] = "(no error)"
    except StepLostError as exc:
        numbers["descent_lr_10_error"] = str(exc)
        x_lost = exc.x  # type: ignore[attr-defined]  # refnet.descent attaches the iterate
        numbers["descent_lr_10_x1_at_loss"] = _fmt(float(x_lost[1]))
    true = init * (-19.0) ** 100
    auto = gradient_descent(function_2, init, lr=10.0, step_num=100, h="auto")
    numbers["descent_lr_10_true"] = np.array2string(true, precision=3)
    numbers["descent_lr_10_auto"] = np.array2string(auto, precision=3)
    numbers["descent_lr_10_auto_relative_error"] = _fmt(
        float(np.max(np.abs(auto - true) / np.abs(true)))
    )

    # |x| step by step for lr = 10: the book's loop (the step is lost and x[1] freezes)
    # against the true iterate; refnet stops with StepLostError where the book freezes.
    book = init.copy()
    book_rows, true_rows = [np.abs(book)], [np.abs(init)]
    h = 1e-4
    for k in range(1, 101):
        grad = np.zeros(2)
        for i in range(2):
            saved = book[i]
            book[i] = saved + h
            high = function_2(book)
            book[i] = saved - h
            low = function_2(book)
            book[i] = saved
            grad[i] = (high - low) / (2 * h)
        book = book - 10.0 * grad
        book_rows.append(np.abs(book))
        true_rows.append(np.abs(init * (-19.0) ** k))
    book_norms, true_norms = np.array(book_rows), np.array(true_rows)
    numbers["book_lr_10"] = np.array2string(book, precision=8)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.semilogy(true_norms[:, 1], "-", label="|x1|, true iterate x0 (-19)^k (and h='auto')")
    ax.semilogy(book_norms[:, 1], "--", label="|x1|, the book's loop (h = 1e-4 lost at step 10)")
    ax.semilogy(book_norms[:, 0], ":", label="|x0|, the book's loop")
    ax.set_xlabel("step")
    ax.set_ylabel("|x_i|")
    ax.set_title("lr = 10.0: the iterate grows by 19x a step", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "lr-10.png", dpi=110)
    plt.close(fig)


def _chapter_figures(plt, out, numbers):
    # 4-3: the natural logarithm.
    x = np.linspace(0.01, 1.0, 300)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(x, np.log(x))
    ax.set_xlabel("x")
    ax.set_ylabel("y = log x")
    ax.set_title("Figure 4-3: y = log x", fontsize=11)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "fig-4-3-log.png", dpi=110)
    plt.close(fig)

    # 4-5: true tangent against a forward-difference secant (a large h, to be seen).
    x = np.linspace(0, 10, 200)
    x0, h = 3.0, 3.0
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(x, _function_1(x) * 10, label="f")
    true_slope = (0.02 * x0 + 0.1) * 10
    secant = (_function_1(x0 + h) - _function_1(x0)) / h * 10
    ax.plot(x, true_slope * (x - x0) + _function_1(x0) * 10, "--", label="true tangent")
    ax.plot(x, secant * (x - x0) + _function_1(x0) * 10, ":", label="forward difference (h = 3)")
    ax.set_title("Figure 4-5: the numerical derivative errs", fontsize=11)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "fig-4-5-secant.png", dpi=110)
    plt.close(fig)

    # 4-6 and 4-7: the book's function and its tangents at 5 and 10.
    x = np.arange(0.0, 20.0, 0.1)
    for number, tangents in (("4-6", ()), ("4-7", (5, 10))):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(x, _function_1(x), label="f(x) = 0.01x² + 0.1x")
        for x0 in tangents:
            slope = numerical_diff(_function_1, x0)
            ax.plot(x, slope * (x - x0) + _function_1(x0), "--", label=f"tangent at {x0}")
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.set_title(f"Figure {number}", fontsize=11)
        ax.legend(fontsize=8)
        ax.grid(True, alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"fig-{number}-function-1.png", dpi=110)
        plt.close(fig)

    # 4-8: f(x0, x1) = x0² + x1².
    grid = np.linspace(-3, 3, 40)
    X0, X1 = np.meshgrid(grid, grid)
    fig = plt.figure(figsize=(5, 4))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(X0, X1, X0**2 + X1**2, cmap="viridis", linewidth=0)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("Figure 4-8: f(x0, x1) = x0² + x1²", fontsize=11)
    fig.tight_layout()
    fig.savefig(out / "fig-4-8-surface.png", dpi=110)
    plt.close(fig)

    # 4-9: minus the gradient, by numerical_gradient on the slides' batched rows.
    axis = np.arange(-2, 2.5, 0.25)
    X0, X1 = np.meshgrid(axis, axis)
    rows = np.stack([X0.ravel(), X1.ravel()], axis=1)
    grad = numerical_gradient(lambda A: np.sum(A[:, 0] ** 2 + A[:, 1] ** 2), rows)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.quiver(rows[:, 0], rows[:, 1], -grad[:, 0], -grad[:, 1], angles="xy", color="#666666")
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.set_title("Figure 4-9: minus the gradient of x0² + x1²", fontsize=11)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "fig-4-9-gradient.png", dpi=110)
    plt.close(fig)


def _accuracy_vs_loss(numbers):
    """Section 4.2.5 measured: the gradient of accuracy is zero almost everywhere."""
    from refnet.datasets import load_digits
    from refnet.two_layer_net import TwoLayerNet

    (x_train, t_train), _ = load_digits()
    x, t = x_train[:50], t_train[:50]
    net = TwoLayerNet(64, 10, 10, rng=0)
    W1 = net.params["W1"]
    accuracy_grad = numerical_gradient(lambda W: net.accuracy(x, t), W1)
    loss_grad = numerical_gradient(lambda W: net.loss(x, t), W1)
    numbers["accuracy_grad_nonzero"] = str(int(np.count_nonzero(accuracy_grad)))
    numbers["loss_grad_nonzero"] = str(int(np.count_nonzero(loss_grad)))
    numbers["w1_size"] = str(W1.size)
    # Weights of pixels that are 0 in every image of the batch get no gradient from anything.
    numbers["dead_pixel_weights"] = str(int(np.sum(np.all(x == 0, axis=0))) * W1.shape[1])


def _fast_gradient_numbers(numbers):
    """The counts and round-off sizes that explanation/fast-numerical-gradients.md quotes."""
    from refnet.differentiation import DEFAULT_MEMORY_BUDGET

    sizes = (784, 50, 10)  # the book's MNIST network
    params = sizes[0] * sizes[1] + sizes[1] + sizes[1] * sizes[2] + sizes[2]
    numbers["mnist_params"] = f"{params:,}"
    numbers["mnist_loss_evaluations"] = f"{2 * params:,}"
    eps = float(np.finfo(np.float64).eps)
    numbers["eps_log10"] = _fmt(eps * math.log(10))  # rounding of a loss near log 10
    numbers["eps_log10_over_h"] = _fmt(eps * math.log(10) / 1e-4)
    numbers["default_memory_budget_mib"] = f"{DEFAULT_MEMORY_BUDGET / 2**20:g}"


def _float32_numbers(numbers):
    x32 = np.linspace(-1.9, 1.9, 60, dtype=np.float32).reshape(6, 10)

    def f(v):
        return np.sum(np.sin(3 * v) + np.cos(v))

    grad = (3 * np.cos(3 * x32.astype(np.float64)) - np.sin(x32.astype(np.float64))).astype(
        np.float32
    )
    report = check_gradient(f, x32, grad, worst=3)
    numbers["float32_check_counts"] = ", ".join(
        f"{n} {'agree' if v == 'agrees' else v}" for v, n in report.counts.items()
    )
    numbers["float32_check_passed"] = str(report.passed)
    return str(report)


#: The training run whose learning curves the tutorial shows (figures 4-11 and 4-12): the
#: metrics.json of a ``refnet train`` run, committed, because the run takes longer than CI
#: should spend on a figure.  Regenerate it with
#: ``refnet train --out RUN && cp RUN/metrics.json docs/figures/learning-curve-run.json``,
#: then ``refnet figures --out docs/figures`` redraws the curves from it.
LEARNING_CURVE_RUN = "learning-curve-run.json"


def _learning_curve_source(out: Path):
    """The committed run: in ``out`` itself, else in the source tree's docs/figures."""
    for folder in (out, Path(__file__).resolve().parent.parent / "docs" / "figures"):
        if (folder / LEARNING_CURVE_RUN).exists():
            return folder / LEARNING_CURVE_RUN
    return None


def _learning_curve_figures(plt, out, numbers):
    """Figures 4-11 (minibatch loss per iteration) and 4-12 (accuracy per epoch), one each."""
    source = _learning_curve_source(out)
    if source is None:
        warnings.warn(f"no {LEARNING_CURVE_RUN}: figures 4-11 and 4-12 are not drawn", stacklevel=2)
        return
    run = json.loads(source.read_text(encoding="utf-8"))
    history, config = run["history"], run["config"]
    per_epoch = history["iterations_per_epoch"]
    loss = np.asarray(history["loss"], dtype=float)

    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    ax.plot(
        np.arange(1, loss.size + 1),
        loss,
        lw=0.6,
        color="tab:blue",
        alpha=0.6,
        label="minibatch loss",
    )
    window = max(1, per_epoch // 4)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    ax.plot(
        np.arange(window, loss.size + 1),
        smooth,
        lw=1.8,
        color="tab:blue",
        label=f"mean of {window} iterations",
    )
    ax.set_xlabel("iteration", fontsize=11)
    ax.set_ylabel("loss", fontsize=11)
    ax.set_ylim(bottom=0)
    ax.set_title("Figure 4-11: the training loss", fontsize=12)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "fig-4-11-loss.png", dpi=100)
    plt.close(fig)

    evaluations = history["evaluations"]
    epochs = [e["iteration"] / per_epoch for e in evaluations]
    fig, ax = plt.subplots(figsize=(7.0, 4.0))
    ax.plot(epochs, [e["train_accuracy"] for e in evaluations], "o-", label="train acc")
    ax.plot(epochs, [e["test_accuracy"] for e in evaluations], "s--", label="test acc")
    ax.set_xlabel("epochs", fontsize=11)
    ax.set_ylabel("accuracy", fontsize=11)
    ax.set_ylim(0, 1.0)
    ax.set_title("Figure 4-12: accuracy on the training and test data", fontsize=12)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "fig-4-12-accuracy.png", dpi=100)
    plt.close(fig)

    final = evaluations[-1]
    numbers["curve_dataset"] = str(config["dataset"])
    numbers["curve_hidden_size"] = str(config["hidden_size"])
    numbers["curve_iterations"] = f"{len(loss):,}"
    numbers["curve_batch_size"] = str(config["batch_size"])
    numbers["curve_lr"] = f"{config['lr']:g}"
    numbers["curve_gradient"] = str(config["gradient"])
    numbers["curve_epochs"] = f"{final['iteration'] / per_epoch:.3g}"
    numbers["curve_train_examples"] = f"{config['train_examples']:,}"
    numbers["curve_first_loss"] = f"{loss[0]:.2f}"
    numbers["curve_train_accuracy"] = f"{final['train_accuracy']:.3f}"
    numbers["curve_test_accuracy"] = f"{final['test_accuracy']:.3f}"
    numbers["curve_wall_time"] = f"{run['wall_time_s']:.0f}"


def generate(out: str | os.PathLike[str]) -> dict[str, str]:
    """Write every figure, numbers.json and the Markdown fragments into ``out``.

    Returns the numbers (name -> formatted string).
    """
    try:
        import matplotlib
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            f"refnet figures needs matplotlib: {install_hint('docs')}"
        ) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    numbers: dict = {}
    with np.errstate(all="ignore"):
        _book_numbers(numbers)
        _error_figures(plt, out, numbers)
        _home_figure(plt, out, numbers)
        _delta_figure(plt, out, numbers)
        _kink_figures(plt, out, numbers)
        _descent_figures(plt, out, numbers)
        _chapter_figures(plt, out, numbers)
        _accuracy_vs_loss(numbers)
        _fast_gradient_numbers(numbers)
        text = _float32_numbers(numbers)
        _learning_curve_figures(plt, out, numbers)
    (out / "report-float32.md").write_text(f"```text\n{text}\n```\n", encoding="utf-8")
    (out / "numbers.json").write_text(
        json.dumps(numbers, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return numbers
