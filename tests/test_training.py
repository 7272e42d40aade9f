"""Minibatch SGD (refnet.training): sampling, the loop, history, checkpoints and resume.

The networks here are small and the data are either a tiny slice of the digits or
synthetic rows whose first feature names the example, so that a test can see which
examples each gradient call received.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refnet import StepLostError, TwoLayerNet
from refnet.checkpoints import CheckpointMismatchError, History, load_checkpoint
from refnet.conformance.functions import (
    SIGMOID_D1,
    SIGMOID_D2,
    ModelProblem,
    model_magnitude,
    model_third_derivative_bound,
)
from refnet.conformance.tolerances import EPS, central_difference_bound, same_formula_bound
from refnet.training import (
    TrainingDiverged,
    TrainingInterrupted,
    epoch_batches,
    iterations_per_epoch,
    random_batch,
    train,
)
from refnet.two_layer_net import PARAM_NAMES

# --------------------------------------------------------------------------- helpers


def labelled_rows(n: int, features: int = 3, classes: int = 3, seed: int = 0):
    """n examples whose feature 0 is (index + 1) / (n + 1): the index can be read back."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, features))
    x[:, 0] = (np.arange(n) + 1) / (n + 1)
    t = np.arange(n) % classes
    return x, t


def ids(x_batch: np.ndarray, n: int) -> list[int]:
    return np.rint(x_batch[:, 0] * (n + 1) - 1).astype(int).tolist()


class RecordingNet(TwoLayerNet):
    """TwoLayerNet that records the batches its gradients see, and can misbehave on cue.

    ``fail_at`` = (call number, what): on that gradient call (1-based), raise
    KeyboardInterrupt ("interrupt") or return an infinite gradient ("inf").
    """

    def __init__(self, *args, fail_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []
        self.fail_at = fail_at

    def _record(self, x):
        self.batches.append(np.array(x, copy=True))
        if self.fail_at and len(self.batches) == self.fail_at[0]:
            if self.fail_at[1] == "interrupt":
                raise KeyboardInterrupt
            return "inf"
        return None

    def gradient(self, x, t):
        cue = self._record(x)
        grads = super().gradient(x, t)
        if cue == "inf":
            grads["W2"][0, 0] = np.inf
        return grads

    def numerical_gradient(self, x, t, *args, **kwargs):
        cue = self._record(x)
        grads = super().numerical_gradient(x, t, *args, **kwargs)
        if cue == "inf":
            grads["b1"][0] = -np.inf
        return grads


def make_net(seed=0, *, cls=TwoLayerNet, sizes=(3, 4, 3), std=0.5, **kwargs):
    rng = np.random.default_rng(seed)
    return cls(*sizes, weight_init_std=std, rng=rng, **kwargs), rng


def same_params(a, b) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in PARAM_NAMES)


def comparable(history: History):
    """Everything recorded except the wall time, which no two runs share."""
    data = history.to_dict()
    data.pop("wall_time")
    return data


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize(
    "train_size, batch_size, expected",
    [(60000, 100, 600), (1346, 20, 68), (10, 3, 4), (10, 10, 1), (7, 1, 7), (1, 1, 1)],
)
def test_iterations_per_epoch_is_ceil_of_size_over_batch(train_size, batch_size, expected):
    # The book's max(60000 / 100, 1) = 600 where the batch divides the set.
    assert iterations_per_epoch(train_size, batch_size) == expected


