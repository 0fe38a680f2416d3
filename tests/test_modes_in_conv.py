"""Natural modes inside a conv layer: the exact case to round-off, and the measured decay tools."""

import numpy as np
import pytest

from lmsbn.bridge import (
    ModeDecay,
    ModeTracker,
    exact_layer_modes,
    gauss_newton_block,
    lms_step_size,
    mode_decay,
    regressors,
)
from lmsbn.data import shapes
from lmsbn.nn import BatchNorm2d, Conv1d, Conv2d, Flatten, Linear, ReLU, Sequential
from lmsbn.spectral import Spectrum
from lmsbn.train import train


def _teacher_and_student(kind, bias):
    rng = np.random.default_rng(0)
    if kind == "conv2d":
        X, _ = shapes(12, size=8, rng=0)   # coloured images: R has a wide eigenvalue spread
        make = lambda seed, b: Conv2d(3, 4, 3, padding=1, bias=b, rng=seed)  # noqa: E731
    elif kind == "conv1d":
        X = np.cumsum(rng.normal(size=(10, 2, 30)), axis=-1) / 5    # random walks: coloured
        make = lambda seed, b: Conv1d(2, 3, 4, bias=b, rng=seed)  # noqa: E731
    else:
        X = rng.normal(size=(40, 6)) * np.linspace(0.3, 2, 6)
        make = lambda seed, b: Linear(6, 2, bias=b, rng=seed)  # noqa: E731
    teacher = make(1, True)
    teacher.params["bias"][:] = rng.normal(size=teacher.params["bias"].shape)
    return X, teacher.forward(X), make(2, bias)


def _lr_for(student, X, bias, mu_lambda_max):
    U = regressors(student, X)
    if bias:
        U = np.concatenate([U, np.ones((U.shape[0], 1))], axis=1)
    lambda_max = Spectrum.from_regressors(U).lambda_max
    return mu_lambda_max * student.params["weight"].shape[0] / lambda_max


@pytest.mark.parametrize("kind", ["conv2d", "conv1d", "linear"])
@pytest.mark.parametrize("bias", [True, False])
def test_single_layer_modes_decay_exactly_as_lms_in_train_units(kind, bias):
    X, target, student = _teacher_and_student(kind, bias)
    # mu * lambda_max = 1.5: the top mode over-steps and flips sign each step, the slow modes
    # creep -- every regime of (1 - mu lambda)^n in one run.
    lr = _lr_for(student, X, bias, 1.5)
    res = exact_layer_modes(student, X, target, lr, 30, rng=0)
    assert res.mu == lr / student.params["weight"].shape[0] == lms_step_size(student, lr)
    assert res.measured.shape == res.predicted.shape == (student.params["weight"].shape[0], 31,
                                                          res.eigenvalues.size)
    # Deterministic block LMS: only the summation order differs from the formula (the loop
    # reshuffles the full batch), so round-off relative to ||v(0)|| stays far below 1e-6
    # (~1e-14 seen).
    assert res.relative_error() < 1e-6
    # Per entry, where the prediction is not yet at round-off level.
    scale = np.linalg.norm(res.measured[:, :1], axis=-1, keepdims=True)
    big = np.abs(res.predicted) > 1e-3 * scale
    assert big.sum() > res.measured.shape[0] * res.eigenvalues.size   # beyond step 0
    rel = np.abs(res.measured - res.predicted)[big] / np.abs(res.predicted)[big]
    assert rel.max() < 1e-6
    # The test has power: without the 1/F conversion (mu = lr) the prediction is far off.
    from lmsbn.spectral import predicted_modes

    wrong = predicted_modes(res.measured[:, 0], Spectrum.from_matrix(np.diag(res.eigenvalues)),
                            lr, 30)
    assert np.max(np.abs(res.measured - wrong) / scale) > 1e-2


def test_exact_and_gauss_newton_results_round_trip(tmp_path):
    from lmsbn.bridge import ExactLayerModes, GaussNewtonBlock

    X, target, student = _teacher_and_student("linear", True)
    res = exact_layer_modes(student, X, target, 0.1, 3, rng=0)
    back = ExactLayerModes.load(res.save(tmp_path / "exact"))
    assert (back.lr, back.mu, back.bias) == (res.lr, res.mu, res.bias)
    assert np.array_equal(back.measured, res.measured)
    net = Sequential(Linear(6, 3, rng=0), ReLU(), Linear(3, 2, rng=1))
    gn = gauss_newton_block(net, X, "fc1", k=2, iters=3, rng=0)
    back = GaussNewtonBlock.load(gn.save(tmp_path / "gn"))
    assert back.layer == "fc1" and np.array_equal(back.eigenvectors, gn.eigenvectors)
    with pytest.raises(ValueError, match="lmsbn.bridge.layer_modes.GaussNewtonBlock"):
        ExactLayerModes.load(tmp_path / "gn.npz")


def test_lms_step_size_rejects_bad_input():
    with pytest.raises(TypeError, match="layer"):
        lms_step_size(ReLU(), 0.1)
    with pytest.raises(ValueError, match="lr"):
        lms_step_size(Linear(3, 2, rng=0), -1.0)
    X, target, student = _teacher_and_student("linear", True)
    with pytest.raises(ValueError, match="target"):
        exact_layer_modes(student, X, target[:, :1], 0.1, 3)


