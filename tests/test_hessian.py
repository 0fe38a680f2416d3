"""Tests of lmsbn.bridge.hessian: the full loss Hessian by differences of the exact gradient."""

import numpy as np
import pytest

from lmsbn import bridge
from lmsbn.bridge import gn_explicit, gn_matvec, hessian_lambda_max, hessian_matvec
from lmsbn.bridge.regressors import _BatchNormSnapshot
from lmsbn.nn import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    GlobalAvgPool2d,
    Linear,
    ReLU,
    Sequential,
    small_cnn,
)
from lmsbn.train.loop import _loss_fn


def _mlp(bn, seed):
    layers = [Linear(4, 6, rng=seed, bias=not bn)]
    if bn:
        layers.append(BatchNorm1d(6, gamma=1.5))
    return Sequential(*layers, ReLU(), Linear(6, 3, rng=seed + 1))


def _bn_cnn(seed=0):
    return Sequential(Conv2d(2, 3, 3, padding=1, rng=seed, bias=False), BatchNorm2d(3), ReLU(),
                      GlobalAvgPool2d(), Linear(3, 4, rng=seed + 1))


def _explicit(model, X, y, loss="cross_entropy"):
    """H column by column from the operator (P products)."""
    return np.column_stack([hessian_matvec(model, X, y, e, loss=loss)
                            for e in np.eye(model.num_parameters())])


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_hessian_equals_gauss_newton_for_a_linear_model(loss):
    """A model linear in its parameters has d^2 f / d theta^2 = 0, so H = G exactly.

    The gradient is then linear in theta, so the central difference has no truncation error,
    only rounding (u |g| / h ~ 1e-10 relative at the default step; measured 2e-11): 1e-7.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 5))
    y = rng.standard_normal((20, 3)) if loss == "mse" else rng.integers(0, 3, 20)
    model = Sequential(Linear(5, 3, rng=0))
    G = gn_explicit(model, X, loss=loss)
    v = rng.standard_normal(model.num_parameters())
    np.testing.assert_allclose(hessian_matvec(model, X, y, v, loss=loss), G @ v,
                               rtol=1e-7, atol=1e-7 * np.abs(G @ v).max())
    np.testing.assert_allclose(_explicit(model, X, y, loss), G, atol=1e-7 * np.abs(G).max())


def test_batchnorm_scale_invariance_gives_curvature_that_gauss_newton_misses():
    """f(c w) = f(w) for the conv weight w before BatchNorm, so (module notes)
    G [w; 0] = 0 but H [w; 0] = [-grad_w L; 0]: an exact identity the difference must reproduce.

    BatchNorm's eps (1e-5 added to the variance) breaks the invariance by about eps / var, and
    the difference adds ~1e-9: 1e-3 of |grad_w| covers both (measured 2e-5).
    """
    rng = np.random.default_rng(0)
    model = _bn_cnn()
    X, y = rng.standard_normal((8, 2, 5, 5)), rng.integers(0, 4, 8)
    nw = model["conv1"].params["weight"].size
    v = np.zeros(model.num_parameters())
    v[:nw] = model["conv1"].params["weight"].ravel()
    with _BatchNormSnapshot(model):
        _, dout = _loss_fn("cross_entropy")(model.forward(X, train=True), y)
        model.backward(dout)
    g = np.concatenate([gr.ravel() for _, _, gr in model.named_parameters()])
    hv, gv = hessian_matvec(model, X, y, v), gn_matvec(model, X, v)
    scale = np.abs(g[:nw]).max()
    np.testing.assert_allclose(hv[:nw], -g[:nw], atol=1e-3 * scale)
    np.testing.assert_allclose(hv[nw:], 0.0, atol=1e-3 * scale)
    # G sees (almost) nothing along w, H sees the gradient: they differ measurably
    assert np.linalg.norm(hv) > 100 * np.linalg.norm(gv)


def test_quadratic_form_matches_a_second_difference_of_the_loss():
    """u'Hu against (L(theta + h u) - 2 L(theta) + L(theta - h u)) / h^2 from forward passes only
    (independent of every backward pass). That quotient's error is O(h^2) plus rounding
    u L / h^2 ~ 1e-8 at h = 1e-4; measured agreement 6e-5 relative, hence 1e-3."""
    rng = np.random.default_rng(1)
    model = _bn_cnn(seed=2)
    X, y = rng.standard_normal((8, 2, 5, 5)), rng.integers(0, 4, 8)
    theta, u = model.parameters_vector(), rng.standard_normal(model.num_parameters())
    u /= np.linalg.norm(u)

    def loss(t):
        model.set_parameters_vector(t)
        return _loss_fn("cross_entropy")(model.forward(X, train=True), y)[0]

    with _BatchNormSnapshot(model):
        h = 1e-4
        second = (loss(theta + h * u) - 2 * loss(theta) + loss(theta - h * u)) / h**2
        model.set_parameters_vector(theta)
    np.testing.assert_allclose(u @ hessian_matvec(model, X, y, u), second, rtol=1e-3)


def test_products_are_symmetric_on_a_relu_batchnorm_network():
    """w'Hu = u'Hw on small_cnn with BatchNorm, ReLU and max-pooling, at a step of 1e-5 (ten
    times the default). Without the kink check that step crosses kinks and the two differ by
    67 %; with it they agree to 1e-9 (rounding of two independent differences): rtol 1e-6."""
    from lmsbn.data import shapes

    X, y = shapes(32, rng=0)
    model = small_cnn(3, 10, (2, 4, 4), "full", rng=0)
    rng = np.random.default_rng(1)
    u, w = rng.standard_normal((2, model.num_parameters()))
    np.testing.assert_allclose(w @ hessian_matvec(model, X, y, u, fd_step=1e-5),
                               u @ hessian_matvec(model, X, y, w, fd_step=1e-5), rtol=1e-6)


def test_lambda_max_is_the_most_positive_eigenvalue_even_when_a_negative_one_dominates():
    """BatchNorm MLP, MSE on large targets (seed 5): the most negative eigenvalue of H is larger
    in magnitude than the most positive, so plain power iteration would return the negative one.
    Tolerances: power iteration to tol 1e-9 against eigvalsh of the explicit matrix, 1e-4."""
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((16, 4)), 30 * rng.standard_normal((16, 3))
    model = _mlp(True, 5)
    H = _explicit(model, X, y, "mse")
    ev = np.linalg.eigvalsh((H + H.T) / 2)
    assert -ev[0] > 1.5 * ev[-1] > 0  # the premise: a negative eigenvalue dominates
    est = hessian_lambda_max(model, X, y, loss="mse", iters=2000, tol=1e-9, rng=0)
    np.testing.assert_allclose(est.lambda_max, ev[-1], rtol=1e-4)
    np.testing.assert_allclose(est.lambda_abs, ev[0], rtol=1e-4)
    assert est.shift > 0 and est.converged
    # the reported vector is its Rayleigh quotient's (a lower bound, reached)
    v = est.vector
    np.testing.assert_allclose(v @ hessian_matvec(model, X, y, v, loss="mse"), est.lambda_max,
                               rtol=1e-6)


def test_lambda_max_with_a_positive_dominant_eigenvalue_and_model_untouched():
    """small_cnn without BN: the positive end dominates, one phase is enough; the estimate is a
    lower bound within 1e-3 of eigvalsh (power iteration to tol 1e-8). The model's parameters,
    gradients and BatchNorm statistics are unchanged afterwards (bit-identical: copied back)."""
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((16, 4)), rng.integers(0, 3, 16)
    model = _mlp(False, 2)
    ev = np.linalg.eigvalsh(_explicit(model, X, y))
    assert ev[-1] > -ev[0]
    before = [(p.copy(), g.copy()) for _, p, g in model.named_parameters()]
    est = hessian_lambda_max(model, X, y, iters=500, tol=1e-8, rng=0)
    assert est.shift == 0 and est.converged
    assert est.lambda_max <= ev[-1] * (1 + 1e-6)
    np.testing.assert_allclose(est.lambda_max, ev[-1], rtol=1e-3)
    for (p0, g0), (_, p, g) in zip(before, model.named_parameters()):
        np.testing.assert_array_equal(p, p0)
        np.testing.assert_array_equal(g, g0)
    bn = _mlp(True, 2)
    state = bn["bn1"].state.running_mean.copy()
    hessian_lambda_max(bn, X, y, iters=3, rng=0)
    np.testing.assert_array_equal(bn["bn1"].state.running_mean, state)
    assert "Hessian lambda_max" in est.summary()


def test_hessian_bad_input():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    model = _mlp(False, 0)
    with pytest.raises(ValueError, match="v must have"):
        hessian_matvec(model, X, y, np.ones(3))
    with pytest.raises(ValueError, match="loss"):
        hessian_matvec(model, X, y, np.ones(model.num_parameters()), loss="gaussian")
    with pytest.raises(ValueError, match="labels"):
        hessian_lambda_max(model, X, y[:5])
    with pytest.raises(ValueError, match="v0"):
        hessian_lambda_max(model, X, y, v0=np.zeros(model.num_parameters()))
    with pytest.raises(ValueError, match="fd_step"):
        hessian_lambda_max(model, X, y, fd_step=-1.0)
    assert bridge.hessian_lambda_max is hessian_lambda_max