@given(
    n=st.integers(1, 60),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_epoch_batches_are_full_distinct_and_cover_the_set(n, data, seed):
    batch = data.draw(st.integers(1, n), label="batch_size")
    batches = epoch_batches(np.random.default_rng(seed), n, batch)
    assert batches.shape == (math.ceil(n / batch), batch)
    assert set(batches.ravel().tolist()) == set(range(n))
    for row in batches.tolist():
        assert len(set(row)) == batch, f"repeated example in batch {row}"
    # Each example appears once, except the fill-up of the last batch (at most batch - 1).
    counts = np.bincount(batches.ravel(), minlength=n)
    assert counts.max() <= 2
    assert np.sum(counts == 2) == batches.size - n


def test_epoch_batches_refuse_a_batch_larger_than_the_set():
    with pytest.raises(ValueError, match="batch_size 11 is larger than the training set"):
        epoch_batches(np.random.default_rng(0), 10, 11)


def test_random_batch_is_the_books_choice_with_replacement():
    drawn = [random_batch(np.random.default_rng(4), 5, 5) for _ in range(1)]
    # np.random.choice(5, 5) of the book: uniform draws with replacement, so repeats occur.
    expected = np.random.default_rng(4).integers(0, 5, size=5)
    np.testing.assert_array_equal(drawn[0], expected)
    rng = np.random.default_rng(0)
    assert any(len(set(random_batch(rng, 5, 5).tolist())) < 5 for _ in range(20))


# --------------------------------------------------------------------------- the loop


@pytest.mark.parametrize("sampling", ["without_replacement", "with_replacement"])
@pytest.mark.parametrize("gradient", ["numerical", "backprop"])
def test_every_gradient_sees_exactly_batch_size_rows(sampling, gradient):
    """The slides' learn() sets batch_size = max(batch_size, N): the whole set every time."""
    x, t = labelled_rows(23)
    net, rng = make_net(cls=RecordingNet)
    train(
        net,
        (x, t),
        (x, t),
        iterations=12,
        batch_size=5,
        lr=0.1,
        gradient=gradient,
        sampling=sampling,
        rng=rng,
    )
    assert len(net.batches) == 12
    assert [b.shape for b in net.batches] == [(5, 3)] * 12


def test_without_replacement_sees_every_example_every_epoch():
    n, batch = 23, 5  # 5 iterations per epoch, the last batch filled up
    x, t = labelled_rows(n)
    net, rng = make_net(cls=RecordingNet)
    train(
        net, (x, t), (x, t), iterations=15, batch_size=batch, lr=0.1, rng=rng, gradient="backprop"
    )
    for epoch in range(3):
        seen = [i for b in net.batches[5 * epoch : 5 * epoch + 5] for i in ids(b, n)]
        assert set(seen) == set(range(n)), f"epoch {epoch} missed examples"


def test_with_replacement_draws_the_books_batches_from_the_run_generator():
    n, batch = 23, 5
    x, t = labelled_rows(n)
    net, rng = make_net(seed=3, cls=RecordingNet)
    after_init = rng.bit_generator.state
    train(
        net,
        (x, t),
        (x, t),
        iterations=6,
        batch_size=batch,
        lr=0.1,
        rng=rng,
        gradient="backprop",
        sampling="with_replacement",
    )
    # Independently: the book's np.random.choice(train_size, batch_size), drawn from the
    # generator as the network's initialisation left it.
    book = np.random.default_rng()
    book.bit_generator.state = after_init
    expected = [book.choice(n, batch).tolist() for _ in range(6)]
    assert [ids(b, n) for b in net.batches] == expected


@pytest.mark.parametrize("sampling", ["without_replacement", "with_replacement"])
def test_same_seed_gives_bit_identical_parameters(sampling):
    x, t = labelled_rows(20)
    results = []
    for seed in (7, 7, 8):
        net, rng = make_net(seed)
        train(
            net,
            (x, t),
            (x, t),
            iterations=9,
            batch_size=4,
            lr=0.5,
            rng=rng,
            sampling=sampling,
            gradient="backprop",
        )
        results.append(net.params)
    assert same_params(results[0], results[1])
    assert not same_params(results[0], results[2])


def test_global_random_state_is_untouched():
    x, t = labelled_rows(12)
    np.random.seed(1)  # noqa: NPY002 - the legacy global state is what is watched
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    for sampling in ("without_replacement", "with_replacement"):
        net, rng = make_net()
        train(net, (x, t), (x, t), iterations=4, batch_size=3, lr=0.1, rng=rng, sampling=sampling)
    assert np.array_equal(np.random.get_state()[1], before)  # noqa: NPY002


def test_history_records_each_iteration_and_each_epoch():
    n, batch = 23, 5
    x, t = labelled_rows(n)
    x_test, t_test = labelled_rows(7, seed=1)
    net, rng = make_net(cls=RecordingNet)
    initial = {k: v.copy() for k, v in net.params.items()}
    calls = []
    history = train(
        net,
        (x, t),
        (x_test, t_test),
        iterations=12,
        batch_size=batch,
        lr=0.3,
        rng=rng,
        gradient="backprop",
        callback=lambda i, loss, h: calls.append((i, loss)),
    )
    assert history.iterations_per_epoch == 5
    assert len(history.loss) == 12
    assert [i for i, _ in calls] == list(range(1, 13))
    assert [loss for _, loss in calls] == history.loss
    # The book records the minibatch loss after the update, on the same batch.
    last = net.batches[-1]
    assert history.loss[-1] == net.loss(last, t[ids(last, n)])
    # Evaluated before training, after every epoch and at the end (12 is mid-epoch).
    assert [e.iteration for e in history.evaluations] == [0, 5, 10, 12]
    assert [e.epoch for e in history.evaluations] == [0.0, 1.0, 2.0, 2.4]
    end = history.evaluations[-1]
    assert end.train_accuracy == net.accuracy(x, t) and end.test_accuracy == net.accuracy(
        x_test, t_test
    )
    assert end.train_loss == net.loss(x, t) and end.test_loss == net.loss(x_test, t_test)
    start = history.evaluations[0]
    reference = make_net()[0]
    assert same_params(reference.params, initial)
    assert start.test_accuracy == reference.accuracy(x_test, t_test)
    assert history.train_accuracy == [e.train_accuracy for e in history.evaluations]


def test_eval_every_and_zero_iterations():
    x, t = labelled_rows(10)
    net, rng = make_net()
    history = train(
        net,
        (x, t),
        (x, t),
        iterations=7,
        batch_size=2,
        lr=0.1,
        rng=rng,
        eval_every=3,
        gradient="backprop",
    )
    assert [e.iteration for e in history.evaluations] == [0, 3, 6, 7]
    net, rng = make_net()
    before = {k: v.copy() for k, v in net.params.items()}
    history = train(net, (x, t), (x, t), iterations=0, batch_size=2, lr=0.1, rng=rng)
    assert history.loss == [] and [e.iteration for e in history.evaluations] == [0]
    assert same_params(net.params, before)


def test_learns_the_digits_with_numerical_gradients():
    """A short numerical-gradient run on real digits moves well above chance (0.1)."""
    from refnet.datasets import load_digits

    (x, t), (x_test, t_test) = load_digits()
    net, rng = make_net(sizes=(64, 3, 10), std=0.1)
    history = train(
        net, (x[:200], t[:200]), (x_test, t_test), iterations=30, batch_size=20, lr=2.0, rng=rng
    )
    assert history.loss[-1] < history.loss[0]
    assert history.test_accuracy[-1] > 0.3


# --------------------------------------------------------------------------- numerical vs backprop


def _flat(params) -> np.ndarray:
    return np.concatenate([params[k].ravel() for k in PARAM_NAMES])


def _jacobian_norm_sq(x, W2_abs):
    """Bound on ||∂a/∂θ||₂² per sample (a = the logits), from the derivation below."""
    hidden = W2_abs.shape[0]
    return hidden + 1 + (np.sum(x**2, axis=1) + 1) * np.linalg.norm(W2_abs, 2) ** 2 * SIGMOID_D1**2


def _logit_hessian_norm(x, W2_abs):
    """Bound on max_k ||∇²_θ a_k||₂ per sample."""
    r2 = np.sum(x**2, axis=1) + 1
    return SIGMOID_D1 * np.sqrt(r2) + SIGMOID_D2 * r2 * np.max(W2_abs)


def test_numerical_and_backprop_training_agree_within_the_error_model():
    """Same seed, same batches: numerical-gradient SGD and backprop SGD end where the
    error model says they may, and no further apart.

    Derivation.  θ_k (numerical run) and φ_k (backprop run) start equal and follow
    θ_{k+1} = θ_k - lr ĝ(θ_k) and φ_{k+1} = φ_k - lr g(φ_k), where g = ∇L₀ (backprop is
    the gradient of the loss without δ) and ĝ = g + e with e = e_fd + e_δ:

    * e_fd = ĝ - ∇L_δ, the central difference's error: elementwise at most
      h² M3 / 6 + k ε S / h + ε |g| (|θ| + h) / h (refnet/conformance/tolerances.py), M3 from
      model_third_derivative_bound (for L₀; δ / y_t < 1e-2 changes it by < 1%).
    * e_δ = ∇L_δ - ∇L₀.  Per sample, ∂/∂a of -log(y_t + δ) is (y_t / (y_t + δ)) (p - e_t),
      so it differs from p - e_t by a vector of 2-norm <= (δ / y_t) √2, carried to θ by
      the Jacobian J = ∂a/∂θ of the logits a: ||e_δ|| <= √2 δ / min y_t · max ||J||₂.
      J stacks the (W2, b2) columns, [I_K ⊗ zᵀ, I_K] with z in (0, 1)^H, of norm²
      |z|² + 1 <= H + 1, and the (W1, b1) columns, W2ᵀ diag(σ') ⊗ x̃ᵀ with x̃ = (x, 1), of
      norm <= ||W2||₂ |x̃| / 4; so ||J||₂² <= H + 1 + |x̃|² ||W2||₂² / 16.

    d_k = θ_k - φ_k obeys d_{k+1} = d_k - lr (g(θ_k) - g(φ_k)) - lr e_k, so
    ||d_{k+1}|| <= (1 + lr Λ_k) ||d_k|| + lr ||e_k||, with Λ_k a bound on the Hessian of
    L₀ between φ_k and θ_k.  Per sample the Hessian is Jᵀ (diag p - ppᵀ) J + Σ_k r_k ∇²a_k
    with r = p - e_t: ||diag p - ppᵀ|| <= 1/2 (Gershgorin: 2 p_k (1 - p_k)), Σ|r_k| <= 2,
    and ∇²a_k couples W2_jk with (W1_:j, b1_j) through σ'_j x̃ (norm <= |x̃| / 4) and
    (W1_:j, b1_j) with itself through W2_jk σ''_j x̃ x̃ᵀ (norm <= max|W2| σ''max |x̃|²),
    block-diagonally in j.  So Λ = max over samples of ½ ||J||₂² + 2 max_k ||∇²a_k||₂,
    with |W2| the elementwise larger of the two runs' (it bounds every point between).

    Rounding: each run rounds its update (<= ε |θ_{k+1}| + ε lr |g| per element), and
    backprop's g errs by same_formula_bound; both are added per step.  Every bound is
    taken over all the training samples, so it holds for whichever batch was drawn.
    """
    from refnet.datasets import load_digits

    (x, t), (x_test, t_test) = load_digits()
    tiny = np.concatenate([np.flatnonzero(t == c)[:3] for c in range(10)])  # 3 per class
    x_train, t_train = x[tiny], t[tiny]
    hidden, classes, lr, steps, h, delta = 4, 10, 0.25, 4, 1e-4, 1e-7

    def run(gradient):
        net, rng = make_net(5, sizes=(64, hidden, classes), std=0.1)
        path = [{k: v.copy() for k, v in net.params.items()}]
        train(
            net,
            (x_train, t_train),
            (x_test[:20], t_test[:20]),
            iterations=steps,
            batch_size=10,
            lr=lr,
            gradient=gradient,
            rng=rng,
            callback=lambda *_: path.append({k: v.copy() for k, v in net.params.items()}),
        )
        return path

    numerical, backprop = run("numerical"), run("backprop")
    assert len(numerical) == len(backprop) == steps + 1
    problem = ModelProblem(
        x_train, np.eye(classes)[t_train], tuple(numerical[0][k].shape for k in PARAM_NAMES)
    )
    eps = EPS[np.dtype(np.float64)]
    n_params = _flat(numerical[0]).size
    bound, terms = 0.0, []
    for k in range(steps):
        theta, phi = numerical[k], backprop[k]
        flat_theta = _flat(theta)
        net = TwoLayerNet(64, hidden, classes)
        net.params = {name: theta[name].copy() for name in PARAM_NAMES}
        y_t = net.predict(x_train)[np.arange(len(t_train)), t_train]
        assert delta / y_t.min() < 1e-2  # the premise of the 1% allowance on M3
        # |g| of any batch is at most the largest |g| of one sample.
        g = np.max(
            [np.abs(_flat(net.gradient(x_train[n], t_train[n]))) for n in range(len(t_train))],
            axis=0,
        )
        m3 = 1.01 * model_third_derivative_bound("two_layer_ce", flat_theta, problem, h)
        magnitude = model_magnitude("two_layer_ce", np.abs(flat_theta) + h, problem)
        e_fd = np.linalg.norm(central_difference_bound(h, m3, magnitude, g, flat_theta))
        W2_abs = np.maximum(np.abs(theta["W2"]), np.abs(phi["W2"]))
        jac_sq = _jacobian_norm_sq(x_train, W2_abs)
        e_delta = math.sqrt(2) * delta / y_t.min() * math.sqrt(jac_sq.max())
        hessian = np.max(0.5 * jac_sq + 2 * _logit_hessian_norm(x_train, W2_abs))
        # Backprop: each entry sums <= batch·K·H products, each <= K·H in magnitude
        # (as in test_oracle_agreement, with weights and inputs <= 1).
        e_backprop = same_formula_bound(10 * classes * hidden, classes * hidden)
        e_backprop *= math.sqrt(n_params)
        updates = np.abs(_flat(numerical[k + 1])) + np.abs(_flat(backprop[k + 1]))
        rounding = eps * (np.linalg.norm(updates) + 2 * lr * np.linalg.norm(g))
        bound = (1 + lr * hessian) * bound + lr * (e_fd + e_delta + e_backprop) + rounding
        terms.append((e_fd, e_delta, hessian))

    distance = np.linalg.norm(_flat(numerical[-1]) - _flat(backprop[-1]))
    moved = np.linalg.norm(_flat(backprop[-1]) - _flat(backprop[0]))
    detail = ", ".join(f"(e_fd {a:.2g}, e_delta {b:.2g}, Λ {c:.3g})" for a, b, c in terms)
    assert distance <= bound, f"runs {distance:.3g} apart, error model allows {bound:.3g}: {detail}"
    # The bound is far below how far training moves the parameters, so a wrong gradient,
    # another batch or another step would fail this test.
    assert bound < 1e-3 * moved, f"bound {bound:.3g} too loose for motion {moved:.3g}: {detail}"


# --------------------------------------------------------------------------- interrupt and resume


def _run(
    tmp_path,
    *,
    iterations,
    sampling="without_replacement",
    gradient="backprop",
    callback=None,
    resume=None,
    cls=TwoLayerNet,
    fail_at=None,
    name="ckpt.npz",
):
    x, t = labelled_rows(23)
    x_test, t_test = labelled_rows(6, seed=1)
    extra = {"fail_at": fail_at} if cls is RecordingNet else {}
    net, rng = make_net(11, cls=cls, **extra)
    history = train(
        net,
        (x, t),
        (x_test, t_test),
        iterations=iterations,
        batch_size=5,
        lr=0.7,
        gradient=gradient,
        sampling=sampling,
        rng=rng,
        callback=callback,
        checkpoint_path=tmp_path / name,
        resume=resume,
        metadata={"seed": 11},
    )
    return net, rng, history


def _stop_at(k):
    def callback(iteration, loss, history):
        if iteration == k:
            raise KeyboardInterrupt

    return callback


@pytest.mark.parametrize("sampling", ["without_replacement", "with_replacement"])
@pytest.mark.parametrize("stop", [3, 5, 13])  # mid-epoch, an epoch boundary, late
def test_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, sampling, stop):
    reference, ref_rng, ref_history = _run(tmp_path, iterations=17, sampling=sampling, name="ref")
    with pytest.raises(TrainingInterrupted) as info:
        _run(tmp_path, iterations=17, sampling=sampling, callback=_stop_at(stop))
    assert info.value.iteration == stop
    assert f"after {stop} of 17 iterations" in str(info.value)
    saved = load_checkpoint(tmp_path / "ckpt.npz")
    assert saved.iteration == stop and len(saved.history.loss) == stop
    net, rng, history = _run(
        tmp_path, iterations=17, sampling=sampling, resume=tmp_path / "ckpt.npz"
    )
    assert same_params(net.params, reference.params)
    assert rng.bit_generator.state == ref_rng.bit_generator.state
    assert comparable(history) == comparable(ref_history)


