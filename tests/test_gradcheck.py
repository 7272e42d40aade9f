"""check_gradient and assert_gradient_close: planted errors are found, honest gradients pass.

Fixed-tolerance checkers are emulated from their published defaults, not imported:

* ``torch.autograd.gradcheck``: central differences with ``eps=1e-6``, then
  ``|analytical - numerical| <= atol + rtol |numerical|`` with ``atol=1e-5, rtol=1e-3``.
* ``jax.test_util.check_grads``: central differences with ``eps=1e-4`` (``EPS`` in
  jax/_src/public_test_util.py) along a random direction, compared with ``atol = rtol =
  2e-3`` in float32 and ``1e-5`` in float64 (``default_gradient_tolerance``).  We
  compare along each coordinate direction instead: the same arithmetic, element by
  element.

Both compute the difference quotient in the input's dtype, as the emulation does.
"""

from __future__ import annotations

import numpy as np
import pytest

import refnet


def fixed_tolerance_check(f, x, grad, eps, atol, rtol):
    """The rule of the fixed-tolerance checkers: True when every element passes."""
    x = x.copy()
    numerical = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + x.dtype.type(eps)
        high = f(x)
        x[index] = saved - x.dtype.type(eps)
        low = f(x)
        x[index] = saved
        numerical[index] = (float(high) - float(low)) / (2 * eps)
    return bool(np.all(np.abs(grad - numerical) <= atol + rtol * np.abs(numerical)))


def torch_gradcheck_passes(f, x, grad):
    return fixed_tolerance_check(f, x, grad, eps=1e-6, atol=1e-5, rtol=1e-3)


def jax_check_grads_passes(f, x, grad):
    tol = 2e-3 if x.dtype == np.float32 else 1e-5
    return fixed_tolerance_check(f, x, grad, eps=1e-4, atol=tol, rtol=tol)


def cubic(x):
    return np.sum(x**3) + np.sum(x[..., 0] * x[..., -1])


def cubic_grad(x):
    g = 3 * x**2
    g[..., 0] += x[..., -1]
    g[..., -1] += x[..., 0]
    return g


X = np.array([[0.5, -1.5, 2.0], [1.25, 0.75, -0.25]])


# -- honest gradients pass ----------------------------------------------------------------------


def test_a_correct_gradient_passes_and_agrees():
    x = X.copy()
    report = refnet.check_gradient(cubic, x, cubic_grad(X))
    assert report.passed, str(report)
    assert report.counts == {"agrees": 6}
    assert x.tobytes() == X.tobytes()


@pytest.mark.parametrize("scheme", ["central", "forward", "backward", "five_point", "richardson"])
def test_every_real_scheme_can_check(scheme):
    report = refnet.check_gradient(cubic, X.copy(), cubic_grad(X), scheme=scheme)
    assert report.passed, str(report)
    assert report.scheme == scheme


# -- planted errors are found ---------------------------------------------------------------------


@pytest.mark.parametrize("relative", [1e-3, 1e-6])
def test_one_element_off_is_found_and_named(relative):
    """Even 1e-6 relative is far outside float64's finite-difference noise at h='auto'
    (about ε^(2/3) ≈ 4e-11 relative for this well-scaled cubic)."""
    wrong = cubic_grad(X)
    wrong[1, 2] *= 1 + relative
    report = refnet.check_gradient(cubic, X.copy(), wrong)
    assert not report.passed
    assert report.verdicts[1, 2] == "likely wrong"
    assert report.counts["likely wrong"] == 1
    worst = report.worst[0]
    assert worst.index == "[1, 2]"
    assert worst.given == wrong[1, 2]
    assert worst.numerical == pytest.approx(cubic_grad(X)[1, 2], rel=1e-9)
    assert worst.rel_error == pytest.approx(relative, rel=1e-2)


def test_a_transposed_gradient_is_found():
    A = np.array([[1.0, 2.0, 0.5], [-1.0, 0.25, 3.0], [2.0, -0.5, 1.0]])
    x = np.array([[0.3, -0.2, 0.1], [0.5, 0.4, -0.6], [0.2, 0.0, 0.7]])

    def f(v):
        return np.sum(A * v**2)

    right = 2 * A * x
    report = refnet.check_gradient(f, x, right.T)
    off_diagonal = ~np.eye(3, dtype=bool) & (right != right.T)
    assert not report.passed
    assert set(report.verdicts[off_diagonal]) == {"likely wrong"}
    assert set(report.verdicts[np.eye(3, dtype=bool)]) == {"agrees"}