def _explicit_gauss_newton(model, x, y, layer, loss):
    out = model.forward(x, train=True)
    rows = []
    for idx in np.ndindex(out.shape):
        d = np.zeros_like(out)
        d[idx] = 1.0
        model.backward(d)
        rows.append(model[layer].grads["weight"].ravel().copy())
    J = np.array(rows)                                     # (N C, P)
    if loss == "mse":
        return J.T @ J / out.size
    z = np.exp(out - out.max(axis=1, keepdims=True))
    p = z / z.sum(axis=1, keepdims=True)
    H = np.zeros((out.size, out.size))
    C = out.shape[1]
    for n in range(out.shape[0]):
        block = slice(n * C, (n + 1) * C)
        H[block, block] = (np.diag(p[n]) - np.outer(p[n], p[n])) / out.shape[0]
    return J.T @ H @ J


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gauss_newton_block_matches_the_explicit_matrix(loss):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 2, 5, 5))
    net = Sequential(Conv2d(2, 3, 3, rng=0), BatchNorm2d(3), ReLU(), Flatten(),
                     Linear(27, 4, rng=1))
    y = rng.normal(size=(6, 4)) if loss == "mse" else rng.integers(0, 4, size=6)
    state = net["bn1"].state.copy()
    gn = gauss_newton_block(net, x, "conv1", loss=loss, k=3, iters=120, rng=0)
    assert np.array_equal(net["bn1"].state.running_mean, state.running_mean)  # model untouched
    G = _explicit_gauss_newton(net, x, y, "conv1", loss)
    lam, Q = np.linalg.eigh(G)
    # Central differences leave O(h^2) ~ 1e-8 relative error; the subspace iteration converges
    # at the rate lambda_4/lambda_k per step (0.80 and 0.77 here), so 120 steps reach ~1e-11.
    np.testing.assert_allclose(gn.eigenvalues, lam[::-1][:3], rtol=1e-6)
    overlap = np.abs(np.sum(gn.eigenvectors * Q[:, ::-1][:, :3], axis=0))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-5)
    assert np.all(gn.residual < 1e-5)
    with pytest.raises(ValueError, match="layer"):
        gauss_newton_block(net, x, "bn1", loss=loss)
    with pytest.raises(ValueError, match="k must"):
        gauss_newton_block(net, x, "conv1", loss=loss, k=1000)


def test_mode_decay_recovers_the_exact_case_factors_through_the_tracker():
    X, target, student = _teacher_and_student("conv2d", False)
    lr = _lr_for(student, X, False, 0.8)
    tracker = ModeTracker(every=1, max_rows=10**6, rng=0)
    train(Sequential(student), X, target, loss="mse", steps=12, lr=lr, batch_size=X.shape[0],
          callbacks=[tracker], rng=0)
    decay = tracker.mode_decay("conv1", mu=lms_step_size(student, lr), top=5)
    assert isinstance(decay, ModeDecay) and decay.basis == "R" and decay.every == 1
    # The moves between records shrink by exactly 1 - mu lambda: round-off only.
    np.testing.assert_allclose(decay.measured_factor, decay.predicted_factor, rtol=1e-6)
    np.testing.assert_allclose(decay.tau_ratio, 1.0, rtol=1e-5)
    # Without the unit conversion the R prediction misses by the factor F = 4 in mu.
    unit = tracker.mode_decay("conv1", top=5)
    assert np.all(np.abs(unit.measured_factor - unit.predicted_factor) > 1e-2)
    assert "tau pred" in decay.summary()
    with pytest.raises(ValueError, match="recorded layer"):
        tracker.mode_decay("fc9")


def test_mode_decay_shapes_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    # A synthetic trajectory with known factors along a random basis of the whole weight array.
    Q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    r = np.array([0.5, -0.3, 0.9, 0.0, 0.0, 0.0])
    v = (r[None, :] ** np.arange(8)[:, None]) * rng.normal(size=6)
    W = (v @ Q.T).reshape(8, 2, 3)
    d = mode_decay(W, np.ones(3), Q[:, :3], 0.5, layer="x", basis="gauss_newton")
    np.testing.assert_allclose(d.measured_factor, r[:3], atol=1e-12)
    np.testing.assert_allclose(d.predicted_factor, 0.5)
    assert d.tau_measured[2] > d.tau_measured[0]
    back = ModeDecay.load(d.save(tmp_path / "decay"))
    assert back.layer == "x" and np.array_equal(back.measured_factor, d.measured_factor)
    with pytest.raises(ValueError, match="eigenvectors"):
        mode_decay(W, np.ones(3), Q[:4, :3], 0.5)
    with pytest.raises(ValueError, match="3 records"):
        mode_decay(W[:2], np.ones(3), Q[:, :3], 0.5)


def test_plot_mode_decay_draws_every_finite_mode():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lmsbn.plot import plot_mode_decay

    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.normal(size=(6, 6)))[0]
    r = np.array([0.5, -0.3, 0.9, 0.2, 0.1, 0.0])
    v = (r[None, :] ** np.arange(8)[:, None]) * rng.normal(size=6)
    W = (v @ Q.T).reshape(8, 2, 3)
    a = mode_decay(W, np.array([1.0, 0.5, 0.1]), Q[:, :3], 0.5, basis="gauss_newton")
    b = mode_decay(W, np.array([5.0, 1.0, 0.2]), Q[:, :3], 0.5, basis="R")   # mode 1 unstable
    assert np.isinf(b.tau_predicted[0])
    ax = plot_mode_decay([a, b])
    assert [len(c.get_offsets()) for c in ax.collections] == [3, 2]   # infinite taus left out
    np.testing.assert_allclose(ax.collections[0].get_offsets()[0],
                               [a.tau_predicted[0], a.tau_measured[0]])
    assert ax.get_xscale() == "log" and "not drawn" in ax.get_legend().get_texts()[1].get_text()
    with pytest.raises(TypeError, match="ModeDecay"):
        plot_mode_decay([1, 2])
    plt.close("all")