@pytest.mark.parametrize("gradient", ["numerical", "backprop"])
@pytest.mark.parametrize("call", [1, 4, 6])
def test_interrupt_inside_the_gradient_rolls_back_the_iteration(tmp_path, gradient, call):
    """Ctrl-C during iteration `call` (after its batch was drawn) undoes that iteration."""
    with pytest.raises(TrainingInterrupted) as info:
        _run(
            tmp_path, iterations=9, gradient=gradient, cls=RecordingNet, fail_at=(call, "interrupt")
        )
    assert info.value.iteration == call - 1
    partial, partial_rng, _ = _run(tmp_path, iterations=call - 1, gradient=gradient, name="p")
    saved = load_checkpoint(tmp_path / "ckpt.npz")
    assert saved.iteration == call - 1
    assert same_params(saved.params, partial.params)
    assert saved.rng_state == partial_rng.bit_generator.state
    reference, _, ref_history = _run(tmp_path, iterations=9, gradient=gradient, name="ref")
    net, _, history = _run(tmp_path, iterations=9, gradient=gradient, resume=tmp_path / "ckpt.npz")
    assert same_params(net.params, reference.params)
    assert comparable(history) == comparable(ref_history)


def test_resume_may_extend_the_run(tmp_path):
    _run(tmp_path, iterations=8)
    longer, _, longer_history = _run(tmp_path, iterations=14, name="ref")
    net, _, history = _run(tmp_path, iterations=14, resume=tmp_path / "ckpt.npz")
    assert same_params(net.params, longer.params)
    # The shorter run also evaluated at its end (8); otherwise the histories agree.
    assert history.loss == longer_history.loss
    assert [e for e in history.evaluations if e.iteration != 8] == longer_history.evaluations