def test_a_transposed_gradient_of_another_shape_is_refused_with_a_hint():
    with pytest.raises(
        ValueError, match=r"grad has shape \(3, 2\) but x has shape \(2, 3\) \(is it transposed\?\)"
    ):
        refnet.check_gradient(cubic, X.copy(), cubic_grad(X).T)


def test_a_sign_error_is_found_everywhere():
    report = refnet.check_gradient(cubic, X.copy(), -cubic_grad(X))
    assert report.counts == {"likely wrong": 6}


def test_nan_in_the_gradient_is_likely_wrong():
    wrong = cubic_grad(X)
    wrong[0, 0] = np.nan
    report = refnet.check_gradient(cubic, X.copy(), wrong)
    assert report.verdicts[0, 0] == "likely wrong" and report.worst[0].index == "[0, 0]"


# -- kinks ----------------------------------------------------------------------------------------


def relu_sum(v):
    return np.sum(np.maximum(v, 0.0))


@pytest.mark.parametrize("given", [0.0, 1.0, 0.5])
def test_relu_at_zero_is_a_kink_for_any_one_sided_derivative(given):
    x = np.array([0.0, -1.0, 2.0])
    report = refnet.check_gradient(relu_sum, x, np.array([given, 0.0, 1.0]))
    assert report.verdicts.tolist() == ["at a kink", "agrees", "agrees"]
    assert report.passed
    kink = [e for e in report.worst if e.verdict == "at a kink"][0]
    assert (kink.left, kink.right) == (0.0, 1.0)


def test_a_value_outside_the_one_sided_slopes_at_a_kink_is_wrong():
    report = refnet.check_gradient(relu_sum, np.array([0.0]), np.array([2.0]))
    assert report.verdicts.tolist() == ["likely wrong"]


def test_abs_and_the_step_function_at_zero():
    x = np.array([0.0, 0.5])
    assert refnet.check_gradient(
        lambda v: np.sum(np.abs(v)), x, np.array([0.0, 1.0])
    ).verdicts.tolist() == [
        "at a kink",
        "agrees",
    ]
    # The step function is flat except at 0, where it jumps: its one-sided differences
    # there are 0 and 1/h, growing as h shrinks.  The derivative 0 (what backprop of a
    # step gives, and why it cannot learn) is a one-sided value.
    step = refnet.check_gradient(lambda v: float(np.sum(v > 0)), x, np.zeros(2))
    assert step.verdicts.tolist() == ["at a kink", "agrees"]


def test_a_kink_inside_the_stencil_is_a_kink_too():
    """relu at 1e-9: the stencil (h ≈ 7.6e-6) straddles 0, so the central difference is
    about 1/2, not the derivative 1; the verdict says why instead of calling 1 wrong."""
    report = refnet.check_gradient(relu_sum, np.array([1e-9]), np.array([1.0]))
    assert report.verdicts.tolist() == ["at a kink"]


# -- the float64 tolerance, pinned to the error model ---------------------------------------


def _offset_exp():
    """f = 1e6 + sum(exp(x)): |f| is large next to its gradient, so the round-off of the
    central difference, eps |f| / h, sets the tolerance, well above the sqrt(eps) relative
    agreement (1.5e-8 |g|) that would otherwise decide the verdict."""
    x = np.array([0.5, 1.0, 1.5])

    def f(v):
        return 1e6 + float(np.sum(np.exp(v)))

    return f, x, np.exp(x)


def _model_tolerance(f, x, h):
    """SAFETY times the central difference's error by its model, written here: round-off
    eps (|f(x+h)| + |f(x-h)|) / 2h, plus truncation h^2 |f'''| / 6 (f''' = exp here)."""
    eps = np.finfo(np.float64).eps
    return refnet.gradcheck.SAFETY * (eps * 2 * abs(f(x)) / (2 * h) + h**2 * np.exp(x) / 6)


def test_the_float64_tolerance_is_its_error_model():
    f, x, exact = _offset_exp()
    report = refnet.check_gradient(f, x.copy(), exact, scheme="central")
    model = _model_tolerance(f, x, report.step)
    # The report's tolerance estimates the same error from the values it measured: its
    # truncation part, |D(h) - D(2h)| / 3, is itself round-off noise of the same size here,
    # so the two agree within a factor of 2, not to the digit.
    ratio = report.tolerance / model
    assert np.all((ratio > 0.5) & (ratio < 2.0)), ratio