def test_resume_refuses_to_go_back(tmp_path):
    _run(tmp_path, iterations=8)
    with pytest.raises(CheckpointMismatchError, match="at iteration 8, past iterations=5"):
        _run(tmp_path, iterations=5, resume=tmp_path / "ckpt.npz")


def test_resume_refuses_another_run(tmp_path):
    _run(tmp_path, iterations=4)
    x, t = labelled_rows(23)
    x_test, t_test = labelled_rows(6, seed=1)
    path = tmp_path / "ckpt.npz"

    def resume(net=None, data=(x, t), **changes):
        net = net or make_net(11)[0]
        options = dict(
            iterations=8,
            batch_size=5,
            lr=0.7,
            gradient="backprop",
            sampling="without_replacement",
            metadata={"seed": 11},
        )
        options.update(changes)
        return train(net, data, (x_test, t_test), resume=path, **options)

    with pytest.raises(CheckpointMismatchError, match="batch_size: 5 there, 4 here"):
        resume(batch_size=4)
    with pytest.raises(CheckpointMismatchError, match="lr: 0.7 there, 0.5 here"):
        resume(lr=0.5)
    with pytest.raises(CheckpointMismatchError, match="gradient: 'backprop' there"):
        resume(gradient="numerical")
    with pytest.raises(CheckpointMismatchError, match="sampling"):
        resume(sampling="with_replacement")
    with pytest.raises(CheckpointMismatchError, match=r"W1: \[3, 4\] there, \[3, 6\] here"):
        resume(net=TwoLayerNet(3, 6, 3))
    with pytest.raises(CheckpointMismatchError, match="seed: 11 there, 12 here"):
        resume(metadata={"seed": 12})
    with pytest.raises(CheckpointMismatchError, match="data_sha256"):
        resume(data=(x + 0.0, (t + 1) % 3))
    resume()  # and the right run resumes