@pytest.mark.parametrize("times, passes", [(10.0, False), (0.1, True)])
def test_a_float64_error_near_the_tolerance_is_judged_by_it(times, passes):
    """An error 10 times the model's tolerance is likely wrong; a tenth of it is noise.
    (The other float64 tests plant errors hundreds of times above the tolerance, which a
    tolerance ten times too large would still catch.)"""
    f, x, exact = _offset_exp()
    step = refnet.check_gradient(f, x.copy(), exact).step
    given = exact.copy()
    given[1] += times * _model_tolerance(f, x, step)[1]
    report = refnet.check_gradient(f, x.copy(), given)
    assert report.passed is passes, str(report)
    expected = refnet.gradcheck.NOISE if passes else refnet.gradcheck.LIKELY_WRONG
    assert report.verdicts[1] == expected


# -- float32, and the fixed-tolerance checkers' false failures --------------------------------------


def test_float32_correct_gradients_pass_where_fixed_tolerances_fail():
    """sum(sin 3x + cos x) over 60 elements in float32.  Fixed eps: torch's 1e-6 is ~8 ulps
    of x ≈ 1 in float32, so x ± eps is placed with an error of ~6% of the step; jax's 1e-4
    leaves a round-off of ε32 S / 1e-4 ≈ 1.2e-3 S, with S ≈ 60 the size of the terms f
    sums: ~0.07, far above its 2e-3 tolerance.
    refnet's step (ε32^(1/3) ≈ 4.9e-3, a power of two) and its estimated error of each
    element explain the same noise instead of failing on it."""
    x = np.linspace(-1.9, 1.9, 60, dtype=np.float32).reshape(6, 10)

    def f(v):
        return np.sum(np.sin(3 * v) + np.cos(v))

    grad = (3 * np.cos(3 * x.astype(np.float64)) - np.sin(x.astype(np.float64))).astype(np.float32)
    assert not torch_gradcheck_passes(f, x, grad)
    assert not jax_check_grads_passes(f, x, grad)
    before = x.tobytes()
    report = refnet.check_gradient(f, x, grad)
    assert report.passed, str(report)
    assert x.tobytes() == before
    # ... and a planted 2% error is still caught in float32 where the element is large
    # against the noise (|∂f| ≈ 3.6 here, noise ~1e-3; on an element of 0.3 it would not be).
    wrong = grad.copy()
    wrong[4, 4] *= 1.02
    report = refnet.check_gradient(f, x, wrong)
    assert report.verdicts[4, 4] == "likely wrong" and report.counts["likely wrong"] == 1


def test_float32_network_loss_passes():
    """TwoLayerNet in float32: backprop against the numerical gradient of the loss
    without delta.  The numerical gradient carries ~ε32 |L| / h ≈ 1e-4 of noise, several
    percent of some small elements; every element must come out agrees or noise."""
    rng = np.random.default_rng(3)
    net = refnet.TwoLayerNet(6, 5, 4, weight_init_std=0.5, rng=rng)
    for key in net.params:
        net.params[key] = net.params[key].astype(np.float32)
    x = rng.standard_normal((8, 6)).astype(np.float32)
    t = rng.integers(0, 4, 8)
    report = refnet.check_gradient(
        lambda p: net.loss(x, t, delta=0), net.params, net.gradient(x, t)
    )
    assert report.passed, str(report)


def test_badly_scaled_inputs():
    """x from 1e-6 to 1e4 in float32: a fixed step of 1e-4 is below the spacing of
    float32 numbers near 1e4 (9.8e-4), so x + eps == x there and the quotient is 0;
    refnet's step grows with |x|.  Where f cannot see an element (x[1]'s contribution
    1e-12 to an f of 1e8 is below float32's resolution) the verdict says noise, not agrees."""
    x = np.array([1e4, 1e-6, -3e3], dtype=np.float32)

    def f(v):
        return np.sum(v**2)

    grad = 2 * x
    assert not jax_check_grads_passes(f, x, grad)
    report = refnet.check_gradient(f, x, grad)
    assert report.passed, str(report)
    assert report.verdicts.tolist() == ["agrees", "within finite-difference noise", "agrees"]


# -- mappings, networks and delta ------------------------------------------------------------------


def test_a_network_gradient_and_the_bias_of_delta():
    """Backprop is the gradient of the loss without delta: it agrees with the numerical
    gradient of loss(delta=0), and is flagged against loss(delta=1e-7) once the network
    is confident and wrong, where δ / y_t is far above the noise."""
    rng = np.random.default_rng(0)
    net = refnet.TwoLayerNet(5, 4, 3, weight_init_std=4.0, rng=rng)
    x = rng.standard_normal((6, 5))
    y = net.predict(x)
    t = np.argmin(y, axis=1)  # the least likely class: y_t is small, δ / y_t is not
    assert np.min(y[np.arange(6), t]) < 1e-4
    backprop = net.gradient(x, t)
    params_before = {k: v.tobytes() for k, v in net.params.items()}
    assert refnet.check_gradient(lambda p: net.loss(x, t, delta=0), net.params, backprop).passed
    biased = refnet.check_gradient(lambda p: net.loss(x, t, delta=1e-7), net.params, backprop)
    assert not biased.passed
    assert biased.worst[0].index.split("[")[0] in net.params
    assert {k: v.tobytes() for k, v in net.params.items()} == params_before


def test_mapping_arguments_are_checked():
    params = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}

    def f(p):
        return np.sum(p["a"] ** 2) + np.sum(p["b"] ** 2)

    report = refnet.check_gradient(f, params, {"a": np.array([2.0, 4.0]), "b": np.array([6.0])})
    assert report.passed and report.verdicts["a"].tolist() == ["agrees", "agrees"]
    with pytest.raises(ValueError, match="keys"):
        refnet.check_gradient(f, params, {"a": np.array([2.0, 4.0])})
    with pytest.raises(TypeError, match="mapping"):
        refnet.check_gradient(f, params, np.zeros(3))


# -- the report --------------------------------------------------------------------------------------


def test_the_report_reads_well_and_stays_short():
    x = np.linspace(-1, 1, 1000)
    wrong = 3 * x**2
    wrong[123] += 0.5
    report = refnet.check_gradient(lambda v: np.sum(v**3), x, wrong, worst=3)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].startswith("gradient check FAILED: 1000 elements of float64 (1000,)")
    assert lines[1].endswith(", 0 at a kink, 1 likely wrong")
    assert report.counts["agrees"] + report.counts["within finite-difference noise"] == 999
    assert len(lines) == 3 + 1 + 3  # summary, counts, heading, column names, 3 rows
    row = lines[4]
    for piece in ("[123]", f"{wrong[123]:.8e}", "likely wrong"):
        assert piece in row


def test_assert_gradient_close_raises_with_the_report():
    wrong = cubic_grad(X)
    wrong[0, 1] = 0.0
    with pytest.raises(AssertionError) as caught:
        refnet.assert_gradient_close(cubic, X.copy(), wrong)
    message = str(caught.value)
    assert "gradient check FAILED" in message and "[0, 1]" in message
    assert refnet.assert_gradient_close(cubic, X.copy(), cubic_grad(X)).passed


def test_x_is_restored_when_f_raises():
    x = X.copy()
    calls = []

    def failing(v):
        calls.append(1)
        if len(calls) == 9:
            raise RuntimeError("boom")
        return cubic(v)

    with pytest.raises(RuntimeError, match="boom"):
        refnet.check_gradient(failing, x, cubic_grad(X))
    assert x.tobytes() == X.tobytes()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"scheme": "complex_step"}, ValueError, "real scheme"),
        ({"scheme": "centre"}, ValueError, "scheme must be one of"),
        ({"worst": -1}, ValueError, "worst must be"),
        ({"safety": 0}, ValueError, "safety must be"),
        ({"h": "best"}, ValueError, "h must be"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        refnet.check_gradient(cubic, X.copy(), cubic_grad(X), **kwargs)


# -- refnet check ----------------------------------------------------------------------------------


def test_refnet_check_passes_on_digits_and_flags_the_delta_bias(capsys):
    pytest.importorskip("sklearn")
    from refnet.cli import main

    assert main(["check", "--batch-size", "8", "--hidden-size", "4"]) == 0
    out = capsys.readouterr().out
    assert "delta=0" in out and "gradient check PASSED: 310 elements" in out
    # Large weights make the network confidently wrong on some digits: y_t ~ 1e-10 and
    # δ / y_t ~ 1e3, a bias far above the noise of the numerical gradient.
    code = main(
        [
            "check",
            "--batch-size",
            "8",
            "--hidden-size",
            "4",
            "--weight-init-std",
            "3",
            "--delta",
            "1e-7",
        ]
    )
    assert code == 1
    assert "likely wrong" in capsys.readouterr().out