def test_the_last_checkpoint_is_the_end_of_the_run(tmp_path):
    _, rng, history = _run(tmp_path, iterations=7)
    saved = load_checkpoint(tmp_path / "ckpt.npz")
    assert saved.iteration == 7
    assert saved.history.loss == history.loss
    assert saved.history.evaluations == history.evaluations
    assert saved.rng_state == rng.bit_generator.state
    assert json.loads(json.dumps(saved.config)) == saved.config


# --------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("gradient", ["numerical", "backprop"])
def test_infinite_gradient_stops_with_the_last_good_parameters(tmp_path, gradient):
    with pytest.raises(TrainingDiverged) as info:
        _run(tmp_path, iterations=9, gradient=gradient, cls=RecordingNet, fail_at=(5, "inf"))
    stop = info.value
    assert stop.iteration == 4
    assert "at iteration 5 of 9" in str(stop) and "parameters after iteration 4" in str(stop)
    assert "lr=0.7" in str(stop)
    good, _, _ = _run(tmp_path, iterations=4, gradient=gradient, name="good")
    saved = load_checkpoint(tmp_path / "ckpt.npz")
    assert saved.iteration == 4 and same_params(saved.params, good.params)
    assert len(stop.history.loss) == 4


@pytest.mark.parametrize(
    "gradient, lr",
    [
        # lr·g overflows after a few steps: the parameters become infinite, the loss NaN.
        ("backprop", 1.7e308),
        # Parameters of 1e20 leave no room for h = 1e-4: the step is lost to rounding.
        ("numerical", 1e20),
    ],
)
def test_a_huge_learning_rate_diverges_with_a_clear_message(gradient, lr):
    x, t = labelled_rows(20)
    net, rng = make_net(2)
    with pytest.raises(TrainingDiverged, match="training stopped at iteration") as info:
        train(net, (x, t), (x, t), iterations=50, batch_size=5, lr=lr, rng=rng, gradient=gradient)
    assert all(np.all(np.isfinite(p)) for p in net.params.values())
    assert all(math.isfinite(v) for v in info.value.history.loss)
    if gradient == "numerical":
        assert isinstance(info.value.__cause__, StepLostError)
        assert "the parameters grew too large" in str(info.value)
    else:
        assert "the loss became nan" in str(info.value)


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    "change, error, message",
    [
        ({"batch_size": 11}, ValueError, "batch_size 11 is larger than the training set"),
        ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
        ({"iterations": -1}, ValueError, "iterations must be >= 0"),
        ({"iterations": 2.5}, TypeError, "iterations must be an integer"),
        ({"lr": 0.0}, ValueError, "lr must be > 0"),
        ({"lr": float("nan")}, ValueError, "lr must be finite"),
        ({"gradient": "forward"}, ValueError, "gradient must be one of"),
        ({"sampling": "shuffle"}, ValueError, "sampling must be one of"),
        ({"eval_every": 0}, ValueError, "eval_every must be >= 1"),
        ({"rng": "seed"}, TypeError, "rng must be a numpy.random.Generator"),
        ({"callback": 3}, TypeError, "callback must be callable"),
        (
            {"train_data": (np.zeros((10, 3)), np.zeros(9, int))},
            ValueError,
            "train_data has 10 inputs but 9 targets",
        ),
        ({"test_data": np.zeros((4, 3))}, TypeError, "test_data must be a pair"),
    ],
)
def test_bad_arguments_are_named(change, error, message):
    x, t = labelled_rows(10)
    net, rng = make_net()
    options = dict(train_data=(x, t), test_data=(x, t), iterations=3, batch_size=2, lr=0.1, rng=rng)
    options.update(change)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(error, match=message):
        train(net, options.pop("train_data"), options.pop("test_data"), **options)
    assert same_params(net.params, before)
